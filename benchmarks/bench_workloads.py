"""Predicted vs measured for the real GPT workloads on this machine (issue 13's table).

Runs ``suanli bench`` (quick grid) and then trains three model sizes at two batch sizes and
serves them, comparing each measured step with the op-level model's prediction from that
profile. Targets: training step within 15%, serving TPOT within 20%. Needs PyTorch.

With one thread (the default), bench and workloads are timed in process CPU seconds: the
time on a core of their own, which on a shared machine the wall clock is not (the wall-clock
fastest step is printed beside it). ``repeats`` runs each workload that many times, spread
over a few minutes (the whole table once per pass, so a row's runs are minutes apart), and
keeps the fastest: more samples of the same estimator (the fastest step), so one run that
met a busy minute does not decide the row.
Usage: python benchmarks/bench_workloads.py [threads] [repeats]
"""

from __future__ import annotations

import sys
import time

from suanli.bench.measure import run_bench
from suanli.perf.oplevel import decode_step, prefill, train_step
from suanli.workloads.run import run_serve, run_train
from suanli.workloads.shapes import PRESETS, ServeShape, TrainShape

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
t0 = time.perf_counter()
prof = run_bench(threads)
print(f"bench: {time.perf_counter() - t0:.1f} s; best GEMM {prof.peak_gemm_flops / 1e9:.1f} "
      f"GFLOP/s, stream {prof.memory_bw / 1e9:.1f} GB/s, {threads} thread(s), clock "
      f"{prof.hardware['clock']}")
print(f"{'model':8} {'batch':>5} {'train meas':>11} {'(wall)':>8} {'pred':>9} {'err':>7} | "
      f"{'TPOT meas':>10} {'(wall)':>8} {'pred':>9} {'err':>7} | {'TTFT meas':>10} "
      f"{'pred':>9} {'err':>7}")
worst_train = worst_tpot = 0.0


def fastest(values: list[float | None]) -> float:
    return min(v for v in values if v is not None)


rows = [(name, batch) for name in ("tiny", "small", "medium") for batch in (4, 16)]
shapes = {r: (TrainShape(model=PRESETS[r[0]], batch=r[1], seq_len=128, steps=8, threads=threads),
              ServeShape(model=PRESETS[r[0]], batch=r[1], prompt_len=128, gen_len=24,
                         threads=threads)) for r in rows}
runs: dict[tuple[str, int], tuple[list, list]] = {r: ([], []) for r in rows}
for _ in range(repeats):  # the whole table once per pass: each row's runs minutes apart
    for r in rows:
        ts, ss = shapes[r]
        runs[r][0].append(run_train(ts))
        runs[r][1].append(run_serve(ss))
for (name, batch), (trs, svs) in runs.items():
    ts, ss = shapes[(name, batch)]
    mt, md = fastest([r.on_own_core("step_time") for r in trs]), \
        fastest([r.on_own_core("tpot") for r in svs])
    mf = fastest([r.on_own_core("ttft") for r in svs])
    wt, wd = min(r.step_time_min_s or 0.0 for r in trs), min(r.tpot_min_s or 0.0 for r in svs)
    pt, pd, pf = train_step(prof, ts).total, decode_step(prof, ss).total, \
        prefill(prof, ss).total
    et, ed, ef = pt / mt - 1, pd / md - 1, pf / mf - 1
    worst_train, worst_tpot = max(worst_train, abs(et)), max(worst_tpot, abs(ed))
    print(f"{name:8} {batch:5d} {mt:10.4f}s {wt:7.4f}s {pt:8.4f}s {et:+7.1%} | "
          f"{md:9.5f}s {wd:7.5f}s {pd:8.5f}s {ed:+7.1%} | {mf:9.4f}s {pf:8.4f}s "
          f"{ef:+7.1%}")
print(f"worst |error|: training {worst_train:.1%} (target 15%), TPOT {worst_tpot:.1%} "
      "(target 20%)")
