"""Continuous-batching simulation on the Azure traces."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from suanli.errors import InfeasibleError, InputError
from suanli.infer.estimate import deployment, estimate
from suanli.infer.simulate import simulate
from suanli.infer.trace import Request, load_azure_trace, synthetic_requests


def test_trace_loader(conv_trace: Path, code_trace: Path) -> None:
    conv = load_azure_trace(conv_trace)
    assert len(conv) == 19_366
    assert conv[0].arrival_s == 0.0
    assert all(a.arrival_s <= b.arrival_s for a, b in itertools.pairwise(conv))
    assert 3000 < conv[-1].arrival_s < 4000  # about an hour
    code = load_azure_trace(code_trace, limit=100, rate_scale=2.0)
    assert len(code) == 100 and min(r.output for r in code) >= 1


def test_trace_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_azure_trace(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="lacks columns"):
        load_azure_trace(bad)


def test_single_request_matches_the_analytic_estimate() -> None:
    dep = deployment("llama2-7b", "dgx-h100", precision="fp8")
    res = simulate(dep, [Request(0, 0.0, 1000, 200)], chunk_tokens=8192)
    e = estimate(dep, prompt_len=1000, output_len=200, batch=1)
    overhead = e.ttft_s - res.ttft_s[0]  # the estimate adds the fixed per-request overhead
    assert overhead == pytest.approx(dep_overhead(dep), rel=1e-6)
    assert res.tpot_s[0] == pytest.approx(e.tpot_s, rel=0.02)


def dep_overhead(dep: object) -> float:
    from suanli.infer.efficiency import efficiency_for

    return efficiency_for(dep.accelerator.family).request_overhead(dep.stack.id)  # type: ignore[attr-defined]


def test_replay_conserves_tokens_and_more_replicas_help(conv_trace: Path) -> None:
    reqs = load_azure_trace(conv_trace, limit=3000, rate_scale=8.0)
    dep = deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8")
    one = simulate(dep, reqs, replicas=1)
    two = simulate(dep, reqs, replicas=2)
    for res in (one, two):
        s = res.summary
        assert s["requests"] == 3000
        assert all(t > 0 for t in res.ttft_s) and all(e >= t for e, t in
                                                      zip(res.e2e_s, res.ttft_s, strict=True))
        assert s["output_tokens_per_s"] * s["makespan_s"] == pytest.approx(
            sum(r.output for r in reqs))
        assert 0 < s["utilization"] <= 1.0 + 1e-9
    assert two.summary["ttft_p99_s"] <= one.summary["ttft_p99_s"]
    # end-to-end latency falls with more replicas; TPOT alone need not (a full replica stops
    # admitting prompts and runs pure decode steps, which are shorter than mixed ones)
    assert two.summary["e2e_p50_s"] <= one.summary["e2e_p50_s"]
    assert two.summary["queue_mean_s"] <= one.summary["queue_mean_s"]


def test_kv_too_small_for_a_request() -> None:
    dep = deployment("llama2-70b", "dgx-h100", tp=2)
    with pytest.raises(InfeasibleError, match="KV cache"):
        simulate(dep, [Request(0, 0.0, 2_000_000, 10)])


def test_synthetic_requests_rate() -> None:
    reqs = synthetic_requests(20.0, 500.0, [100, 200], [10, 20], seed=1)
    assert abs(len(reqs) - 10_000) < 400  # Poisson, 4 sigma
    assert not math.isnan(reqs[-1].arrival_s)
