"""Whether a job can fit, by cheap exact tests the simulator (:mod:`suanli.sched.simulate`) runs
before it asks a placer: ever (on the empty cluster: a job that cannot is rejected on arrival,
not left waiting forever), now (a necessary condition over a whole candidate list at once, so
a scheduling pass skips jobs that cannot start) and relative to a demand that already failed
in this pass (a job that asks for at least as much cannot fit either). Each is a necessary
condition only: the placer still decides."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from suanli.sched.cluster import Cluster
from suanli.sched.job import MILLI, Demand, Workload
from suanli.sched.policies.base import Policy


def dominates(a: Demand, b: Demand) -> bool:
    """Does ``a`` ask for at least everything ``b`` asks for (same GPU type constraint)?"""
    return (a.gpu_types == b.gpu_types and a.num_gpu >= b.num_gpu and a.gpu_milli >= b.gpu_milli
            and a.cpu_milli >= b.cpu_milli and a.mem_mib >= b.mem_mib)


def can_ever_run(c: Cluster, d: Demand) -> bool:
    """Could ``d`` run on the empty cluster ``c``? One node of an allowed type with enough
    GPUs, CPU and memory; or, for a gang (more GPUs than any allowed node), the nodes the gang
    rule takes on the empty cluster hold its CPU and memory shares."""
    typed = c.type_ok(d) if d.num_gpu else np.ones(len(c), dtype=bool)
    fits = typed & (c.cpu_cap >= d.cpu_milli) & (c.mem_cap >= d.mem_mib) & (
        c.gpu_count >= d.num_gpu)
    gang = False
    if (d.num_gpu > 1 and d.gpu_milli == MILLI and typed.any()
            and d.num_gpu > int(c.gpu_count[typed].max())):
        # the gang rule on the empty cluster: most GPUs first, CPU/memory split evenly
        count = np.where(typed, c.gpu_count, 0)
        order = np.lexsort((np.arange(len(c)), -count))
        take = np.cumsum(count[order])
        k = int(np.searchsorted(take, d.num_gpu)) + 1
        parts = order[:k]
        gang = bool(k <= len(c) and take[-1] >= d.num_gpu
                    and (c.cpu_cap[parts] >= d.cpu_milli // k).all()
                    and (c.mem_cap[parts] >= d.mem_mib // k).all())
    return bool(fits.any() or gang)


def may_fit(c: Cluster, w: Workload, policy: Policy, backfill: bool, cand: np.ndarray,
            keys: np.ndarray, free: int, worst: Callable[[], float]
            ) -> tuple[np.ndarray, np.ndarray]:
    """The candidates ``cand`` (with their policy ``keys``) that may fit now, by a necessary
    condition (vectorized): GPUs needed <= ``free``; whole-GPU jobs no larger than the most
    idle GPUs on one available node (or, for gangs, than all idle GPUs); sharing jobs <= the
    freest GPU; with a preemptive policy, also jobs that may evict the lowest-priority running
    job (key ``worst()``). Without ``backfill`` the list is cut at the first job that fails
    (it blocks the queue)."""
    avail = c.available
    max_whole = int(c.node_whole[avail].max()) if avail.any() else 0
    max_gpu = int(c.gpu_free[avail].max()) if avail.any() else 0
    total_whole = int(c.node_whole[avail].sum())
    node_max = int(c.gpu_count.max())
    ng, gm = w.num_gpu[cand], w.gpu_milli[cand]
    need = ng.astype(np.int64) * gm
    whole = gm == MILLI
    ok = need <= free
    ok &= np.where(whole, np.where(ng > node_max, ng <= total_whole, ng <= max_whole),
                   gm <= max_gpu)
    ok |= ng == 0
    if policy.preemptive and not ok.all() and np.isfinite(worst()):
        ok |= policy.can_preempt_many(keys, worst())
    if not backfill:
        bad = np.flatnonzero(~ok)
        stop = int(bad[0]) if len(bad) else len(cand)
        return cand[: stop + 1], keys[: stop + 1]
    return cand[ok], keys[ok]
