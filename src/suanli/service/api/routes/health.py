"""``GET /health`` (no auth) and ``GET /metrics`` (Prometheus text, no auth)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select, text

from suanli.service.api.deps import SessionDep, StateDep
from suanli.service.models import Job

router = APIRouter(tags=["health"])


@router.get("/health")
def health(state: StateDep, session: SessionDep) -> dict[str, Any]:
    try:
        session.execute(text("SELECT 1"))
        db = "ok"
    except Exception as exc:  # report, do not crash the probe
        db = f"error: {type(exc).__name__}"
    try:
        state.executor.resources()
        ex = "ok"
    except Exception as exc:
        ex = f"error: {type(exc).__name__}: {exc}"
    eng = state.engine_health
    if not eng.ok and ex == "ok":
        ex = f"error: unreachable since {eng.down_since:.0f} ({eng.reason})"
    sched = state.scheduler
    role = None if sched is None else ("leader" if sched.leading else "standby")
    return {"status": "ok" if db == ex == "ok" else "degraded", "db": db, "ray": ex,
            "executor": type(state.executor).__name__, "role": role,
            "scheduler": None if sched is None else (sched.last_error or "ok")}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(state: StateDep, session: SessionDep) -> str:
    rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
    passes = 0 if state.scheduler is None else state.scheduler.passes
    return state.metrics.render({st: int(n) for st, n in rows}, passes)
