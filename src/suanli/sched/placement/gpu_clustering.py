"""GPU clustering: put jobs with the same GPU request on the same nodes.

Tiers of the FGD artifact's ``gpu_clustering_score.go`` (higher better there, negated here);
within a tier, nodes with less free GPU score higher (+ 25 (8 - free GPUs)/8):
node hosts only this request class: 75+; hosts it among others: 50+; hosts nothing: 25+;
hosts only other classes: 0+. The request class is (num_gpu, gpu_milli).
"""

from __future__ import annotations

import numpy as np

from suanli.sched.cluster import Cluster
from suanli.sched.job import Demand
from suanli.sched.placement.base import MAX_SPEC_GPU, Placer


class GpuClusteringPlacer(Placer):
    name = "gpuclustering"

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        if demand.num_gpu == 0:
            return np.zeros(len(cand)), None
        tag = demand.tag
        base = np.empty(len(cand))
        for i, n in enumerate(cand):
            tags = cluster.tags[int(n)]
            gpu_tags = [t for t in tags if t[0] > 0]
            if tag in tags:
                base[i] = 75 if len(gpu_tags) == 1 else 50
            else:
                base[i] = 25 if not gpu_tags else 0
        left = cluster.node_free[cand]
        return -(base + 25 * (MAX_SPEC_GPU - left) / MAX_SPEC_GPU), None
