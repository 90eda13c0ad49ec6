"""Alibaba cluster-trace-gpu-v2025: disaggregated DLRM serving instances (Prism, NSDI'25).

Columns used: ``instance_sn, role, app_name, cpu_request, gpu_request, memory_request (GiB),
creation_time, deletion_time`` (s from trace start; empty = outside the window). Each instance
is a long-running job: submit = creation_time (0 if empty), duration = deletion - creation
(instances still running at the end run until the last event of the window).
``kind`` = app_name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from suanli.sched.job import MILLI, Workload
from suanli.sched.traces.common import read_rows, require, resolve

FOLDER = "alibaba-gpu-v2025-dlrm"


def load_dlrm(path: str | Path = "disaggregated_DLRM_trace.csv") -> Workload:
    p = resolve(path, FOLDER)
    bad: list[str] = []
    apps: dict[str, int] = {}

    def num(x: str) -> float:
        return float(x) if x.strip() else float("nan")

    def parse(r: dict[str, str]) -> tuple[float, float, int, int, int, int, str]:
        cpu, gpu, mem = float(r["cpu_request"]), float(r["gpu_request"]), float(
            r["memory_request"])
        require(cpu >= 0 and mem >= 0 and gpu in (0.0, 1.0), f"cpu={cpu} gpu={gpu} mem={mem}")
        c, d = num(r["creation_time"]), num(r["deletion_time"])
        submit = c if np.isfinite(c) else 0.0
        dur = d - submit if np.isfinite(d) else float("nan")
        require(not dur < 0, f"deletion before creation ({d} < {c})")
        k = apps.setdefault(r["app_name"], len(apps))
        return submit, dur, int(gpu), int(cpu * 1000), int(mem * 1024), k, r["instance_sn"]

    rows = list(read_rows(p, ("instance_sn", "app_name", "cpu_request", "gpu_request",
                              "memory_request", "creation_time", "deletion_time"), parse, bad))
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * 7
    n = len(rows)
    ng = np.asarray(cols[2], dtype=np.int32)
    submit = np.asarray(cols[0], dtype=float)
    dur = np.asarray(cols[1], dtype=float)
    ends = submit + dur
    window_end = float(np.nanmax(np.append(ends, submit.max()))) if n else 0.0
    dur = np.where(np.isfinite(dur), dur, window_end - submit)  # still running at the end
    return Workload(submit=submit, duration=dur, num_gpu=ng,
                    gpu_milli=np.where(ng > 0, MILLI, 0).astype(np.int32),
                    cpu_milli=np.asarray(cols[3], dtype=np.int64),
                    mem_mib=np.asarray(cols[4], dtype=np.int64),
                    gpu_spec=np.zeros(n, dtype=np.int32),
                    kind=np.asarray(cols[5], dtype=np.int32), kinds=list(apps),
                    names=list(cols[6]), source=str(p), bad_rows=bad)
