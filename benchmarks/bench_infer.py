"""Speed of the serving model: step-time fast path, estimates, quotes, trace replay, planning.

Run: ``.venv/bin/python benchmarks/bench_infer.py``. Prints wall times and ratios measured in
the same run (fast path vs building the per-op breakdown; simulated vs wall-clock time).
The Azure traces are read from ``../shared/data/traces`` next to the repository.
"""

from __future__ import annotations

import time
from pathlib import Path

from suanli.infer.api import serving_quote
from suanli.infer.capacity import plan_capacity, traffic_from_trace
from suanli.infer.estimate import deployment, estimate, step_model
from suanli.infer.model import total_s
from suanli.infer.simulate import simulate
from suanli.infer.trace import load_azure_trace

TRACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "traces" / \
    "azure-llm-inference-2023"


def timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - t) / repeat, out


def main() -> None:
    dep = deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8")
    sm = step_model(dep)
    n = 20_000
    fast, _ = timed(lambda: sm.time(300, 30, 4e5, 3e5), n)
    slow, _ = timed(lambda: total_s(sm.ops(300, 30, 4e5, 3e5)), n)
    print(f"step time: fast path {fast * 1e6:.2f} us, per-op breakdown {slow * 1e6:.2f} us "
          f"(x{slow / fast:.1f})")
    t, _ = timed(lambda: estimate(dep, prompt_len=1000, output_len=200, batch=64), 200)
    print(f"estimate (with breakdown): {t * 1e3:.2f} ms")
    t, _ = timed(lambda: serving_quote("llama3-70b", "H100", prompt_len=1000, output_len=200,
                                       ttft_slo_s=1.0, tpot_slo_s=0.05, precision="fp8"), 5)
    print(f"serving_quote (TP x batch search): {t * 1e3:.1f} ms")
    if not TRACES.is_dir():
        print(f"traces not found at {TRACES}: replay benchmarks skipped")
        return
    for name, reps, scale in (("code", 1, 1.0), ("conv", 1, 1.0), ("conv", 12, 10.0)):
        path = TRACES / f"AzureLLMInferenceTrace_{name}.csv"
        t_load, reqs = timed(lambda p=path, s=scale: load_azure_trace(p, rate_scale=s))
        t_sim, res = timed(lambda r=reqs, k=reps: simulate(dep, r, replicas=k))
        s = res.summary
        print(f"replay {name} x{scale:g} ({len(reqs):,} requests, {reps} replica(s)): load "
              f"{t_load:.2f} s, simulate {t_sim:.2f} s, {s['iterations']:,.0f} iterations, "
              f"{s['makespan_s'] / t_sim:,.0f}x faster than real time; p99 TTFT "
              f"{s['ttft_p99_s']:.2f} s, p99 TPOT {1e3 * s['tpot_p99_s']:.0f} ms")
    traffic = traffic_from_trace(TRACES / "AzureLLMInferenceTrace_conv.csv", rate_scale=10.0)
    t, opts = timed(lambda: plan_capacity("llama3-70b", traffic,
                                          hardware=["dgx-h100", "hgx-h200", "dgx-a100-80gb"],
                                          verify=4))
    b = opts[0]
    print(f"plan_capacity (conv x10, 3 systems, <= 4 simulated): {t:.1f} s -> {b.replicas} x "
          f"{b.tp} {b.accelerator} {b.precision}, ${b.usd_per_hour:,.0f}/h, verified "
          f"{b.verified}")


if __name__ == "__main__":
    main()
