"""GPU clustering: put jobs of the same GPU affinity class on the same nodes.

The FGD artifact's ``gpu_clustering_score.go`` (higher better there, negated here). Affinity
classes (``GetGpuAffinityFromPodAnnotation``): no GPU, any sharing request (one class), k whole
GPUs; a node's classes are those of the GPU jobs on it. With ``b = 25 (8000 - free milli-GPU)
// 8000`` (integer division):

- the node hosts only this class: 75 + b; this class among others: 50 + b;
- the node hosts no GPU job: 25 + b; only other classes: b;
- a job without GPUs scores 0 everywhere (ties).
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
        base = np.empty(len(cand), dtype=np.int64)
        for i, n in enumerate(cand):
            gpu_tags = [t for t, c in cluster.tags[int(n)].items() if t[0] > 0 and c > 0]
            if tag in gpu_tags:
                base[i] = 75 if len(gpu_tags) == 1 else 50
            else:
                base[i] = 25 if not gpu_tags else 0
        left = cluster.node_free[cand].astype(np.int64)
        return -(base + 25 * (MAX_SPEC_GPU - left) // MAX_SPEC_GPU).astype(float), None
