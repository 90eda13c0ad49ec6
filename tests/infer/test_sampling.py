"""Bounded-sample verification: the Wilson interval, the sample's size and load, and a plan at
ChatGPT-scale traffic that simulates a bounded number of requests."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.infer.sampling import attainment, sample_for, wilson


@given(st.integers(1, 100_000), st.data())
def test_wilson_contains_the_estimate_and_narrows_with_n(n: int, data: st.DataObject) -> None:
    m = data.draw(st.integers(0, n))
    lo, hi = wilson(m, n)
    assert 0.0 <= lo <= m / n <= hi <= 1.0
    lo4, hi4 = wilson(4 * m, 4 * n)
    assert hi4 - lo4 <= hi - lo + 1e-12


def test_wilson_known_value() -> None:
    # 990 of 1000: Wilson 95% interval (0.9817, 0.9946) (Brown, Cai & DasGupta 2001, eq. 4)
    lo, hi = wilson(990, 1000)
    assert lo == pytest.approx(0.9817, abs=2e-4) and hi == pytest.approx(0.9946, abs=2e-4)


@pytest.mark.parametrize(("rps", "replicas"), [(5.0, 1), (1e5, 8000), (300.0, 40)])
def test_sample_keeps_per_replica_load_and_bounds_requests(rps: float, replicas: int) -> None:
    s = sample_for(rps, replicas, 300.0, 2000, (1000,), (200,), seed=1)
    assert 1 <= s.replicas <= replicas
    assert len(s.requests) <= 2000 * 1.2  # Poisson around the bound
    # per simulated replica, the arrival rate equals the plan's per-replica rate
    rate = len(s.requests) / s.duration_s / s.replicas
    assert rate == pytest.approx(rps / replicas, rel=0.15)


def test_a_trace_is_thinned_to_the_replicas_share() -> None:
    from suanli.infer.trace import Request

    trace = tuple(Request(i, i * 0.01, 100, 20) for i in range(20_000))  # 100 req/s, 200 s
    s = sample_for(100.0, 20, 300.0, 4000, (), (), seed=3, trace=trace)
    # 4,000 of 20,000 requests stand for 4 of the 20 replicas
    assert s.replicas == 4 and 3500 < len(s.requests) <= 4000
    assert all(r in trace for r in s.requests[:50])


def test_window_is_long_enough_for_a_steady_state() -> None:
    # a busy replica (200 requests/s) gets a 60 s window, not n_max / rate = 10 s
    s = sample_for(200.0, 1, 300.0, 2000, (100,), (50,), seed=2)
    assert s.duration_s == 60.0 and s.replicas == 1


def test_measure_skips_the_warm_up() -> None:
    from suanli.infer.sampling import Sample, measure
    from suanli.infer.trace import Request

    reqs = [Request(i, float(i), 10, 10) for i in range(1000)]  # one per second for 1000 s
    ttft = [10.0 if i < 200 else 0.1 for i in range(1000)]  # slow only while warming up
    m = measure(Sample(1, 1, reqs, 1000.0), ttft, [0.01] * 1000, 0.5, 2.0, 0.1)
    assert m.attainment.n == 800 and m.attainment.met == 800 and m.ttft_p99_s < 2.0


def test_attainment_counts_both_limits_and_nan_tpot() -> None:
    a = attainment([0.5, 3.0, 0.5, 0.5], [0.05, 0.05, 0.2, math.nan], 2.0, 0.1)
    assert (a.met, a.n) == (2, 4) and a.low < 0.5 < a.high


def test_plan_at_10t_tokens_per_day_simulates_a_bounded_sample() -> None:
    from suanli.infer.capacity import plan_capacity, traffic_from_tokens_per_day

    traffic = traffic_from_tokens_per_day(10e12, 1024, 256)  # ~90k requests/s
    calls: list[str] = []
    opts = plan_capacity("llama2-70b", traffic, hardware=["dgx-h100"], precisions=("fp8",),
                         verify=1, duration_s=300, sample=2000,
                         progress=lambda d, t, w: calls.append(w))
    best = opts[0]
    assert best.verified and best.attainment is not None
    assert best.attainment.n <= 2400 and best.attainment.share >= 0.99
    assert best.simulated_replicas is not None and best.simulated_replicas < best.replicas
    assert calls and calls[-1] == "done"
    # the simulated replicas carry their share of the load: busy, but not beyond 100%
    assert best.utilization is not None and 0.3 < best.utilization <= 1.0 + 1e-9
