"""The live scheduler: the simulator's policy and placer code, driven by the wall clock.

One pass (:meth:`LiveScheduler.step`), every ``poll_interval_s`` seconds on a background thread,
run only by the instance that leads (:mod:`suanli.service.leader`):

1. cancel and quote: waiting jobs with a cancel request are cancelled, ``submitted`` jobs get
   a list price (cpus x CPU $/h + gpus x GPU $/h, :class:`Prices`) and become ``quoted`` (two
   set-based UPDATEs, whatever the queue length);
2. order, place, hand off (:mod:`suanli.service.placing`): a bounded set of waiting jobs is
   ordered by the policy (fair share by default) and placed on the executor's sites as a
   :class:`~suanli.sched.cluster.Cluster`; a placed job is made ``placed`` by a conditional
   UPDATE (so a cancel that raced it wins), then ``executor.submit`` with a submission id
   derived from the job id and attempt (a second leader re-submitting it finds the same run);
3. poll: ``queued``/``running`` jobs are polled; their logs are copied into ``job_logs`` (at
   most every ``log_interval_s`` and once at the end); terminal ones get the actual duration,
   cost and a usage record; preempted ones are requeued (:mod:`suanli.service.polling`; the
   pass's changes are written in one transaction at its end).

The engine may be unreachable (:class:`ExecutorUnavailable`): the health turns ``down`` (the API
answers 503), and after ``lost_after_s`` of outage every running job is *lost*: requeued while
it has retries left (``max_retries``), failed with the reason otherwise.

Restart safety (:meth:`recover`, run when this instance starts to lead): jobs with a handle are
re-attached; LOST ones follow the retry policy; ``placed`` jobs without a handle are handed
off again under the same submission id.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from suanli.network.sites import Network
from suanli.service.executors.base import (
    Executor,
    ExecutorUnavailable,
    JobSpec,
    RunState,
    RunStatus,
)
from suanli.service.lifecycle import finish, requeue, transition
from suanli.service.models import ACTIVE, LOG_CAP_BYTES, Job
from suanli.service.netview import Prices
from suanli.service.placing import PER_PASS, candidates, cluster_of, demand_of, preempt_for, tenancy
from suanli.service.polling import apply, copy_logs, poll, yield_gil
from suanli.service.state import EngineHealth

log = logging.getLogger("suanli.service.scheduler")

__all__ = ["LiveScheduler", "Prices", "demand_of"]


class LiveScheduler:
    """See the module doc. ``step`` is public so tests can drive passes one by one."""

    def __init__(self, sessions: sessionmaker[Session], executor: Executor, *,
                 policy: str = "fairshare", placer: str = "bestfit", interval_s: float = 0.25,
                 prices: Prices | None = None, health: EngineHealth | None = None,
                 leadership: object | None = None, lost_after_s: float = 30.0,
                 grace_s: float = 10.0, log_interval_s: float = 1.0) -> None:
        from suanli.sched.placement import make_placer
        from suanli.sched.policies import make_policy

        self.sessions, self.executor, self.interval_s = sessions, executor, interval_s
        self.policy, self.placer = make_policy(policy), make_placer(placer)
        self.prices = prices or Prices()
        self.health = health or EngineHealth()
        self.leadership = leadership  # None: always lead (tests, SQLite behind its lock)
        self.lost_after_s, self.grace_s, self.log_interval_s = (lost_after_s, grace_s,
                                                                 log_interval_s)
        self.rng = np.random.default_rng(0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        self.leading = False
        self._net: Network | None = None  # loaded on the first GPU placement
        self._copied: dict[str, float] = {}  # job id -> last log copy (unix s)
        self.last_error: str | None = None
        self.pass_started: float | None = None  # unix s; None between passes
        self.stuck_after_s = 10.0  # a pass longer than this means the engine hangs

    # ---- lifecycle of the loop -------------------------------------------------------
    def _lead(self) -> bool:
        ok = self.leadership is None or bool(self.leadership.is_leader())  # type: ignore[attr-defined]
        if ok and not self.leading:
            self.recover()
        self.leading = ok
        return ok

    def start(self) -> None:
        self._lead()
        self._thread = threading.Thread(target=self._run, name="suanli-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        release = getattr(self.leadership, "release", None)
        if release is not None:
            release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._lead():
                    self.step()
                else:
                    self._probe()
                self.last_error = None
            except Exception as exc:  # keep the loop alive; the error is visible in /health
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("scheduler pass failed")
            self._stop.wait(self.interval_s)

    def _probe(self) -> None:
        """A standby keeps the engine's health current (for /health and 503s)."""
        if self.passes % 8 == 0:
            try:
                self.executor.resources()
                self.health.up()
            except Exception as exc:
                self.health.down(f"{type(exc).__name__}: {exc}", time.time())
        self.passes += 1

    # ---- restart safety ---------------------------------------------------------------
    def recover(self) -> dict[str, int]:
        """Re-attach handed-off jobs after a restart; returns counts by outcome."""
        counts = {"reattached": 0, "lost": 0, "resubmitted": 0, "unreachable": 0}
        now = time.time()
        with self.sessions() as s:
            for job in list(s.scalars(select(Job).where(Job.state.in_(("placed", *ACTIVE))))):
                if job.handle is None:  # decided, maybe handed off: same submission id again
                    try:
                        self._submit(s, job, now)
                        counts["resubmitted"] += 1
                    except ExecutorUnavailable as exc:
                        self.health.down(str(exc), now)
                        counts["unreachable"] += 1
                    continue
                try:
                    try:
                        st = self.executor.reattach(job.handle)
                    except Exception as exc:
                        self._classify(exc)
                        st = RunStatus(RunState.LOST, None, f"re-attach failed: {exc}", None,
                                       now)
                except ExecutorUnavailable as exc:
                    self.health.down(str(exc), now)
                    counts["unreachable"] += 1
                    continue
                if st.state is RunState.LOST:
                    self._lost(s, job, "lost across a service restart: " + st.message, now)
                    counts["lost"] += 1
                else:
                    copy_logs(self, s, job, now, final=st.state.terminal)
                    apply(s, job, st, now)
                    counts["reattached"] += 1
                s.commit()
        log.info("recovery: %s", counts)
        return counts

    # ---- one pass -------------------------------------------------------------------
    def stuck_s(self, now: float) -> float:
        """Seconds the current pass has been running (0 between passes): a pass blocked on an
        engine that accepts connections but never answers shows here."""
        started = self.pass_started
        return 0.0 if started is None else max(0.0, now - started)

    def step(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.pass_started = time.time()
        try:
            self._step(now)
        finally:
            self.pass_started = None

    def _step(self, now: float) -> None:
        with self.sessions() as s:
            s.execute(update(Job).where(Job.state.in_(("submitted", "quoted")),
                                        Job.cancel_requested.is_(True))
                      .values(state="cancelled", finished_at=now, error="cancelled before it ran"))
            p = self.prices
            # a job created after this pass's clock reading waits for the next pass
            s.execute(update(Job).where(Job.state == "submitted", Job.created_at <= now).values(
                state="quoted", quoted_at=now,
                usd_per_hour=Job.cpus * p.cpu_usd_per_hour + Job.gpus * p.gpu_usd_per_hour))
            s.commit()
            try:
                if not self.health.ok:
                    self._resources()  # up again only when the engine answers
                self._place_and_submit(s, now)
                poll(self, s, now)
                self.health.up()
            except ExecutorUnavailable as exc:
                s.rollback()
                self.health.down(str(exc), now)
                self._engine_down(s, now)
        self.passes += 1

    def _resources(self) -> dict[str, dict[str, float]]:
        """``executor.resources()``; any failure of it means the engine is unreachable."""
        try:
            return self.executor.resources()
        except ExecutorUnavailable:
            raise
        except Exception as exc:
            raise ExecutorUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _classify(self, exc: Exception) -> None:
        """After a failed executor call: raise :class:`ExecutorUnavailable` when the engine
        does not answer at all (so the failure is the engine's, not this job's)."""
        if isinstance(exc, ExecutorUnavailable):
            raise exc
        self._resources()

    def _engine_down(self, s: Session, now: float) -> None:
        """After ``lost_after_s`` of outage, every handed-off job is lost (retry policy)."""
        since = self.health.down_since
        if since is None or now - since < self.lost_after_s:
            return
        for job in list(s.scalars(select(Job).where(Job.state.in_(ACTIVE)))):
            self._lost(s, job, f"the engine has been unreachable for {now - since:.0f} s "
                       f"({self.health.reason})", now)
        s.commit()

    def _lost(self, s: Session, job: Job, reason: str, now: float) -> None:
        """A run that is gone: requeue while retries are left, else fail with the reason."""
        if job.cancel_requested:
            transition(job, "cancelled", now, error=f"cancelled; its run was lost: {reason}")
        elif max(job.attempts, 1) <= job.max_retries:
            requeue(job, now, f"run {job.attempts} lost ({reason}); requeued "
                          f"(retry {job.attempts} of {job.max_retries})")
        else:
            finish(s, job, RunStatus(RunState.LOST, None, reason, None, now), now,
                         suffix=f" (no retries left: max_retries={job.max_retries})")

    def _place_and_submit(self, s: Session, now: float) -> None:
        from suanli.sched.cluster import Cluster, Placement
        from suanli.sched.job import Demand, Workload
        from suanli.sched.placement.base import best_fit_gpus
        from suanli.sched.policies.base import SchedView
        from suanli.sched.policies.fairshare import CLASS_SPAN, FairShare

        waiting = [j for j in candidates(s) if not j.cancel_requested]
        if not waiting:
            return
        self._net = None  # reload: sites may have joined since the last pass
        cl, index, active = cluster_of(s, self._resources())
        assert isinstance(cl, Cluster)
        mark_live = getattr(self.placer, "mark_live", None)  # the broker's: live sites only
        if mark_live is not None:
            mark_live(cl)
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
        fair = isinstance(self.policy, FairShare)
        ten = tenancy(s, waiting, active)
        keys = np.zeros(n)
        if fair:
            assert isinstance(self.policy, FairShare)
            self.policy.set_owners(np.array([ten.index[j.tenant_id] for j in waiting]),
                                   ten.weight, ten.used, ten.quota)
            keys = self.policy.keys(np.arange(n), view, now)
        order = self.policy.order(view, now).tolist()
        cpu_max, gpu_max = int(cl.cpu_cap.max(initial=0)), int(cl.gpu_count.max(initial=0))
        placed, preempted = 0, False
        decided: list[tuple[Job, str]] = []
        sites = list(index)
        for i in order:
            if placed >= PER_PASS:
                break
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
            nodes = [index[job.site_request]] if job.site_request is not None else \
                list(range(len(sites)))
            if job.site_request is not None:
                node = nodes[0]
                place = Placement(((node, best_fit_gpus(cl.gpu_free[node], d)),)) \
                    if cl.feasible(d)[node] else None
            elif hasattr(self.placer, "place_job"):  # the broker's: the job's data counts
                place = self.placer.place_job(cl, d, self.rng, job)
            else:
                place = self.placer.place(cl, d, self.rng)
            if place is None:
                if fair and not preempted and keys[i] < CLASS_SPAN:  # nominal job: make room
                    for node in nodes:
                        if preempt_for(s, job, node, cl, active, sites, self.policy, ten,
                                       self.executor, now):
                            preempted = True
                            break
                continue  # waits for capacity; later jobs may still fit (backfill)
            cl.allocate(place, d)
            decided.append((job, cl.names[place.parts[0][0]]))
            placed += 1
        s.commit()  # the jobs failed above
        claimed = self._claim(s, decided, now)
        batch = getattr(self.executor, "batch", None)  # hand-offs written together (broker)
        with batch() if batch is not None and claimed else contextlib.nullcontext():
            for job in claimed:  # hand-offs; one commit for their handles
                yield_gil()
                self._submit(s, job, now, commit=False)
        s.commit()

    def _claim(self, s: Session, decided: list[tuple[Job, str]], now: float) -> list[Job]:
        """``quoted -> placed`` for each decision as a conditional UPDATE, all in one
        transaction committed before any hand-off; a job that changed meanwhile (a cancel won)
        is left out."""
        won = []
        for job, site in decided:
            usd, cost = self._price(s, job, site)
            res = s.execute(update(Job).where(Job.id == job.id, Job.state == "quoted",
                                              Job.cancel_requested.is_(False))
                            .values(state="placed", site=site, placed_at=now, usd_per_hour=usd,
                                    predicted_cost_usd=cost)
                            .execution_options(synchronize_session=False))
            if getattr(res, "rowcount", 0) == 1:
                won.append(job)
        s.commit()
        if won:  # one read brings their new columns back (not a refresh per job)
            ids = [j.id for j in won]
            s.execute(select(Job).where(Job.id.in_(ids))
                      .execution_options(populate_existing=True)).all()
        return won

    def _price(self, s: Session, job: Job, site: str) -> tuple[float, float | None]:
        """(USD per hour on ``site``, predicted cost): the site's device price for GPU jobs
        (:func:`~suanli.service.netview.job_price`), cost = predicted duration x price unless
        given."""
        from suanli.service.netview import job_price, network_with_joined, site_gpu_price

        usd = job.usd_per_hour
        if job.gpus > 0:
            if self._net is None:
                self._net = network_with_joined(s)
            gpu = site_gpu_price(self._net, site, job.hardware)
            usd = job_price(job, gpu, self.prices.cpu_usd_per_hour, self.prices.gpu_usd_per_hour)
        cost = job.predicted_cost_usd
        if cost is None and job.predicted_duration_s is not None:
            cost = job.predicted_duration_s / 3600.0 * usd
        return usd, cost

    def _submit(self, s: Session, job: Job, now: float, commit: bool = True) -> None:
        """Hand ``job`` to the executor under a submission id fixed by (job, attempt)."""
        import json

        run = job.attempts
        spec = JobSpec(job_id=job.id if run == 0 else f"{job.id}-r{run}",
                       tenant_id=job.tenant_id, kind=job.kind, command=job.command,
                       entrypoint=job.entrypoint, args=json.loads(job.args_json),
                       cpus=job.cpus, gpus=job.gpus, memory_mb=job.memory_mb, site=job.site,
                       hardware=job.hardware,
                       env={"SUANLI_JOB_ID": job.id}, network=job.network,
                       wall_time_s=job.wall_time_s, log_limit_bytes=LOG_CAP_BYTES)
        try:
            try:
                handle = self.executor.submit(spec)
            except Exception as exc:
                self._classify(exc)
                raise
        except ExecutorUnavailable:
            transition(job, "quoted", now)  # not handed off (or found again under its id)
            job.site, job.placed_at = None, None
            s.commit()
            raise
        except Exception as exc:
            transition(job, "failed", now, error=f"executor refused the job: {exc}")
        else:
            job.handle, job.attempts = handle, run + 1
            transition(job, "queued", now)
        if commit:
            s.commit()
