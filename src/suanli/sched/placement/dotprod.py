"""Dot product (Tetris, Grandl et al. SIGCOMM'14), as the FGD artifact runs it.

``DotProductScore`` with ``dimExtMethod: merge`` and ``normMethod: max``: the node's free
vector ``[cpu_free / 128 cores, gpu_free / 8 GPUs]`` (GPU summed over the node) is dotted with
the job's request vector ``[cpu / 128 cores, gpu / 8 GPUs]``, divided by the 2 dimensions, and
scored ``int(100 (1 - dot / 2))`` (higher better, integer: equal integers are ties). The
sharing job's GPU is the fullest one that fits ("best" GPU selection).
"""

from __future__ import annotations

import numpy as np

from suanli.sched.cluster import Cluster
from suanli.sched.job import Demand
from suanli.sched.placement.base import MAX_SPEC_CPU, MAX_SPEC_GPU, Placer


class DotProdPlacer(Placer):
    name = "dotprod"

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        cpu = cluster.cpu_free[cand] / MAX_SPEC_CPU * (demand.cpu_milli / MAX_SPEC_CPU)
        gpu = cluster.node_free[cand] / MAX_SPEC_GPU * (
            demand.num_gpu * demand.gpu_milli / MAX_SPEC_GPU)
        return -np.trunc(100.0 * (1.0 - (cpu + gpu) / 2.0)), None
