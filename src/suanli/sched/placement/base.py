"""What every placer shares: candidate filtering, tie-breaking, GPU choice, multi-node gangs.

A placer scores the feasible nodes for one demand (lower is better) and the base class picks the
best node. Exact ties go to the node of lowest ``tie_rank`` when a rank is set, else uniformly
at random with the caller's seeded generator (stock Kubernetes ``selectHost``). The FGD
artifact runs a patched scheduler (``k8s.io/kubernetes => github.com/mental2008/kubernetes
v1.20.5-minor``) whose ``selectHost`` keeps the lexicographically smallest node name among equal
scores, and it prefixes node names with a seeded random permutation (``%04d-``): ties go to the
lowest entry of a per-run random node ranking, which packs work onto the same nodes. The FGD
protocol (:mod:`suanli.sched.inflation`) sets that ranking. Placers never read a clock.

Jobs that need more whole GPUs than any allowed node has (e.g. 16 GPUs on 8-GPU nodes) are
placed as a gang over several nodes, fullest-free nodes first (consolidation, as in Philly's
locality-preferring scheduler, Jeon et al. ATC'19 §3).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from suanli.sched.cluster import Cluster, Placement
from suanli.sched.job import MILLI, Demand

MAX_SPEC_CPU = 128_000  # milli-cores; normaliser of BestFit/DotProd (FGD artifact const.go)
MAX_SPEC_GPU = 8_000  # milli-GPU; idem


def pick_min(scores: np.ndarray, rng: np.random.Generator, tol: float = 1e-9,
             rank: np.ndarray | None = None) -> int:
    """Index of the smallest score; exact ties (within ``tol``) go to the smallest ``rank``
    (ranks of the candidates, all distinct) or, without ranks, uniformly at random."""
    best = scores.min()
    ties = (scores <= best + tol).nonzero()[0]
    if len(ties) == 1:
        return int(ties[0])
    if rank is not None:
        return int(ties[np.argmin(rank[ties])])
    return int(ties[int(rng.random() * len(ties))])  # uniform; random() is 4x faster


def best_fit_gpus(free_row: np.ndarray, demand: Demand) -> tuple[int, ...]:
    """GPUs for ``demand`` on a node with per-GPU free milli ``free_row``.

    Sharing jobs: the GPU with the least free capacity that still fits ("best" GPU selection of
    the FGD artifact). Whole-GPU jobs: the first fully free GPUs by index.
    """
    if demand.num_gpu == 0:
        return ()
    if demand.sharing:
        fits = (free_row >= demand.gpu_milli).nonzero()[0]
        return (int(fits[np.argmin(free_row[fits])]),)
    whole = (free_row == MILLI).nonzero()[0]
    return tuple(int(g) for g in whole[: demand.num_gpu])


class Placer:
    """Base class. Subclasses implement :meth:`score` (lower is better)."""

    name: ClassVar[str] = "base"
    tie_rank: np.ndarray | None = None  # per node; ties go to the lowest (None: random)

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores of candidate nodes ``cand`` and, optionally, the GPU each would use
        (for sharing jobs; ``None`` = best-fit GPU choice)."""
        raise NotImplementedError

    def choose_gpus(self, free_row: np.ndarray, demand: Demand,
                    rng: np.random.Generator) -> tuple[int, ...]:
        """GPUs on the chosen node (the artifact's default ``gpuSelMethod: best``)."""
        return best_fit_gpus(free_row, demand)

    def place(self, cluster: Cluster, demand: Demand, rng: np.random.Generator,
              prefer: np.ndarray | None = None) -> Placement | None:
        """Where ``demand`` should run now, or ``None`` if it cannot run.

        ``prefer`` (per node, lower is better) is a policy's primary key, e.g. a site's price:
        only the feasible nodes with the smallest ``prefer`` value are scored.
        """
        feas = cluster.feasible(demand)
        cand = feas.nonzero()[0]
        if len(cand) == 0:
            return self._gang(cluster, demand, prefer)
        if prefer is not None:
            p = prefer[cand]
            cand = cand[p <= p.min()]
        scores, gpu_choice = self.score(cluster, demand, cand, rng)
        rank = None if self.tie_rank is None else self.tie_rank[cand]
        i = pick_min(scores, rng, rank=rank)
        n = int(cand[i])
        if gpu_choice is not None and demand.sharing:
            gpus: tuple[int, ...] = (int(gpu_choice[i]),)
        else:
            gpus = self.choose_gpus(cluster.gpu_free[n], demand, rng)
        return Placement(((n, gpus),))

    def _gang(self, cluster: Cluster, demand: Demand,
              prefer: np.ndarray | None) -> Placement | None:
        """Multi-node placement for whole-GPU jobs larger than any allowed node."""
        if demand.num_gpu <= 1 or demand.gpu_milli != MILLI:
            return None
        ok = cluster.available & cluster.type_ok(demand) & (cluster.gpu_count > 0)
        if not ok.any() or demand.num_gpu <= int(cluster.gpu_count[ok].max()):
            return None  # a single node could hold it: wait until one frees up
        if prefer is not None:
            ok &= prefer <= prefer[ok].min()
        free = np.where(ok, cluster.whole_free(), 0)
        if free.sum() < demand.num_gpu:
            return None
        order = np.lexsort((np.arange(len(free)), -free))  # most free first, then by index
        parts, need = [], demand.num_gpu
        for n in order:
            if need == 0 or free[n] == 0:
                break
            take = int(min(free[n], need))
            whole = np.flatnonzero(cluster.gpu_free[n] == MILLI)[:take]
            parts.append((int(n), tuple(int(g) for g in whole)))
            need -= take
        k = len(parts)
        for n, _ in parts:  # CPU and memory are split evenly over the parts
            if cluster.cpu_free[n] < demand.cpu_milli // k or cluster.mem_free[n] < (
                    demand.mem_mib // k):
                return None
        return Placement(tuple(parts))
