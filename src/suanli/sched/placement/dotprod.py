"""Dot product (Tetris, Grandl et al. SIGCOMM'14, as run in the FGD artifact).

The node's free vector ``[cpu_free / 128 cores, gpu_free / 8 GPUs]`` (GPU summed over the node:
the artifact's "merge" dimension extension, "max" norm) is dotted with the job's request vector
``[cpu / 128, gpu / 8]``; the smallest product wins (the artifact scores ``1 - dot / 2``, higher
better). The sharing job's GPU is the fullest one that fits ("best" GPU selection).
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
        return cpu + gpu, None
