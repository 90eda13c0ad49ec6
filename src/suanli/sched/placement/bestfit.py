"""Best fit: the node whose free resources after placement are smallest.

score = 0.5 (cpu_free - cpu_req) / 128 cores + 0.5 (gpu_free - gpu_req) / 8 GPUs, lower is better
(the BestFit baseline of the FGD artifact, ``best_fit_score.go``; normalisers from its
``const.go``). The sharing job's GPU is the fullest one that still fits.
"""

from __future__ import annotations

import numpy as np

from suanli.sched.cluster import Cluster
from suanli.sched.job import Demand
from suanli.sched.placement.base import MAX_SPEC_CPU, MAX_SPEC_GPU, Placer


def best_fit_score(cluster: Cluster, demand: Demand, cand: np.ndarray) -> np.ndarray:
    """Weighted normalised leftover of CPU and GPU on each candidate (lower = tighter fit)."""
    cpu_left = (cluster.cpu_free[cand] - demand.cpu_milli) / MAX_SPEC_CPU
    gpu_left = (cluster.node_free[cand] - demand.num_gpu * demand.gpu_milli) / (
        MAX_SPEC_GPU)
    return 0.5 * cpu_left + 0.5 * gpu_left


class BestFitPlacer(Placer):
    name = "bestfit"

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        return best_fit_score(cluster, demand, cand), None
