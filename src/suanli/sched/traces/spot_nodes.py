"""Alibaba cluster-trace-v2026-spot-gpu node inventory (Duan et al., ASPLOS'26).

Columns: ``gpu_model, gpu_capacity_num, cpu_num, node_name``: 4,278 nodes, 10,412 GPUs of six
models. Memory is not given; nodes get 8 GiB per CPU core (an assumption, stated here).
"""

from __future__ import annotations

from pathlib import Path

from suanli.errors import InputError
from suanli.sched.cluster import Cluster, Site
from suanli.sched.traces.common import read_rows, require, resolve

FOLDER = "alibaba-spot-gpu-v2026"
MIB_PER_CORE = 8 * 1024  # assumption: memory is not in the trace


def load_spot_nodes(path: str | Path = "node_info_df.csv", site: Site | None = None) -> Cluster:
    """The heterogeneous inventory as one site (bad rows raise: a cluster must be whole)."""
    p = resolve(path, FOLDER)
    bad: list[str] = []
    s = site or Site(name="alibaba-spot")

    def parse(r: dict[str, str]) -> tuple[str, int, int, int, str, str]:
        g, cpu = int(r["gpu_capacity_num"]), int(r["cpu_num"])
        require(g >= 0 and cpu > 0, f"gpu={g}, cpu={cpu}")
        return (f"spot-{r['node_name']}", cpu * 1000, cpu * MIB_PER_CORE, g,
                r["gpu_model"].strip(), s.name)

    rows = list(read_rows(p, ("gpu_model", "gpu_capacity_num", "cpu_num", "node_name"), parse,
                          bad))
    if bad:
        raise InputError(f"{len(bad)} bad node rows, first: {bad[0]}; fix the node list")
    return Cluster.from_nodes(rows, [s])
