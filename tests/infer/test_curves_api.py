"""Curves, SLO search and the narrow serving_quote API."""

from __future__ import annotations

import pytest

from suanli.errors import InfeasibleError
from suanli.infer.api import ServingQuote, serving_quote
from suanli.infer.curves import best_under_slo, max_load, sweep
from suanli.infer.estimate import deployment


def test_curve_trades_latency_for_throughput() -> None:
    pts = sweep(deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8"), prompt_len=512,
                output_len=256)
    assert len(pts) >= 5
    tpots = [p.tpot_s for p in pts]
    assert tpots == sorted(tpots)
    assert pts[-1].output_tokens_per_s > 20 * pts[0].output_tokens_per_s


def test_slo_search_meets_limits_and_tighter_limits_cost_throughput() -> None:
    dep = deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8")
    loose = best_under_slo(dep, prompt_len=512, output_len=256, tpot_slo_s=0.1)
    tight = best_under_slo(dep, prompt_len=512, output_len=256, tpot_slo_s=0.03)
    assert loose and tight
    assert tight.tpot_continuous_s <= 0.03 and loose.tpot_continuous_s <= 0.1
    assert tight.output_tokens_per_s <= loose.output_tokens_per_s
    best = max_load(dep, prompt_len=512, output_len=256)
    assert best.output_tokens_per_s >= loose.output_tokens_per_s


def test_serving_quote_fields_and_replicas() -> None:
    q = serving_quote("llama3-70b", "H100", prompt_len=1000, output_len=200, ttft_slo_s=1.0,
                      tpot_slo_s=0.05, precision="fp8", traffic_output_tokens_per_s=50_000)
    assert isinstance(q, ServingQuote) and q.fits
    assert q.ttft_s <= 1.0 and q.tpot_s <= 0.05
    assert q.replicas * q.output_tokens_per_s_per_replica >= 50_000
    assert (q.replicas - 1) * q.output_tokens_per_s_per_replica < 50_000
    assert q.devices_total == q.replicas * q.devices_per_replica
    assert q.usd_per_million_output_tokens is not None and q.power_w_per_device > 700
    one = serving_quote("llama3-8b", "H100", prompt_len=100, output_len=100)
    assert one.replicas == 1 and one.tp == 1


def test_serving_quote_impossible_slo() -> None:
    with pytest.raises(InfeasibleError, match="relax"):
        serving_quote("llama3-70b", "H100", prompt_len=1000, output_len=200, tpot_slo_s=1e-5)


def test_moe_quote_uses_all_expert_memory() -> None:
    # DeepSeek-V3 (671B total, 37B active) at FP8 cannot fit on fewer than 8 H200s
    q = serving_quote("deepseek-v3", "H200", prompt_len=1000, output_len=200, precision="fp8")
    assert q.devices_per_replica == 8


def test_quote_goes_multi_node_only_when_one_node_cannot_serve() -> None:
    from suanli.infer.api import serving_quote

    q = serving_quote("deepseek-v3", "hgx-h800", prompt_len=2000, output_len=500,
                      ttft_slo_s=5, tpot_slo_s=0.1, precision="fp8",
                      price_usd_per_device_hour=2.0)
    assert q.nodes >= 2 and q.attn_dp and q.ep == q.devices_per_replica
    small = serving_quote("llama3-8b", "H100", prompt_len=1000, output_len=200,
                          ttft_slo_s=1.0, tpot_slo_s=0.05, precision="fp8")
    assert small.nodes == 1 and not small.attn_dp
