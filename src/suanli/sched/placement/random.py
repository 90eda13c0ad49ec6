"""Random placement: any feasible node, uniformly (the "Random" baseline of FGD, ATC'23)."""

from __future__ import annotations

import numpy as np

from suanli.sched.cluster import Cluster
from suanli.sched.job import Demand
from suanli.sched.placement.base import Placer


class RandomPlacer(Placer):
    """Every feasible node scores 0, so the base class's tie-break picks one at random."""

    name = "random"

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        return np.zeros(len(cand)), None
