"""Replay all 82,247 Philly jobs with FIFO, SJF (oracle), SJF (estimated), Tiresias LAS and
ours (LAS + estimated SJF inside queues), on a cluster of Philly's size and on a quarter of it.

    .venv/bin/python experiments/philly_report.py --out out/philly

Writes per scale a folder with result.json, config.json, JCT/queueing CDFs and utilization
charts, and prints the table. Same as ``suanli sim compare --trace philly --scale S``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from suanli.sched.reporting import table_row, write_outputs
from suanli.sched.scenario import scenario, simulate

POLICIES = ("fifo", "sjf", "sjf-est", "las", "las-sjf")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scales", default="1.0,0.25")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--placement", default="bestfit")
    ap.add_argument("--out", type=Path, default=Path("out/philly"))
    a = ap.parse_args(argv)
    for scale in (float(s) for s in a.scales.split(",")):
        sc = scenario("philly", "philly", scale=scale)
        results = [simulate(sc, p, a.placement) for p in a.policies.split(",")]
        sc.config.update({"policies": a.policies.split(","), "placement": a.placement})
        files = write_outputs(results, a.out / f"scale_{scale:g}", sc.config)
        print(f"\nPhilly, {sc.config['cluster_gpus']} GPUs (scale {scale:g}), "
              f"{sc.config['jobs']} jobs")
        print(f"{'policy':8s} {'JCT avg':>9s} {'p50':>7s} {'p99':>9s} {'queue avg':>9s} "
              f"{'q p99':>8s} {'wait avg':>8s} {'util%':>6s} {'preempt':>7s} {'ckpt GPU-h':>10s} "
              f"{'wall s':>6s}")
        for r in results:
            t = table_row(r.summary)
            print(f"{t['policy']:8s} {t['jct_avg_h']:8.2f}h {t['jct_p50_h']:6.2f}h "
                  f"{t['jct_p99_h']:8.1f}h {t['queue_avg_h']:8.2f}h {t['queue_p99_h']:7.1f}h "
                  f"{t['wait_avg_h']:7.2f}h "
                  f"{t['util_pct']:6.1f} {t['preemptions']:7d} "
                  f"{t['preempt_overhead_gpu_h']:10.0f} {t['wall_s']:6.1f}")
        print("wrote", files[0].parent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
