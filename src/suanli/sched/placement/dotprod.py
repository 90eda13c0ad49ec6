"""Dot product (Tetris, Grandl et al. SIGCOMM'14, as adapted in the FGD artifact).

For each candidate node and each way the job could use its GPUs (one partly used GPU that fits,
or the node's idle GPUs), the node's free vector ``[cpu_left/128 cores, gpu_left/8 GPUs]`` is
dotted with the job's request ``[cpu/128, gpu/8]``; the smallest product wins (the artifact's
score is ``1 - dot/2``, higher better, with "share" dimension extension and "max" norm).
"""

from __future__ import annotations

import numpy as np

from suanli.sched.cluster import Cluster
from suanli.sched.job import MILLI, Demand
from suanli.sched.placement.base import MAX_SPEC_CPU, MAX_SPEC_GPU, Placer


class DotProdPlacer(Placer):
    name = "dotprod"

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        req_cpu = demand.cpu_milli / MAX_SPEC_CPU
        req_gpu = demand.num_gpu * demand.gpu_milli / MAX_SPEC_GPU
        cpu_term = cluster.cpu_free[cand] / MAX_SPEC_CPU * req_cpu
        free = cluster.gpu_free[cand]  # [C, G]
        idle = (free == MILLI).sum(axis=1) * MILLI  # milli-GPU on idle GPUs
        idle_ok = idle >= demand.num_gpu * demand.gpu_milli
        idle_dot = np.where(idle_ok, idle / MAX_SPEC_GPU * req_gpu, np.inf)
        if demand.num_gpu * demand.gpu_milli >= MILLI:  # whole GPUs: only idle ones
            return cpu_term + idle_dot, None
        partial = (free < MILLI) & (free >= demand.gpu_milli) & cluster.gpu_exists[cand]
        part_dot = np.where(partial, free / MAX_SPEC_GPU * req_gpu, np.inf)  # [C, G]
        g_best = np.argmin(part_dot, axis=1)
        part_best = part_dot[np.arange(len(cand)), g_best]
        use_part = part_best < idle_dot
        # an idle GPU for a sharing job: pick the first idle one
        first_idle = np.argmax(free == MILLI, axis=1)
        gpu = np.where(use_part, g_best, first_idle)
        return cpu_term + np.minimum(part_best, idle_dot), gpu
