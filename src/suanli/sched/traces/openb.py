"""Alibaba cluster-trace-gpu-v2023 ("openb", Weng et al. ATC'23): node list and pod lists.

Nodes: ``sn, cpu_milli, memory_mib, gpu, model``. Pods: ``name, cpu_milli, memory_mib, num_gpu,
gpu_milli[, gpu_spec, qos, pod_phase, creation_time, deletion_time, scheduled_time]``
(the ``multigpu*`` lists have only the first five). ``gpu_spec`` lists allowed GPU models
separated by ``|``; empty = any. Durations are ``deletion_time - creation_time`` (``nan`` when
the list has no times, as in ``multigpu*``); the FGD protocol ignores them (pods never end).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from suanli.sched.cluster import Cluster, Site
from suanli.sched.job import MILLI, Workload
from suanli.sched.traces.common import read_rows, require, resolve

FOLDER = "alibaba-gpu-v2023-openb/csv"
POD_LISTS = ("default", "cpu0", "cpu037", "cpu050", "cpu072", "cpu100", "cpu200", "cpu235",
             "cpu250", "cpu300", "gpushare20", "gpushare40", "gpushare60", "gpushare80",
             "gpushare100", "gpuspec05", "gpuspec10", "gpuspec20", "gpuspec25", "gpuspec33",
             "multigpu20", "multigpu30", "multigpu40", "multigpu50")


def load_openb_nodes(path: str | Path = "openb_node_list_gpu_node.csv",
                     site: Site | None = None) -> Cluster:
    """The openb cluster: the 1,213 GPU nodes by default (the FGD paper's 6,212-GPU cluster;
    our Random baseline matches its 13.7% only on this list), or
    ``openb_node_list_all_node.csv`` (plus 310 CPU-only nodes, same GPUs). A bad row raises
    (a cluster must be complete)."""
    p = resolve(path, FOLDER)
    bad: list[str] = []
    s = site or Site(name="openb")

    def parse(r: dict[str, str]) -> tuple[str, int, int, int, str, str]:
        cpu, mem, gpu = int(r["cpu_milli"]), int(r["memory_mib"]), int(r["gpu"])
        require(cpu >= 0 and mem >= 0 and gpu >= 0, "negative capacity")
        return (r["sn"], cpu, mem, gpu, r["model"].strip(), s.name)

    rows = list(read_rows(p, ("sn", "cpu_milli", "memory_mib", "gpu", "model"), parse, bad))
    if bad:
        from suanli.errors import InputError

        raise InputError(f"{len(bad)} bad node rows, first: {bad[0]}; fix the node list")
    return Cluster.from_nodes(rows, [s])


def pod_list_path(name: str) -> str:
    """File name of a pod list given its short name (``default``, ``gpushare40``, ...)."""
    return name if name.endswith(".csv") else f"openb_pod_list_{name}.csv"


def load_openb_pods(path: str | Path = "default") -> Workload:
    """One openb pod list as a :class:`Workload` (submit = creation_time when present)."""
    p = resolve(pod_list_path(str(path)), FOLDER)
    bad: list[str] = []
    spec_idx: dict[tuple[str, ...], int] = {(): 0}

    def parse(r: dict[str, str]) -> tuple[int, int, int, int, int, float, str, float]:
        cpu, mem = int(r["cpu_milli"]), int(r["memory_mib"])
        ng, gm = int(r["num_gpu"]), int(r["gpu_milli"])
        require(cpu >= 0 and mem >= 0 and ng >= 0, "negative request")
        if ng == 0:
            require(gm == 0, f"gpu_milli={gm} with num_gpu=0")
        else:
            require(0 < gm <= MILLI, f"gpu_milli={gm} not in 1..1000")
            require(ng == 1 or gm == MILLI, f"{ng} GPUs with gpu_milli={gm} (must be 1000)")
        spec = tuple(sorted(x for x in (r.get("gpu_spec") or "").split("|") if x))
        k = spec_idx.setdefault(spec, len(spec_idx))
        t = float(r.get("creation_time") or 0)
        end = r.get("deletion_time") or ""
        dur = float(end) - t if end else float("nan")
        require(not dur < 0, f"deletion_time {end} before creation_time {t}")
        return cpu, mem, ng, gm, k, t, r["name"], dur

    rows = list(read_rows(p, ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"),
                          parse, bad))
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * 8
    return Workload(submit=np.asarray(cols[5], dtype=float),
                    duration=np.asarray(cols[7], dtype=float),
                    num_gpu=np.asarray(cols[2], dtype=np.int32),
                    gpu_milli=np.asarray(cols[3], dtype=np.int32),
                    cpu_milli=np.asarray(cols[0], dtype=np.int64),
                    mem_mib=np.asarray(cols[1], dtype=np.int64),
                    gpu_spec=np.asarray(cols[4], dtype=np.int32),
                    specs=list(spec_idx), names=list(cols[6]), source=str(p), bad_rows=bad)
