"""Planner speed: the full plan search for the Megatron 1T model on 3072 A100.

Issue target: the whole space (TP: divisors of the heads up to 8, PP: any stage count that divides
the devices, interleave, micro-batch 1-8, ZeRO 0-3,
three recompute modes, SP on/off) in under 2 s on a 2-core machine. For reference, the same
grid evaluated plan by plan through the scalar path (``estimate`` per plan) is timed on a
sample in the same run, and the ratio printed.

Run: .venv/bin/python benchmarks/bench_planner.py
"""

from __future__ import annotations

import contextlib
import statistics
import time

from suanli.catalog import load_catalog
from suanli.perf.training import TrainingJob, estimate
from suanli.plan.search import SearchSpace, build_grid, plan_at, search

TARGET_S = 2.0


def main() -> None:
    cat = load_catalog()
    system = cat.system("dgx-a100-80gb")
    acc = cat.accelerator(system.accelerator)
    cases = [("megatron-1t", 3072, 3072, 450e9), ("gpt3-175b", 1024, 1536, 300e9),
             ("llama3.1-405b", 16384, 2048, 15e12)]
    for model, devices, batch, tokens in cases:
        job = TrainingJob(model=cat.model(model), system=system, accelerator=acc,
                          tokens=tokens, seq_len=2048, global_batch=batch,
                          flash_attention=False)
        search(job, devices)  # warm caches (catalog, efficiency table)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            res = search(job, devices, top=10)
            times.append(time.perf_counter() - t0)
        best = statistics.median(times)
        grid = build_grid(job, [devices], SearchSpace())
        n = len(grid["tp"])
        sample = range(0, n, max(1, n // 300))
        t0 = time.perf_counter()
        done = 0
        for i in sample:
            with contextlib.suppress(Exception):  # invalid plans raise; still an evaluation
                estimate(job, plan_at(grid, i))
            done += 1
        per_plan = (time.perf_counter() - t0) / done
        loop_total = per_plan * n
        flag = "OK" if best < TARGET_S else "SLOW"
        print(f"{model:>14} on {devices:>5} A100: {n:>7,} plans, {res.valid:>6,} valid, "
              f"{res.fitting:>5,} fit | search {best * 1e3:7.1f} ms (median of 5) "
              f"[{flag}: target {TARGET_S} s] | plan-by-plan loop ~{loop_total:6.1f} s "
              f"-> x{loop_total / best:,.0f}")
        print(f"{'':>14}   best: {res.best[0].plan} MFU {res.best[0].mfu:.1%}")


if __name__ == "__main__":
    main()
