"""The FGD "workload inflation" protocol (Weng et al., ATC'23 §6.1; openb README).

Pods never depart. The pod list is first tuned to ``tune`` x the cluster's GPU capacity (random
pods removed while the summed GPU request is above the target, or random copies appended while
it stays below: the artifact's ``TunePodsByNodeTotalResource``), then shuffled with the seed, and
pods arrive one by one; each is placed by the placer or fails for good. The KPI is the GPU
allocation ratio as a function of the arrived GPU request, both in % of GPU capacity; the
paper's bar charts report ``100 - allocation`` at 100% arrived ("unallocated GPU %").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.sched.cluster import Cluster
from suanli.sched.job import MILLI, Workload
from suanli.sched.placement.base import Placer


@dataclass(frozen=True)
class InflationResult:
    """Allocation curve of one seed. Percentages are of the cluster's GPU capacity."""

    placer: str
    seed: int
    arrived_pct: np.ndarray  # after each pod
    allocated_pct: np.ndarray  # after each pod
    failed: int  # pods that could not be placed
    pods: int

    def allocated_at(self, arrived: float) -> float:
        """Allocation (%) once the arrived request first reaches ``arrived`` % (the state after
        the last pod whose arrival keeps the total at or below it)."""
        i = int(np.searchsorted(self.arrived_pct, arrived, side="right")) - 1
        return float(self.allocated_pct[i]) if i >= 0 else 0.0

    def unallocated_at(self, arrived: float = 100.0) -> float:
        """Arrived-but-unallocated GPU capacity (%), the paper's bar-chart metric at 100%."""
        return arrived - self.allocated_at(arrived)

    def curve(self, grid: np.ndarray) -> np.ndarray:
        """Allocation (%) at each arrived level of ``grid``."""
        idx = np.searchsorted(self.arrived_pct, grid, side="right") - 1
        return np.where(idx >= 0, self.allocated_pct[np.maximum(idx, 0)], 0.0)


def tune_pods(pods: Workload, capacity_milli: int, tune: float,
              rng: np.random.Generator, order: np.ndarray | None = None) -> np.ndarray:
    """Indices of the tuned pod list, in arrival order (the artifact's
    ``TunePodsByNodeTotalResource``, run after the shuffle).

    ``order`` is the shuffled original list (default: a fresh permutation). Above the target
    (``tune`` x GPU capacity) random pods are removed until the total is at or below it; below
    it, uniformly drawn copies of original pods are appended at the end (so the originals
    arrive first) until the next copy's per-GPU request would cross the target (the artifact
    compares ``total + gpu_milli``, then adds ``num_gpu x gpu_milli``).
    """
    if order is None:
        order = rng.permutation(len(pods))
    req = pods.num_gpu.astype(np.int64) * pods.gpu_milli
    per_gpu = np.where(pods.num_gpu > 0, pods.gpu_milli, 0).astype(np.int64)
    target = tune * capacity_milli
    total = int(req.sum())
    if total > target:
        keep = list(int(i) for i in order)
        while total > target and keep:
            total -= int(req[keep.pop(int(rng.integers(len(keep))))])
        return np.asarray(keep, dtype=np.int64)
    extra: list[int] = []
    while True:
        i = int(rng.integers(len(pods)))
        if total + per_gpu[i] > target:
            break
        extra.append(i)
        total += int(req[i])
    return np.concatenate([np.asarray(order, dtype=np.int64),
                           np.asarray(extra, dtype=np.int64)])


def run_inflation(cluster: Cluster, pods: Workload, placer: Placer, seed: int,
                  tune: float = 1.3, ties: str = "artifact") -> InflationResult:
    """One seed of the protocol on a fresh copy of ``cluster`` state (it is reset first).

    ``ties="artifact"``: equal scores go to the lowest entry of a seeded random node ranking
    (the artifact's patched scheduler, see :mod:`suanli.sched.placement.base`); ``"random"``:
    uniformly at random per decision (stock Kubernetes).
    """
    rng = np.random.default_rng(seed)
    cluster.reset()
    cap = cluster.total_gpus * MILLI
    order = tune_pods(pods, cap, tune, rng, order=rng.permutation(len(pods)))
    rank = rng.permutation(len(cluster.names))
    placer.tie_rank = rank if ties == "artifact" else None
    req = pods.num_gpu.astype(np.int64) * pods.gpu_milli
    arrived = np.cumsum(req[order]) * 100.0 / cap
    allocated = np.empty(len(order))
    used, failed = 0, 0
    demands: dict[tuple[int, int, int, int, int], object] = {}
    for j, i in enumerate(order):
        key = (int(pods.cpu_milli[i]), int(pods.mem_mib[i]), int(pods.num_gpu[i]),
               int(pods.gpu_milli[i]), int(pods.gpu_spec[i]))
        d = demands.get(key)
        if d is None:
            d = demands[key] = pods.demand(int(i))
        place = placer.place(cluster, d, rng)  # type: ignore[arg-type]
        if place is None:
            failed += 1
        else:
            cluster.allocate(place, d)  # type: ignore[arg-type]
            used += int(req[i])
        allocated[j] = used * 100.0 / cap
    placer.tie_rank = None
    return InflationResult(placer.name, seed, arrived, allocated, failed, len(order))
