"""Scheduler speed benchmarks (not collected by pytest). Prints times and ratios to targets.

    .venv/bin/python benchmarks/bench_sched.py [--quick]

1. Philly: all 82,247 jobs on Philly's 2,490 GPUs, one run per policy (target < 10 s each).
2. Synthetic: 1,000,000 jobs on 10,000 GPUs (1,250 x 8), FIFO + best fit (target < 60 s).
   Wall and CPU (process) time are both printed: on a shared machine wall time includes the
   time other processes hold the cores.
3. FGD protocol: one seed on the 6,212-GPU openb cluster per placer (reference: Random).
``--quick`` uses 100,000 synthetic jobs and fewer policies.
"""

from __future__ import annotations

import argparse
import time

from suanli.sched.cluster import Cluster, homogeneous
from suanli.sched.inflation import run_inflation
from suanli.sched.placement import make_placer
from suanli.sched.policies import make_policy
from suanli.sched.simulate import Simulator
from suanli.sched.traces.openb import load_openb_nodes, load_openb_pods
from suanli.sched.traces.philly import load_philly, philly_cluster
from suanli.sched.traces.synthetic import synthetic


def philly(policies: list[str]) -> None:
    t = time.perf_counter()
    w = load_philly()
    print(f"philly: load {len(w)} jobs {time.perf_counter() - t:.2f} s")
    c = philly_cluster()
    for p in policies:
        r = Simulator(c, w, make_policy(p), make_placer("bestfit")).run()
        s = r.summary
        print(f"  {p:8s} {s['wall_s']:6.2f} s  ({s['wall_s'] / 10:.2f} x the 10 s target)  "
              f"{s['events']} events, {s['events'] / s['wall_s'] / 1e3:.0f} k events/s")


def big_synthetic(jobs: int) -> None:
    c = Cluster.from_nodes(homogeneous(1250, 8, cpu_milli=128_000, mem_mib=2 * 1024**2))
    t, cpu = time.perf_counter(), time.thread_time()
    w = synthetic(jobs, c.total_gpus, load=0.7, seed=1)
    gen = time.perf_counter() - t
    r = Simulator(c, w, make_policy("fifo"), make_placer("bestfit")).run()
    s = r.summary
    wall, cpu = time.perf_counter() - t, time.thread_time() - cpu
    print(f"synthetic: {jobs} jobs on {c.total_gpus} GPUs: generate {gen:.2f} s, simulate "
          f"{s['wall_s']:.1f} s; total wall {wall:.1f} s, CPU {cpu:.1f} s "
          f"({cpu / 60:.2f} x the 60 s target), {s['events']} events, "
          f"util while arriving {100 * s['utilization_while_arriving']:.0f}%")


def fgd_protocol() -> None:
    c, w = load_openb_nodes(), load_openb_pods("default")
    ref = None
    for p in ("random", "bestfit", "dotprod", "gpupacking", "gpuclustering", "fgd", "fgd-pack"):
        t = time.perf_counter()
        r = run_inflation(c, w, make_placer(p, w), 42)
        dt = time.perf_counter() - t
        ref = ref or dt
        print(f"  fgd-protocol {p:14s} {dt:5.2f} s ({dt / ref:4.1f} x random) "
              f"{r.pods} pods, unallocated {r.unallocated_at(100):.2f}%")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    philly(["fifo", "sjf"] if a.quick else ["fifo", "sjf", "sjf-est", "las", "las-sjf"])
    big_synthetic(100_000 if a.quick else 1_000_000)
    fgd_protocol()


if __name__ == "__main__":
    main()
