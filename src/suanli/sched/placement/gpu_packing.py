"""GPU packing: prefer partly used GPUs, then idle GPUs on used nodes, then idle nodes.

Tiers of the FGD artifact's ``gpu_packing_score.go`` (higher better there, negated here):
1. only partly used GPUs are needed: 100 - (free % on the used GPUs)/10, at least 50;
2. some idle GPUs on a used node are needed: 50 - idle GPUs used, at least 33;
3. the node is entirely idle: max(33 - idle GPUs, idle GPUs).
CPU-only jobs score the same everywhere (random among feasible nodes).
"""

from __future__ import annotations

import numpy as np

from suanli.sched.cluster import Cluster
from suanli.sched.job import MILLI, Demand
from suanli.sched.placement.base import Placer


class GpuPackingPlacer(Placer):
    name = "gpupacking"

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        if demand.num_gpu == 0:
            return np.zeros(len(cand)), None
        free = cluster.gpu_free[cand]
        count = cluster.gpu_count[cand]
        idle = (free == MILLI).sum(axis=1)
        tier3 = np.maximum(100 // 3 - idle, idle)
        if demand.sharing:
            # best-fit GPU: the fullest GPU that fits; idle only if no partly used GPU fits
            fit = np.where(free >= demand.gpu_milli, free, 10 * MILLI)
            g = np.argmin(fit, axis=1)
            f = fit[np.arange(len(cand)), g]
            uses_idle = f == MILLI
            tier1 = np.maximum(100 - (f * 100 // MILLI) // 10, 50)
            s = np.where(uses_idle, np.maximum(50 - 1, 33), tier1)
        else:
            s = np.full(len(cand), max(50 - demand.num_gpu, 33))
        s = np.where(idle == count, tier3, s)
        return -s.astype(float), None
