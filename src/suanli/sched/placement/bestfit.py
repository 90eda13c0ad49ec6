"""Best fit: the node whose free resources after placement are smallest.

The FGD artifact's ``BestFitScore`` (``best_fit_score.go``, normalisers from ``const.go``):

    s = 0.5 (cpu_free - cpu_req) / 128 cores + 0.5 (gpu_free - gpu_req) / 8 GPUs   (lower better)
    score = int(100 (1 - s))                                                    (higher better)

then min-max normalised over the feasible nodes to 0..100 with integer division
(``NormalizeScore``); equal integers are ties. The sharing job's GPU is the fullest one that
still fits ("best" GPU selection).
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


def normalize_scores(raw: np.ndarray) -> np.ndarray:
    """The artifact's ``NormalizeScore``: integers mapped to 0..100 by (s - lo) 100 // (hi - lo);
    all 0 when every node scores the same."""
    lo, hi = int(raw.min()), int(raw.max())
    if hi == lo:
        return np.zeros(len(raw), dtype=np.int64)
    return (raw.astype(np.int64) - lo) * 100 // (hi - lo)


class BestFitPlacer(Placer):
    name = "bestfit"

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        raw = np.trunc((1.0 - best_fit_score(cluster, demand, cand)) * 100.0)
        return -normalize_scores(raw).astype(float), None
