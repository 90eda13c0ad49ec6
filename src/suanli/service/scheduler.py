"""The live scheduler: the simulator's policy and placer code, driven by the wall clock.

One pass (:meth:`LiveScheduler.step`), every ``poll_interval_s`` seconds on a background thread:

1. quote: ``submitted`` jobs get a list price (cpus x CPU $/h + gpus x GPU $/h,
   :class:`Prices`) and become ``quoted``;
2. order and place: the waiting (``quoted``) jobs become a :class:`~suanli.sched.job.Workload`,
   the executor's sites a :class:`~suanli.sched.cluster.Cluster` (one node per site, minus what
   active jobs hold); the ``suanli.sched`` policy orders them (``Policy.order(view, now)``, as in
   the simulator) and the placer picks a site for each in turn (backfill: a job that does not
   fit waits, later ones may go). A job that can never fit fails with the reason. On a site
   of the network (an executor site named like a network site id) the GPU price is that site's
   device-hour price; the predicted cost is ``predicted_duration_s x price`` unless given;
3. hand off: each placed job goes to ``executor.submit`` (state ``queued``, handle stored);
4. poll: ``queued``/``running`` jobs are polled; terminal ones get the actual duration
   (``finished_at - started_at``), the actual cost (``duration x price``) and a usage record.

Restart safety (:meth:`recover`, run before the first pass): jobs with a handle are re-attached
(``executor.reattach``); LOST ones fail with the executor's reason. ``placed`` jobs without a
handle go back to ``quoted``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from suanli.network.sites import Network
from suanli.service.executors.base import Executor, JobSpec, RunState, RunStatus
from suanli.service.lifecycle import transition
from suanli.service.models import ACTIVE, Job, UsageRecord

log = logging.getLogger("suanli.service.scheduler")
MEM_UNLIMITED = 1 << 40  # MiB; executors report no memory, so memory never binds


@dataclass(frozen=True)
class Prices:
    """List prices used for predicted and actual cost (USD per resource-hour)."""

    cpu_usd_per_hour: float = 0.05  # $/vCPU-h (order of a general-purpose cloud vCPU)
    gpu_usd_per_hour: float = 2.50  # $/device-h (order of an on-demand datacentre GPU)

    def per_hour(self, cpus: float, gpus: float) -> float:
        return cpus * self.cpu_usd_per_hour + gpus * self.gpu_usd_per_hour


def demand_of(job: Job) -> tuple[int, int, int]:
    """(cpu_milli, num_gpu, gpu_milli) in the openb convention of :mod:`suanli.sched.job`."""
    if job.gpus <= 0:
        return round(job.cpus * 1000), 0, 0
    if job.gpus < 1:
        return round(job.cpus * 1000), 1, round(job.gpus * 1000)
    return round(job.cpus * 1000), int(job.gpus), 1000


class LiveScheduler:
    """See the module doc. ``step`` is public so tests can drive passes one by one."""

    def __init__(self, sessions: sessionmaker[Session], executor: Executor, *,
                 policy: str = "fifo", placer: str = "bestfit", interval_s: float = 0.25,
                 prices: Prices | None = None) -> None:
        from suanli.sched.placement import make_placer
        from suanli.sched.policies import make_policy

        self.sessions, self.executor, self.interval_s = sessions, executor, interval_s
        self.policy, self.placer = make_policy(policy), make_placer(placer)
        self.prices = prices or Prices()
        self.rng = np.random.default_rng(0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        self._net: Network | None = None  # loaded on the first GPU placement
        self.last_error: str | None = None

    # ---- lifecycle of the loop -------------------------------------------------------
    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._run, name="suanli-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
                self.last_error = None
            except Exception as exc:  # keep the loop alive; the error is visible in /health
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("scheduler pass failed")
            self._stop.wait(self.interval_s)

    # ---- restart safety ---------------------------------------------------------------
    def recover(self) -> dict[str, int]:
        """Re-attach handed-off jobs after a restart; returns counts by outcome."""
        counts = {"reattached": 0, "failed": 0, "requeued": 0}
        now = time.time()
        with self.sessions() as s:
            for job in s.scalars(select(Job).where(Job.state.in_(("placed", *ACTIVE)))):
                if job.handle is None:
                    transition(job, "quoted", now)
                    job.site, job.placed_at = None, None
                    counts["requeued"] += 1
                    continue
                try:
                    st = self.executor.reattach(job.handle)
                except Exception as exc:
                    st = RunStatus(RunState.LOST, None, f"re-attach failed: {exc}", None, now)
                if st.state is RunState.LOST:
                    self._finish(s, job, st, now, prefix="lost across a service restart: ")
                    counts["failed"] += 1
                else:
                    self._apply(s, job, st, now)
                    counts["reattached"] += 1
            s.commit()
        log.info("recovery: %s", counts)
        return counts

    # ---- one pass -------------------------------------------------------------------
    def step(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.sessions() as s:
            for job in s.scalars(select(Job).where(Job.state.in_(("submitted", "quoted")),
                                                   Job.cancel_requested.is_(True))):
                transition(job, "cancelled", now, error="cancelled before it ran")
            self._quote(s, now)
            s.commit()
            self._place_and_submit(s, now)
            self._poll(s, now)
        self.passes += 1

    def _quote(self, s: Session, now: float) -> None:
        for job in s.scalars(select(Job).where(Job.state == "submitted")):
            job.usd_per_hour = self.prices.per_hour(job.cpus, job.gpus)
            transition(job, "quoted", now)

    def _cluster(self, s: Session) -> tuple[object, dict[str, int]]:
        from suanli.sched.cluster import Cluster, Placement
        from suanli.sched.job import Demand
        from suanli.sched.placement.base import best_fit_gpus

        res = self.executor.resources()
        sites = sorted(res)
        cluster = Cluster.from_nodes([(site, int(res[site].get("CPU", 0) * 1000), MEM_UNLIMITED,
                                       int(res[site].get("GPU", 0)), "gpu", site)
                                      for site in sites])
        index = {site: i for i, site in enumerate(sites)}
        for job in s.scalars(select(Job).where(Job.state.in_(("placed", *ACTIVE)))):
            node = index.get(job.site or "")
            if node is None:
                continue
            cpu, ng, gm = demand_of(job)
            d = Demand(cpu, 0, ng, gm)
            if cluster.feasible(d)[node]:
                cluster.allocate(Placement(((node, best_fit_gpus(cluster.gpu_free[node], d)),)),
                                 d)
        return cluster, index

    def _place_and_submit(self, s: Session, now: float) -> None:
        from suanli.sched.cluster import Cluster, Placement
        from suanli.sched.job import Demand, Workload
        from suanli.sched.placement.base import best_fit_gpus
        from suanli.sched.policies.base import SchedView

        waiting = list(s.scalars(select(Job).where(Job.state == "quoted",
                                                   Job.cancel_requested.is_(False))
                                 .order_by(Job.created_at).limit(500)))
        if not waiting:
            return
        self._net = None  # reload: sites may have joined since the last pass
        cl, index = self._cluster(s)
        assert isinstance(cl, Cluster)
        dem = [demand_of(j) for j in waiting]
        n = len(waiting)
        wl = Workload(submit=np.array([j.created_at for j in waiting]),
                      duration=np.array([j.predicted_duration_s or 3600.0 for j in waiting]),
                      num_gpu=np.array([d[1] for d in dem], dtype=np.int32),
                      gpu_milli=np.array([d[2] for d in dem], dtype=np.int32),
                      cpu_milli=np.array([d[0] for d in dem], dtype=np.int64),
                      mem_mib=np.zeros(n, dtype=np.int64), gpu_spec=np.zeros(n, dtype=np.int32))
        view = SchedView(workload=wl, cluster=cl, waiting=np.arange(n), running=np.array([], int),
                         attained=np.zeros(n), run_since=np.full(n, np.nan),
                         remaining=wl.duration.copy())
        cpu_max, gpu_max = int(cl.cpu_cap.max(initial=0)), int(cl.gpu_count.max(initial=0))
        for i in self.policy.order(view, now).tolist():
            job, (cpu, ng, gm) = waiting[i], dem[i]
            d = Demand(cpu, 0, ng, gm)
            if job.site_request is not None and job.site_request not in index:
                transition(job, "failed", now, error=f"site '{job.site_request}' is not in this "
                           f"cluster; sites: {', '.join(index) or 'none'}")
                continue
            if cpu > cpu_max or ng > gpu_max:
                transition(job, "failed", now, error=f"needs {job.cpus:g} CPUs and {job.gpus:g}"
                           f" GPUs; the largest site has {cpu_max / 1000:g} CPUs and {gpu_max} "
                           "GPUs: ask for less")
                continue
            if job.site_request is not None:
                node = index[job.site_request]
                place = Placement(((node, best_fit_gpus(cl.gpu_free[node], d)),)) \
                    if cl.feasible(d)[node] else None
            else:
                place = self.placer.place(cl, d, self.rng)
            if place is None:
                continue  # waits for capacity; later jobs may still fit (backfill)
            cl.allocate(place, d)
            job.site = cl.names[place.parts[0][0]]
            self._price(s, job)
            transition(job, "placed", now)
            s.commit()  # the decision is durable before the hand-off
            self._submit(s, job, now)
        s.commit()  # the jobs failed above

    def _price(self, s: Session, job: Job) -> None:
        """The placed site's price, and the predicted cost from it (unless given)."""
        from suanli.service.netview import job_price, network_with_joined, site_gpu_price

        if job.gpus > 0 and job.site is not None:
            if self._net is None:
                self._net = network_with_joined(s)
            gpu = site_gpu_price(self._net, job.site, job.hardware)
            job.usd_per_hour = job_price(job, gpu, self.prices.cpu_usd_per_hour,
                                         self.prices.gpu_usd_per_hour)
        if job.predicted_cost_usd is None and job.predicted_duration_s is not None:
            job.predicted_cost_usd = job.predicted_duration_s / 3600.0 * job.usd_per_hour

    def _submit(self, s: Session, job: Job, now: float) -> None:
        import json

        spec = JobSpec(job_id=job.id, tenant_id=job.tenant_id, kind=job.kind,
                       command=job.command, entrypoint=job.entrypoint,
                       args=json.loads(job.args_json), cpus=job.cpus, gpus=job.gpus,
                       memory_mb=job.memory_mb, site=job.site, env={"SUANLI_JOB_ID": job.id})
        try:
            job.handle = self.executor.submit(spec)
        except Exception as exc:
            transition(job, "failed", now, error=f"executor refused the job: {exc}")
        else:
            transition(job, "queued", now)
        s.commit()

    def _poll(self, s: Session, now: float) -> None:
        for job in s.scalars(select(Job).where(Job.state.in_(ACTIVE))):
            assert job.handle is not None
            if job.cancel_requested:
                self.executor.cancel(job.handle)
            st = self.executor.status(job.handle)
            if job.cancel_requested and not st.state.terminal:
                continue  # stopping; look again next pass
            self._apply(s, job, st, now)
            s.commit()

    def _apply(self, s: Session, job: Job, st: RunStatus, now: float) -> None:
        if st.state is RunState.RUNNING and job.state == "queued":
            transition(job, "running", st.started_at or now)
        elif st.state.terminal:
            self._finish(s, job, st, now)

    def _finish(self, s: Session, job: Job, st: RunStatus, now: float, prefix: str = "") -> None:
        """Terminal state, actual duration and cost, and one usage record."""
        new = {RunState.SUCCEEDED: "succeeded", RunState.CANCELLED: "cancelled"}.get(
            st.state, "failed")
        end = st.finished_at or now
        if job.started_at is None and st.started_at is not None:
            job.started_at = st.started_at
        transition(job, new, end, error=None if new == "succeeded" else prefix + st.message)
        job.exit_code = st.exit_code
        job.finished_at = end
        if job.started_at is not None:
            dur = max(0.0, end - job.started_at)  # seconds
            job.actual_duration_s = dur
            job.actual_cost_usd = dur / 3600.0 * job.usd_per_hour
            s.add(UsageRecord(tenant_id=job.tenant_id, job_id=job.id, site=job.site,
                              cpu_seconds=dur * job.cpus, gpu_seconds=dur * job.gpus,
                              duration_s=dur, cost_usd=job.actual_cost_usd, created_at=now))
        assert math.isfinite(end)
