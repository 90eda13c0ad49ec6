"""The job state machine: which transitions are legal and which timestamp each one stamps.

    submitted -> quoted -> placed -> queued -> running -> succeeded | failed | cancelled

A job may also fail or be cancelled from any non-terminal state (bad placement, executor
refusal, a cancel before it ran). A handed-off job goes back to ``quoted`` (requeued) when its
run is lost and it has retries left, or when it was preempted; a ``placed`` job goes back when
the engine could not be reached to hand it off.
"""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from suanli.service.executors.base import RunState, RunStatus
from suanli.service.models import TERMINAL, Job, UsageRecord

NEXT: dict[str, tuple[str, ...]] = {
    "submitted": ("quoted",),
    "quoted": ("placed",),
    "placed": ("queued", "quoted"),
    "queued": ("running", "succeeded", "quoted"),  # a short job may finish between two polls
    "running": ("succeeded", "quoted"),
}
STAMP = {"quoted": "quoted_at", "placed": "placed_at", "queued": "queued_at",
         "running": "started_at", "succeeded": "finished_at", "failed": "finished_at",
         "cancelled": "finished_at"}


class IllegalTransition(RuntimeError):
    """A bug in the service: a state change the lifecycle does not allow."""


def allowed(old: str, new: str) -> bool:
    if old in TERMINAL:
        return False
    return new in NEXT.get(old, ()) or new in ("failed", "cancelled")


def transition(job: Job, new: str, now: float, *, error: str | None = None) -> None:
    """Move ``job`` to ``new`` in place, stamping the state's timestamp with ``now`` (s)."""
    if not allowed(job.state, new):
        raise IllegalTransition(f"job {job.id}: {job.state} -> {new} is not allowed")
    job.state = new
    field = STAMP.get(new)
    if field and getattr(job, field) is None:
        setattr(job, field, now)
    if error is not None:
        job.error = error


def requeue(job: Job, now: float, why: str) -> None:
    """Back to ``quoted`` (a lost run with retries left, or a preempted one), the run's
    traces cleared; ``why`` becomes the job's error."""
    transition(job, "quoted", now, error=why)
    job.handle, job.site, job.placed_at, job.queued_at = None, None, None, None
    job.started_at, job.preempt_at = None, None


def finish(s: Session, job: Job, st: RunStatus, now: float, suffix: str = "") -> None:
    """Terminal state from the run's status, actual duration and cost (duration x the job's
    hourly price), and one usage record."""
    new = {RunState.SUCCEEDED: "succeeded", RunState.CANCELLED: "cancelled"}.get(
        st.state, "failed")
    end = st.finished_at or now
    if job.started_at is None and st.started_at is not None:
        job.started_at = st.started_at
    transition(job, new, end, error=None if new == "succeeded" else st.message + suffix)
    job.exit_code = st.exit_code
    job.finished_at = end
    if job.started_at is not None:
        dur = max(0.0, end - job.started_at)  # seconds
        job.actual_duration_s = dur
        job.actual_cost_usd = dur / 3600.0 * job.usd_per_hour  # USD
        s.add(UsageRecord(tenant_id=job.tenant_id, job_id=job.id, site=job.site,
                          cpu_seconds=dur * job.cpus, gpu_seconds=dur * job.gpus,
                          duration_s=dur, cost_usd=job.actual_cost_usd, created_at=now))
    if job.kind in ("train", "serve"):  # the measured record, from the stored log
        from suanli.service.workload_jobs import record_result

        record_result(s, job)
    assert math.isfinite(end)
