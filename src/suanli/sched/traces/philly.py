"""Microsoft Philly job trace (Jeon et al., ATC'19), job-level CSV from the Pollux artifact.

Columns: ``timestamp`` (submission, local time), ``duration`` (s), ``num_gpus``, ``gpu_time``,
``cluster`` (hashed virtual cluster). Each job asks for ``num_gpus`` whole GPUs; CPU and memory
are not recorded (0). ``kind`` = virtual cluster, so duration estimators can learn per VC.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from suanli.sched.cluster import Cluster, homogeneous
from suanli.sched.job import MILLI, Workload
from suanli.sched.traces.common import read_rows, require, resolve

FOLDER = "philly-pollux"
# Philly's size: 552 machines, 321 with 2 GPUs and 231 with 8 (2,490 GPUs), as we recall the
# trace's machine_list.csv (msr-fiddle/philly-traces); not verifiable here (LFS archive absent).
PHILLY_NODES = ((321, 2), (231, 8))


def load_philly(path: str | Path = "philly.csv") -> Workload:
    """All jobs of ``philly.csv``; submit times in s from the first submission."""
    p = resolve(path, FOLDER)
    bad: list[str] = []
    vcs: dict[str, int] = {}

    def parse(r: dict[str, str]) -> tuple[np.datetime64, float, int, int]:
        t = np.datetime64(r["timestamp"].strip(), "s")  # ValueError -> reported bad row
        require(not np.isnat(t), "empty timestamp")
        d, g = float(r["duration"]), int(r["num_gpus"])
        require(np.isfinite(d) and d >= 0, f"duration {d} must be >= 0")
        require(g >= 1, f"num_gpus {g} must be >= 1")
        k = vcs.setdefault(r["cluster"], len(vcs))
        return t, d, g, k

    rows = list(read_rows(p, ("timestamp", "duration", "num_gpus", "cluster"), parse, bad))
    ts = np.array([r[0] for r in rows], dtype="datetime64[s]")
    n = len(rows)
    submit = (ts - ts.min()).astype(float) if n else np.zeros(0)
    return Workload(submit=submit, duration=np.array([r[1] for r in rows], dtype=float),
                    num_gpu=np.array([r[2] for r in rows], dtype=np.int32),
                    gpu_milli=np.full(n, MILLI, dtype=np.int32),
                    cpu_milli=np.zeros(n, dtype=np.int64), mem_mib=np.zeros(n, dtype=np.int64),
                    gpu_spec=np.zeros(n, dtype=np.int32),
                    kind=np.array([r[3] for r in rows], dtype=np.int32),
                    kinds=list(vcs), source=str(p), bad_rows=bad)


def philly_cluster(scale: float = 1.0, gpu_type: str = "V100") -> Cluster:
    """A cluster of Philly's size (``scale`` x the node counts), CPU/memory unconstrained."""
    rows = []
    for count, gpus in PHILLY_NODES:
        rows += [(f"philly-{gpus}g-{i:04d}", 10**9, 10**9, gpus, gpu_type, "philly")
                 for i in range(max(1, round(count * scale)))]
    return Cluster.from_nodes(rows)


__all__ = ["PHILLY_NODES", "homogeneous", "load_philly", "philly_cluster"]
