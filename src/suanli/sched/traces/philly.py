"""Microsoft Philly job trace (Jeon et al., ATC'19), job-level CSV from the Pollux artifact.

Columns: ``timestamp`` (submission, local time), ``duration`` (s), ``num_gpus``, ``gpu_time``,
``cluster`` (hashed virtual cluster). Each job asks for ``num_gpus`` whole GPUs; CPU and memory
are not recorded (0). ``kind`` = virtual cluster, so duration estimators can learn per VC.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from suanli.errors import InputError
from suanli.sched.cluster import Cluster, homogeneous
from suanli.sched.job import MILLI, Workload
from suanli.sched.traces.common import read_rows, require, resolve

FOLDER = "philly-pollux"
MACHINES = Path(__file__).resolve().parents[1] / "data" / "philly_machines.csv"


def philly_shape() -> list[tuple[int, int, str, str]]:
    """Philly's machines: (count, GPUs each, GPU type, source) from ``philly_machines.csv``
    (552 machines, 2,490 GPUs; sources and caveats in the file)."""
    with MACHINES.open(encoding="utf-8") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return [(int(r["machines"]), int(r["gpus_per_machine"]), r["gpu_type"], r["source"])
                for r in rows]


PHILLY_NODES = tuple((n, g) for n, g, _, _ in philly_shape())


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


def philly_cluster(scale: float = 1.0, gpu_type: str | None = None) -> Cluster:
    """A cluster of Philly's shape (``scale`` x the machine counts), CPU/memory unconstrained;
    GPU types from the data file unless ``gpu_type`` forces one."""
    if not scale > 0:
        raise InputError(f"--scale must be > 0, got {scale}")
    rows = []
    for count, gpus, gtype, _ in philly_shape():
        rows += [(f"philly-{gpus}g-{i:04d}", 10**9, 10**9, gpus, gpu_type or gtype, "philly")
                 for i in range(max(1, round(count * scale)))]
    return Cluster.from_nodes(rows)


__all__ = ["PHILLY_NODES", "homogeneous", "load_philly", "philly_cluster"]
