"""Disaggregated prefill / decode pools (suanli.infer.disagg)."""

from __future__ import annotations

import pytest

from suanli.errors import InfeasibleError, InputError
from suanli.infer.disagg import (
    DisaggSpec,
    decode_rate,
    kv_transfer_s,
    mtp_draft_model,
    parse_disagg,
    prefill_rate,
    size_pools,
)
from suanli.infer.estimate import deployment, step_model


@pytest.fixture(scope="module")
def pools() -> tuple:
    mk = lambda n: deployment("deepseek-v3", "hgx-h800", precision="fp8-kv16",  # noqa: E731
                              attn_dp=True, nodes=n)
    return mk(4), mk(18)


def test_parse_disagg() -> None:
    assert parse_disagg("4P:18D") == DisaggSpec(4, 18) == parse_disagg("4:18")
    for bad in ("4", "0P:2D", "P:D", ""):
        with pytest.raises(InputError, match="4P:18D"):
            parse_disagg(bad)


def test_prefix_hits_raise_input_throughput(pools: tuple) -> None:
    pre, _ = pools
    rates = [prefill_rate(pre, 2000, h).input_tokens_per_s for h in (0.0, 0.3, 0.6, 0.9)]
    assert rates == sorted(rates) and rates[-1] > 3 * rates[0]
    with pytest.raises(InputError):
        prefill_rate(pre, 2000, 1.0)


def test_decode_meets_the_speed_and_faster_users_cost_throughput(pools: tuple) -> None:
    _, dec = pools
    slow = decode_rate(dec, 2275, tokens_per_user=10)
    fast = decode_rate(dec, 2275, tokens_per_user=40)
    assert fast.tokens_per_user_per_s >= 40 and slow.tokens_per_user_per_s >= 10
    assert fast.batch < slow.batch and fast.output_tokens_per_s < slow.output_tokens_per_s
    mtp = decode_rate(dec, 2275, tokens_per_user=20, mtp_accept=0.85)
    assert mtp.output_tokens_per_s > decode_rate(dec, 2275, tokens_per_user=20).output_tokens_per_s
    with pytest.raises(InfeasibleError, match="per user"):
        decode_rate(dec, 2275, tokens_per_user=1e5)


def test_kv_transfer_scales_with_the_prompt(pools: tuple) -> None:
    pre, _ = pools
    a, b = kv_transfer_s(pre, 1000), kv_transfer_s(pre, 2000)
    alpha = pre.system.scale_out_latency_us * 1e-6
    assert b - alpha == pytest.approx(2 * (a - alpha))


def test_pools_cover_the_traffic_and_cost_is_nodes_times_price(pools: tuple) -> None:
    pre, dec = pools
    p = size_pools(pre, dec, prompt=2000, output=500, requests_per_s=2000, prefix_hit=0.5,
                   tokens_per_user=20, price_usd_per_device_hour=2.0)
    assert p.prefill_units * p.prefill.input_tokens_per_s >= 2000 * 2000
    assert p.decode_units * p.decode.output_tokens_per_s >= 2000 * 500
    assert p.nodes == 4 * p.prefill_units + 18 * p.decode_units
    assert p.usd_per_day == pytest.approx(p.nodes * 8 * 2.0 * 24)


def test_mtp_reads_each_cache_once_and_pays_for_its_draft(pools: tuple) -> None:
    """MTP verification: both query tokens of a sequence share one read of its cache
    (FlashMLA reads ``2 s_k d_k`` bytes per request whatever ``s_q``); the FLOPs count both.
    The draft comes from one more MoE layer (DeepSeek-V3 sec. 2.2), charged every step."""
    _, dec = pools
    sm = step_model(dec)
    b, ctx = 100 * dec.tp, 4989.0
    one = {o.name: o for o in sm.ops(2 * b, b, 2 * b * ctx, 2 * b * ctx, kv_share=2.0)}
    two = {o.name: o for o in sm.ops(2 * b, b, 2 * b * ctx, 2 * b * ctx)}
    new = sm.kv_bytes_tok * 2 * b  # the new tokens' cache writes
    assert one["attention"].flops == two["attention"].flops
    assert one["attention"].bytes - new == pytest.approx((two["attention"].bytes - new) / 2)
    draft = mtp_draft_model(dec)
    assert draft is not None and draft.model.layers == 1 and draft.n_moe_per_device == 1
    assert draft.expert_w == sm.expert_w and draft.ep == sm.ep
    rate = decode_rate(dec, ctx, tokens_per_user=20, mtp_accept=0.85)
    b = rate.batch
    verify = sm.time(2 * b, b, 2 * b * ctx, 2 * b * ctx, kv_share=2.0)
    assert rate.step_s == pytest.approx(verify + draft.time(b, b, b * ctx, b * ctx), rel=1e-12)
    assert mtp_draft_model(deployment("llama3-8b", "hgx-h800")) is None
