"""One placement round of the live scheduler, cheap under a long queue.

A pass never looks at the whole queue: it takes the first :data:`PER_TENANT` waiting jobs of
each tenant that has any (the ``(tenant_id, state, created_at)`` index answers each in a few
rows), orders them with the ``suanli.sched`` policy (fair share by default: weighted DRF with
nominal quotas, :mod:`suanli.sched.policies.fairshare`), and places at most :data:`PER_PASS`
of them, stopping as soon as the cluster is full. With 2,500 jobs of one tenant queued, a pass
reads ~``PER_TENANT x tenants`` rows, so another tenant's job starts on the next pass.

Preemption of borrowed capacity (Kueue-style): when a tenant's *nominal* job (within its
quota) cannot fit, running jobs of other tenants that *borrow* (beyond their quota) on one site
are asked to stop (``executor.cancel``: the signal; ``preempt_at`` stamped) until the job
would fit; they are requeued when they end, and asked again after the grace period if they
have not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.service.models import ACTIVE, Job, Tenant

MEM_UNLIMITED = 1 << 40  # MiB; executors report no memory, so memory never binds
PER_TENANT = 32  # waiting jobs of each tenant considered per pass
PER_PASS = 64  # placements per pass at most (the rest go next pass)


def demand_of(job: Job) -> tuple[int, int, int]:
    """(cpu_milli, num_gpu, gpu_milli) in the openb convention of :mod:`suanli.sched.job`."""
    if job.gpus <= 0:
        return round(job.cpus * 1000), 0, 0
    if job.gpus < 1:
        return round(job.cpus * 1000), 1, round(job.gpus * 1000)
    return round(job.cpus * 1000), int(job.gpus), 1000


def cluster_of(s: Session, res: dict[str, dict[str, float]]) -> tuple[Any, dict[str, int],
                                                                      list[Job]]:
    """The executor's sites (``res``: site -> {"CPU", "GPU"}) as a
    :class:`~suanli.sched.cluster.Cluster`, one node per site, minus what placed and active jobs
    hold; with the site -> node index and those jobs."""
    from suanli.sched.cluster import Cluster, Placement
    from suanli.sched.job import Demand
    from suanli.sched.placement.base import best_fit_gpus

    sites = sorted(res)
    cluster = Cluster.from_nodes([(site, int(res[site].get("CPU", 0) * 1000), MEM_UNLIMITED,
                                   int(res[site].get("GPU", 0)), "gpu", site) for site in sites])
    index = {site: i for i, site in enumerate(sites)}
    active = list(s.scalars(select(Job).where(Job.state.in_(("placed", *ACTIVE)))))
    for job in active:
        node = index.get(job.site or "")
        if node is None:
            continue
        cpu, ng, gm = demand_of(job)
        d = Demand(cpu, 0, ng, gm)
        if cluster.feasible(d)[node]:
            cluster.allocate(Placement(((node, best_fit_gpus(cluster.gpu_free[node], d)),)), d)
    return cluster, index, active


def candidates(s: Session) -> list[Job]:
    """The first :data:`PER_TENANT` waiting jobs of every tenant with waiting jobs."""
    tenants = list(s.scalars(select(Job.tenant_id).where(Job.state == "quoted").distinct()))
    out: list[Job] = []
    for t in tenants:
        out += s.scalars(select(Job).where(Job.tenant_id == t, Job.state == "quoted")
                         .order_by(Job.created_at).limit(PER_TENANT))
    return out


@dataclass
class Tenancy:
    """Per-tenant arrays for the fair-share policy: index, weight, usage, nominal quota."""

    index: dict[str, int]
    weight: np.ndarray  # (T,)
    used: np.ndarray  # (T, 2): milli-CPUs, GPUs held by placed/active jobs
    quota: np.ndarray  # (T, 2): nominal milli-CPUs, GPUs (0 = none)


def tenancy(s: Session, waiting: list[Job], active: list[Job]) -> Tenancy:
    ids = sorted({j.tenant_id for j in waiting} | {j.tenant_id for j in active})
    index = {t: i for i, t in enumerate(ids)}
    n = max(len(ids), 1)
    weight, used, quota = np.ones(n), np.zeros((n, 2)), np.zeros((n, 2))
    for t in s.scalars(select(Tenant).where(Tenant.id.in_(ids))):
        i = index[t.id]
        weight[i] = t.weight if t.weight and t.weight > 0 else 1.0
        quota[i] = ((t.quota_cpus or 0.0) * 1000, t.quota_gpus or 0.0)
    for j in active:
        used[index[j.tenant_id]] += (j.cpus * 1000, j.gpus)
    return Tenancy(index, weight, used, quota)


def preempt_for(s: Session, job: Job, node: int, cl: Any, active: list[Job], sites: list[str],
                policy: Any, ten: Tenancy, executor: Any, now: float) -> int:
    """Ask borrowed jobs of other tenants on site ``node`` to stop so that ``job`` fits there;
    returns how many were asked (0 when even that would not make room)."""
    on_node = [j for j in active if j.site == sites[node] and j.state in ACTIVE]
    on_node.sort(key=lambda j: (j.started_at or j.queued_at or 0.0))
    if not on_node:
        return 0
    owner = np.array([ten.index[j.tenant_id] for j in on_node])
    dem = np.array([(j.cpus * 1000, j.gpus) for j in on_node])
    borrowed = policy.borrowed(owner, dem)
    victims = [j for j, b in zip(on_node, borrowed, strict=True)
               if b and j.tenant_id != job.tenant_id and j.preempt_at is None]
    cpu, ng, _ = demand_of(job)
    need_cpu = cpu - int(cl.cpu_free[node])
    need_gpu = ng - int((cl.gpu_free[node] >= 1000).sum())
    chosen: list[Job] = []
    for v in reversed(victims):  # the most recently started first: least work lost
        if need_cpu <= 0 and need_gpu <= 0:
            break
        chosen.append(v)
        need_cpu -= round(v.cpus * 1000)
        need_gpu -= int(v.gpus)
    if need_cpu > 0 or need_gpu > 0:
        return 0
    for v in chosen:
        v.preempt_at = now
    s.commit()  # durable before the signal: the end of the run is then read as a preemption
    for v in chosen:
        if v.handle is not None:
            executor.cancel(v.handle)
    return len(chosen)
