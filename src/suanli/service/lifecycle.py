"""The job state machine: which transitions are legal and which timestamp each one stamps.

    submitted -> quoted -> placed -> queued -> running -> succeeded | failed | cancelled

A job may also fail or be cancelled from any non-terminal state (bad placement, executor
refusal, a cancel before it ran). A handed-off job goes back to ``quoted`` (requeued) when its
run is lost and it has retries left, or when it was preempted; a ``placed`` job goes back when
the engine could not be reached to hand it off.
"""

from __future__ import annotations

from suanli.service.models import TERMINAL, Job

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
