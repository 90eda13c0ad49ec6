"""Predicted vs measured for the real GPT workloads on this machine (issue 13's table).

Runs ``suanli bench`` (quick grid) and then trains three model sizes at two batch sizes and
serves them, comparing each measured fastest step with the op-level model's prediction from
that profile. Targets: training step within 15%, serving TPOT within 20%. Needs PyTorch.
Usage: python benchmarks/bench_workloads.py [threads]
"""

from __future__ import annotations

import sys
import time

from suanli.bench.measure import run_bench
from suanli.perf.oplevel import decode_step, prefill, train_step
from suanli.workloads.run import run_serve, run_train
from suanli.workloads.shapes import PRESETS, ServeShape, TrainShape

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
t0 = time.perf_counter()
prof = run_bench(threads)
print(f"bench: {time.perf_counter() - t0:.1f} s; best GEMM {prof.peak_gemm_flops / 1e9:.1f} "
      f"GFLOP/s, stream {prof.memory_bw / 1e9:.1f} GB/s, {threads} thread(s)")
print(f"{'model':8} {'batch':>5} {'train meas':>11} {'pred':>9} {'err':>7} | {'TPOT meas':>10} "
      f"{'pred':>9} {'err':>7} | {'TTFT meas':>10} {'pred':>9} {'err':>7}")
worst_train = worst_tpot = 0.0
for name in ("tiny", "small", "medium"):
    for batch in (4, 16):
        ts = TrainShape(model=PRESETS[name], batch=batch, seq_len=128, steps=8, threads=threads)
        ss = ServeShape(model=PRESETS[name], batch=batch, prompt_len=128, gen_len=24,
                        threads=threads)
        tr, sv = run_train(ts), run_serve(ss)
        pt, pd, pf = train_step(prof, ts).total, decode_step(prof, ss).total, \
            prefill(prof, ss).total
        et, ed = pt / tr.step_time_min_s - 1, pd / sv.tpot_min_s - 1
        ef = pf / sv.ttft_s - 1
        worst_train, worst_tpot = max(worst_train, abs(et)), max(worst_tpot, abs(ed))
        print(f"{name:8} {batch:5d} {tr.step_time_min_s:10.4f}s {pt:8.4f}s {et:+7.1%} | "
              f"{sv.tpot_min_s:9.5f}s {pd:8.5f}s {ed:+7.1%} | {sv.ttft_s:9.4f}s {pf:8.4f}s "
              f"{ef:+7.1%}")
print(f"worst |error|: training {worst_train:.1%} (target 15%), TPOT {worst_tpot:.1%} "
      "(target 20%)")
