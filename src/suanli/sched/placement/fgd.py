"""Fragmentation Gradient Descent (FGD): Weng et al., "Beware of Fragmentation: Scheduling
GPU-Sharing Workloads with Fragmentation Gradient Descent", USENIX ATC'23, §4.

Fragmentation of node n for a target workload M (task classes m with popularity p_m), eq. (2):

    F_n(M) = sum_m p_m F_n(m)

with F_n(m) the GPU capacity of n that task m cannot use (milli-GPU):
- m needs no GPU, or n's GPU type is not allowed for m, or m cannot fit on n (not enough GPUs
  with ``free >= gpu_milli_m``, or not enough CPU): all of n's free GPU capacity;
- otherwise the free capacity of the GPUs with ``free < gpu_milli_m`` (too small for m).

FGD places a task where F grows the least ("gradient descent" on total fragmentation):
argmin over nodes n (and, for a sharing task, over the GPU g it would use) of
``F_n'(M) - F_n(M)``. The target workload is the popularity of request classes in the trace,
keeping the most popular classes up to 95% of pods, CPU-only pods included (the artifact's
``typicalPodsConfig``: threshold 95, isInvolvedCpuPods true).

Speed: F depends on a node only through its CPU left, GPU type and the multiset of GPU free
values, so per node we cache ``below[n, u]`` (free milli on GPUs with free < u) and
``cnt[n, u]`` (GPUs with free >= u) for each distinct request size u; a hypothetical placement
changes one GPU (sharing) or k idle GPUs (whole), so the new F of every candidate is an O(U + M)
update, vectorized over all candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.sched.cluster import Cluster
from suanli.sched.job import MILLI, Demand, Workload
from suanli.sched.placement.base import Placer
from suanli.sched.placement.bestfit import best_fit_score


@dataclass(frozen=True)
class TargetWorkload:
    """Task classes and their popularity p (sums to 1)."""

    cpu: np.ndarray  # milli-cores, [M]
    milli: np.ndarray  # milli-GPU per GPU, [M] (0 = CPU-only)
    num: np.ndarray  # GPUs, [M]
    specs: tuple[tuple[str, ...], ...]  # allowed GPU types per class, () = any
    p: np.ndarray  # popularity, [M]

    @classmethod
    def from_workload(cls, w: Workload, threshold: float = 1.0, include_cpu: bool = True,
                      gpu_weight: float = 0.0) -> TargetWorkload:
        """Request classes (cpu, gpu_milli, num_gpu, gpu types) by popularity.

        ``threshold`` keeps the most popular classes covering that share of jobs and
        renormalises (the artifact's ``GetTypicalPods`` uses 0.95; the paper's definition is the
        whole distribution, 1.0). ``gpu_weight`` w counts a whole-GPU job as ``1 + w num_gpu``
        jobs (the artifact's ``gpuResWeight``), so large jobs weigh more.
        """
        keep = np.ones(len(w), dtype=bool) if include_cpu else w.num_gpu > 0
        milli = np.where(w.num_gpu > 0, w.gpu_milli, 0)
        keys = np.stack([w.cpu_milli, milli, w.num_gpu, w.gpu_spec], axis=1)[keep]
        weight = np.where(w.gpu_milli == MILLI, 1.0 + gpu_weight * w.num_gpu, 1.0)[keep]
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        counts = np.bincount(inv.ravel(), weights=weight)
        # most popular first; equal counts by larger CPU, then GPU milli, then GPU count (the
        # artifact's ``SortTargetPodInDecreasingCount`` with ``PodResource.Less`` reversed)
        order = np.lexsort((-uniq[:, 2], -uniq[:, 1], -uniq[:, 0], -counts))
        uniq, counts = uniq[order], counts[order]
        cum = np.cumsum(counts) / counts.sum()
        m = int(np.searchsorted(cum, threshold - 1e-12) + 1)
        uniq, counts = uniq[:m], counts[:m]
        return cls(cpu=uniq[:, 0], milli=uniq[:, 1], num=uniq[:, 2],
                   specs=tuple(w.specs[int(s)] for s in uniq[:, 3]), p=counts / counts.sum())


class FGDPlacer(Placer):
    """FGD. ``quantize=True`` mimics the artifact's integer score
    ``int(100 sigmoid(-dF / 1000))`` with random ties (coarser, for comparison)."""

    name = "fgd"

    def __init__(self, target: TargetWorkload, quantize: bool = False) -> None:
        self.target = target
        self.quantize = quantize
        self._bound: Cluster | None = None

    # ---- per-cluster caches --------------------------------------------------------------
    def _bind(self, cluster: Cluster) -> None:
        t = self.target
        gm = t.milli > 0
        self.u = np.unique(t.milli[gm]) if gm.any() else np.array([MILLI])  # [U]
        self.u_idx = np.searchsorted(self.u, t.milli[gm])  # [Mg]
        self.g_cpu, self.g_num, self.g_p = t.cpu[gm], t.num[gm], t.p[gm]
        self.p_cpu_only = float(t.p[~gm].sum())
        specs = [s for s, g in zip(t.specs, gm, strict=True) if g]
        acc = np.array([[not s or ty in s for s in specs] for ty in cluster.types]
                       + [[not s for s in specs]], dtype=bool).reshape(len(cluster.types) + 1,
                                                                        len(specs))
        self.acc = acc  # [T+1, Mg]; row -1 = CPU-only node
        n = len(cluster)
        self.below = np.zeros((n, len(self.u)))
        self.cnt = np.zeros((n, len(self.u)), dtype=np.int64)
        self.total = np.zeros(n)
        self.frag = np.zeros(n)
        self.seen = np.full(n, -1, dtype=np.int64)
        self._bound = cluster

    def _refresh(self, cluster: Cluster) -> None:
        if self._bound is not cluster or len(self.seen) != len(cluster):
            self._bind(cluster)
        stale = np.flatnonzero(self.seen != cluster.version)
        if len(stale) == 0:
            return
        free = cluster.gpu_free[stale][:, :, None].astype(float)  # [S, G, 1]
        below = (free * (free < self.u)).sum(axis=1)
        cnt = (free >= self.u).sum(axis=1)
        total = free[:, :, 0].sum(axis=1)
        self.below[stale], self.cnt[stale], self.total[stale] = below, cnt, total
        self.frag[stale] = self.fragmentation(cluster.cpu_free[stale], below, cnt, total,
                                              cluster.gpu_type[stale])
        self.seen[stale] = cluster.version[stale]

    def fragmentation(self, cpu: np.ndarray, below: np.ndarray, cnt: np.ndarray,
                      total: np.ndarray, gtype: np.ndarray) -> np.ndarray:
        """F(M) in milli-GPU for node states given by their CPU left, cached terms, GPU type."""
        q3 = (self.acc[gtype] & (cnt[:, self.u_idx] >= self.g_num)
              & (cpu[:, None] >= self.g_cpu))  # [S, Mg]: class fits on the node
        frag = np.where(q3, below[:, self.u_idx], total[:, None])
        return frag @ self.g_p + total * self.p_cpu_only

    def node_fragmentation(self, cluster: Cluster) -> np.ndarray:
        """Current F_n(M) of every node (milli-GPU)."""
        self._refresh(cluster)
        return self.frag.copy()

    # ---- scoring -------------------------------------------------------------------------
    def deltas(self, cluster: Cluster, demand: Demand,
               cand: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Growth of fragmentation dF per candidate node and, for sharing jobs, the GPU."""
        self._refresh(cluster)
        cpu_after = cluster.cpu_free[cand] - demand.cpu_milli
        gtype = cluster.gpu_type[cand]
        if not demand.sharing:
            k, d = demand.num_gpu, demand.gpu_milli  # k idle GPUs go from 1000 to 0
            below = self.below[cand]  # unchanged: idle GPUs never count as "below" (u <= 1000)
            cnt = self.cnt[cand] - k
            total = self.total[cand] - k * d
            new = self.fragmentation(cpu_after, below, cnt, total, gtype)
            return new - self.frag[cand], None
        d = demand.gpu_milli
        free = cluster.gpu_free[cand]
        ci, g = np.nonzero((free >= d) & cluster.gpu_exists[cand])
        f = free[ci, g].astype(float)
        _, first = np.unique(ci * (2 * MILLI) + free[ci, g], return_index=True)
        ci, g, f = ci[first], g[first], f[first]  # one GPU per (node, free value)
        f2 = f - d
        u = self.u
        below = (self.below[cand[ci]] - (f * (f < u[:, None])).T
                 + (f2 * (f2 < u[:, None])).T)
        cnt = (self.cnt[cand[ci]] - (f >= u[:, None]).T + (f2 >= u[:, None]).T)
        total = self.total[cand[ci]] - d
        new = self.fragmentation(cpu_after[ci], below, cnt, total, gtype[ci])
        delta = new - self.frag[cand[ci]]
        if self.quantize:  # per node: best integer score, then the lowest GPU index
            delta = -artifact_score(delta)
            order = np.lexsort((g, delta, ci))
        else:  # per node: smallest delta, then tightest GPU
            order = np.lexsort((f, delta, ci))
        ci, g, delta = ci[order], g[order], delta[order]
        _, first = np.unique(ci, return_index=True)
        out = np.full(len(cand), np.inf)
        gpu = np.zeros(len(cand), dtype=np.int64)
        out[ci[first]] = delta[first]
        gpu[ci[first]] = g[first]
        return out, gpu

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        delta, gpu = self.deltas(cluster, demand, cand)  # sharing + quantize: already scored
        if self.quantize and not demand.sharing:
            return -artifact_score(delta), gpu
        return delta, gpu


def artifact_score(delta: np.ndarray) -> np.ndarray:
    """The artifact's integer FGD score (higher better): ``int(100 sigmoid(-dF / 1000))``,
    dF in milli-GPU (``calculateGpuShareFragExtendScore``). About 40 milli-GPU of dF per
    point near dF = 0, so small differences tie."""
    with np.errstate(over="ignore"):
        return np.trunc(100.0 / (1.0 + np.exp(delta / 1000.0)))


class FGDBestFitPlacer(FGDPlacer):
    """FGD, then best fit among nodes whose fragmentation grows equally (ours).

    Exact FGD ties are common (every idle node of a type gives the same dF, and CPU-only jobs
    leave F unchanged on many nodes); random tie-breaking spreads load over idle nodes. Breaking
    ties by the BestFit score keeps idle nodes idle for the large jobs that arrive later.
    """

    name = "fgd-bf"

    def __init__(self, target: TargetWorkload, resolution: float = 10.0) -> None:
        super().__init__(target)
        self.resolution = resolution  # milli-GPU: dF closer than this counts as a tie

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        delta, gpu = self.deltas(cluster, demand, cand)
        delta = np.round(delta / self.resolution)  # lexicographic (dF, best fit) below
        return delta + 1e-3 * best_fit_score(cluster, demand, cand), gpu


class FGDPackPlacer(FGDPlacer):
    """The artifact's FGD (integer scores, 95% typical pods), then, among nodes with the same
    score, a node that already runs GPU work before an idle one (ours).

    Integer FGD scores tie often (about 40 milli-GPU of fragmentation growth per point); the
    reference breaks ties by a fixed node ranking, which already packs. Preferring partly used
    nodes first keeps idle nodes whole for the multi-GPU jobs that arrive later.
    """

    name = "fgd-pack"

    def __init__(self, target: TargetWorkload) -> None:
        super().__init__(target, quantize=True)

    def score(self, cluster: Cluster, demand: Demand, cand: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        s, gpu = super().score(cluster, demand, cand, rng)
        idle = cluster.node_free[cand] == cluster.gpu_count[cand].astype(np.int64) * MILLI
        return s + 1e-3 * idle, gpu  # below one score point: a tie-breaker only
