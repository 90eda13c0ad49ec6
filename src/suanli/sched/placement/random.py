"""Random placement: the "Random" baseline of FGD (Weng et al., ATC'23), as its artifact runs it.

The artifact's ``RandomScore`` plugin draws one feasible node uniformly (``PreScore``) and gives
it the top score, and its GPU-selection method is ``random``: a sharing pod takes one of the
node's GPUs that can hold it, uniformly (``allocateGpuIdBasedOnRandomFit``); whole-GPU pods
take the first idle GPUs by index.
"""

from __future__ import annotations

import numpy as np

from suanli.sched.cluster import Cluster
from suanli.sched.job import MILLI, Demand
from suanli.sched.placement.base import Placer


class RandomPlacer(Placer):
    """Every feasible node scores the same and the tie is always broken at random."""

    name = "random"

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        # a fresh uniform draw per candidate: the minimum is a uniformly random node whatever
        # tie rule the caller set
        return rng.random(len(cand)), None

    def choose_gpus(self, free_row: np.ndarray, demand: Demand,
                    rng: np.random.Generator) -> tuple[int, ...]:
        if demand.num_gpu == 0:
            return ()
        if demand.sharing:
            fits = np.flatnonzero(free_row >= demand.gpu_milli)
            return (int(fits[rng.integers(len(fits))]),)
        return tuple(int(g) for g in np.flatnonzero(free_row == MILLI)[: demand.num_gpu])
