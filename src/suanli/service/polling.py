"""Step 3 of a scheduler pass (:mod:`suanli.service.scheduler`): poll the handed-off jobs.

Each ``queued``/``running`` job's run is polled (a cancel or an overdue preemption is asked of
the executor first); its log tail is copied into ``job_logs`` (at most every
``log_interval_s``, and once at the end); a terminal run finishes the job (actual duration,
cost, usage record), a preempted one is requeued, a lost one follows the retry policy.

The pass's changes are written in one transaction at its end, not one per job: on SQLite the
pass then takes the database's one write lock once, and holds it only while it writes (reads
run under ``no_autoflush``, so they never open the write transaction early). A job whose
handling had to flush (a workload job's result reads its stored log) is committed at once, so
the lock is never held across the next job's file reads and GIL hand-offs.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from suanli.service.db import writing
from suanli.service.executors.base import RunState, RunStatus
from suanli.service.joblogs import LOG_LINES, store_log
from suanli.service.lifecycle import finish, requeue, transition
from suanli.service.models import ACTIVE, Job, JobLog

if TYPE_CHECKING:
    from suanli.service.scheduler import LiveScheduler

log = logging.getLogger("suanli.service.scheduler")

__all__ = ["apply", "copy_logs", "poll", "yield_gil"]


def yield_gil() -> None:
    """Hand the GIL to any API thread that waits for it. A pass is CPU-bound Python for tens
    of ms; without this, each request's hand-offs between threads wait the GIL's switch interval
    (5 ms) behind it, and submissions slow several-fold while a pass runs."""
    time.sleep(0)


def poll(sched: LiveScheduler, s: Session, now: float) -> None:
    """Poll every handed-off job; their changes are written in one transaction at the end
    of the pass (not one per job), so the pass takes the database's write lock once and
    holds it only while it writes: reads (``no_autoflush``) never start the transaction."""
    jobs = list(s.scalars(select(Job).where(Job.state.in_(ACTIVE))))
    # their log copies in one read, held here: the session keeps unchanged rows only while
    # they are referenced, and store_log then finds them without a query each; the text (up
    # to 1 MiB a job) stays deferred, loaded only where a copy is due and the read was empty
    logs = list(s.scalars(select(JobLog).options(defer(JobLog.text))
                          .where(JobLog.job_id.in_([j.id for j in jobs]))))
    with s.no_autoflush:
        for job in jobs:
            _poll_one(sched, s, job, now)
            if writing(s):  # a job's explicit flush began a write: end it before the next
                s.commit()
    s.commit()
    del logs


def _poll_one(sched: LiveScheduler, s: Session, job: Job, now: float) -> None:
    assert job.handle is not None
    yield_gil()
    try:
        if job.cancel_requested:
            sched.executor.cancel(job.handle)
        elif job.preempt_at is not None and now - job.preempt_at > sched.grace_s:
            sched.executor.cancel(job.handle)  # grace period over: ask again
            job.preempt_at = now
    except Exception as exc:  # retried next pass
        sched._classify(exc)
        log.warning("cancel of %s failed: %s", job.id, exc)
    try:
        st = sched.executor.status(job.handle)
    except Exception as exc:  # the engine is down, or this run cannot be read
        sched._classify(exc)
        st = RunStatus(RunState.LOST, None, f"status failed: {exc}", None, now)
    copy_logs(sched, s, job, now, final=st.state.terminal)
    if job.cancel_requested and not st.state.terminal:
        return  # stopping; look again next pass
    if st.state.terminal and job.preempt_at is not None and not job.cancel_requested:
        requeue(job, now, "preempted: its tenant was over quota (borrowing) and "
                      "a tenant within its quota needed the capacity; requeued")
    elif st.state is RunState.LOST:
        sched._lost(s, job, st.message, now)
    else:
        apply(s, job, st, now)


def copy_logs(sched: LiveScheduler, s: Session, job: Job, now: float, final: bool) -> None:
    """Copy the run's log tail into ``job_logs`` (throttled; always once at the end)."""
    if job.handle is None or (not final and now - sched._copied.get(job.id, 0.0)
                              < sched.log_interval_s):
        return
    try:
        text = sched.executor.logs(job.handle, LOG_LINES)
    except Exception as exc:  # keep what we have
        sched._classify(exc)
        log.debug("logs of %s not copied: %s", job.id, exc)
        return
    store_log(s, job.id, text, now, final)
    if final:
        sched._copied.pop(job.id, None)
    else:
        sched._copied[job.id] = now


def apply(s: Session, job: Job, st: RunStatus, now: float) -> None:
    """A run's new state onto its job: ``running``, or terminal with its usage record."""
    if st.state is RunState.RUNNING and job.state == "queued":
        transition(job, "running", st.started_at or now)
    elif st.state.terminal:
        finish(s, job, st, now)
