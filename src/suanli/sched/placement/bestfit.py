"""Best fit: the node whose free resources after placement are smallest.

The FGD artifact's ``BestFitScore`` (``best_fit_score.go``, normalisers from ``const.go``):

    s = 0.5 (cpu_free - cpu_req) / 128 cores + 0.5 (gpu_free - gpu_req) / 8 GPUs   (lower better)
    score = int(100 (1 - s))                                                    (higher better)

then min-max normalised over the feasible nodes to 0..100 with integer division
(``NormalizeScore``): ``(s - lo) 100 // (hi - lo)`` is 100 exactly when ``s = hi``, so the
nodes picked are those with the top integer score (ties: see the base class); the
normalisation itself is skipped. The sharing job's GPU is the fullest one that still fits
("best" GPU selection).
"""

from __future__ import annotations

import numpy as np

from suanli.sched.cluster import Cluster, Placement
from suanli.sched.job import Demand
from suanli.sched.placement.base import MAX_SPEC_CPU, MAX_SPEC_GPU, Placer


def best_fit_score(cluster: Cluster, demand: Demand, cand: np.ndarray) -> np.ndarray:
    """Weighted normalised leftover of CPU and GPU on each candidate (lower = tighter fit)."""
    cpu_left = (cluster.cpu_free[cand] - demand.cpu_milli) / MAX_SPEC_CPU
    gpu_left = (cluster.node_free[cand] - demand.num_gpu * demand.gpu_milli) / (
        MAX_SPEC_GPU)
    return 0.5 * cpu_left + 0.5 * gpu_left


def best_fit_int(cluster: Cluster, demand: Demand, cand: np.ndarray | None) -> np.ndarray:
    """``int(100 (1 - s))`` per candidate (every node when ``cand`` is None), folded to one
    multiply-add per resource: ``100 (1 - s) = c0 - 50 cpu_free / 128 cores - 50 gpu_free /
    8 GPUs``."""
    c0 = 100.0 + 50.0 * demand.cpu_milli / MAX_SPEC_CPU + 50.0 * (
        demand.num_gpu * demand.gpu_milli) / MAX_SPEC_GPU
    cpu = cluster.cpu_free if cand is None else cluster.cpu_free[cand]
    gpu = cluster.node_free if cand is None else cluster.node_free[cand]
    raw = c0 - cpu * (50.0 / MAX_SPEC_CPU)
    raw -= gpu * (50.0 / MAX_SPEC_GPU)
    return np.trunc(raw, out=raw)


class BestFitPlacer(Placer):
    name = "bestfit"

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        return np.negative(best_fit_int(cluster, demand, cand)), None

    def place(self, cluster: Cluster, demand: Demand, rng: np.random.Generator,
              prefer: np.ndarray | None = None) -> Placement | None:
        """Same decision as the base class (top integer score; ties by rank or at random),
        scored over all nodes at once with infeasible ones masked: no candidate gathers (the
        simulator's hot path)."""
        if prefer is not None:
            return super().place(cluster, demand, rng, prefer)
        feas = cluster.feasible(demand)
        if not feas.any():
            return self._gang(cluster, demand, prefer)
        raw = best_fit_int(cluster, demand, None)
        raw[~feas] = -np.inf
        ties = (raw == raw.max()).nonzero()[0]
        if len(ties) == 1:
            n = int(ties[0])
        elif self.tie_rank is not None:
            n = int(ties[np.argmin(self.tie_rank[ties])])
        else:
            n = int(ties[int(rng.random() * len(ties))])
        return Placement(((n, self.choose_gpus(cluster.gpu_free[n], demand, rng)),))
