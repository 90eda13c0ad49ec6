"""Cost waterfall laws and the two cost claims."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from suanli.infer.claims import api_vs_selfhosted, latency_cost_claim, usd_per_token
from suanli.infer.waterfall import cheapest_market_price, cost_waterfall, plot_waterfall


@pytest.fixture(scope="module")
def wf():  # type: ignore[no-untyped-def]
    return cost_waterfall("llama2-70b", prompt_len=1000, output_len=200,
                          site_price_usd_per_device_hour=2.0, utilization_baseline=0.2,
                          utilization=0.8)


def test_factors_multiply_into_the_total(wf) -> None:  # type: ignore[no-untyped-def]
    assert [s.layer for s in wf.steps] == ["baseline", "hardware", "precision & sparsity",
                                           "batching & scheduling", "utilization",
                                           "site price & power"]
    assert math.prod(s.factor for s in wf.steps) == pytest.approx(wf.total_factor)
    assert wf.total_factor == pytest.approx(wf.steps[0].usd_per_million_output_tokens
                                            / wf.steps[-1].usd_per_million_output_tokens)


def test_input_layers_are_exact_ratios(wf) -> None:  # type: ignore[no-untyped-def]
    by = {s.layer: s for s in wf.steps}
    assert by["utilization"].factor == pytest.approx(0.8 / 0.2)
    assert by["site price & power"].factor == pytest.approx(6.88 / 2.0)  # H100 list / site
    assert by["batching & scheduling"].factor > 10  # batching is the big lever


def test_plot(wf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "w.svg"
    plot_waterfall(wf, out)
    assert out.read_text().lstrip().startswith("<?xml")


def test_market_price(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("InstanceType,AcceleratorName,AcceleratorCount,Price\n"
                                    "a,H100,8,16.0\nb,H100,1,2.5\nc,A100-80GB,1,1.0\n")
    assert cheapest_market_price("H100", tmp_path) == (2.0, "x.csv:a")


def test_latency_claim() -> None:
    # the claim itself: 200 tokens in 3 s instead of 5 s at the same price and devices
    assert usd_per_token(3, 200, 1, 4.0) / usd_per_token(5, 200, 1, 4.0) == pytest.approx(0.6)
    c = latency_cost_claim()
    assert c.cost_ratio == pytest.approx(c.fast_s / c.slow_s)
    assert 0 < c.saving < 1


def test_api_vs_selfhosted_orders_of_magnitude() -> None:
    rows = api_vs_selfhosted(utilizations=(1.0, 0.1))
    assert {(r.model, r.hardware) for r in rows} >= {("llama2-7b", "dgx-h100"),
                                                     ("llama2-70b", "dgx-a100-80gb")}
    for r in rows:
        assert r.orders_of_magnitude_below_api == pytest.approx(
            math.log10(0.05 / r.usd_per_1k_tokens))
    full = {(r.model, r.hardware): r for r in rows if r.utilization == 1.0}
    assert full[("llama2-7b", "dgx-h100")].usd_per_1k_tokens < \
        full[("llama2-70b", "dgx-h100")].usd_per_1k_tokens
