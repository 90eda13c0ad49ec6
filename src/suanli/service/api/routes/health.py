"""``GET /health`` (no auth) and ``GET /metrics`` (Prometheus text, no auth).

The engine probe (``executor.resources()``) runs on a thread of its own and is given
:data:`PROBE_S` seconds: an engine that accepts connections but never answers makes the health
``degraded``, not a hanging probe. While one probe is still waiting, no second one starts.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select, text

from suanli.service.api.deps import SessionDep, StateDep
from suanli.service.models import Job
from suanli.service.state import engine_problem

router = APIRouter(tags=["health"])
PROBE_S = 2.0  # seconds the engine probe may take
_probe_lock = threading.Lock()


def probe_engine(state: Any) -> str:
    """"ok", or "error: ..." from ``executor.resources()`` within :data:`PROBE_S` seconds."""
    probe = state.probe  # per app: the thread of the last probe and when it started
    with _probe_lock:
        running = probe.get("thread")
        if running is not None and running.is_alive():
            return f"error: the engine has not answered for {time.time() - probe['since']:.0f} s"
        box: dict[str, str] = {}

        def call() -> None:
            try:
                state.executor.resources()
                box["r"] = "ok"
            except Exception as exc:
                box["r"] = f"error: {type(exc).__name__}: {exc}"

        t = threading.Thread(target=call, name="suanli-health-probe", daemon=True)
        probe.update(thread=t, since=time.time())
        t.start()
    t.join(PROBE_S)
    return box.get("r", f"error: the engine did not answer within {PROBE_S:g} s")


@router.get("/health")
def health(state: StateDep, session: SessionDep) -> dict[str, Any]:
    try:
        session.execute(text("SELECT 1"))
        db = "ok"
    except Exception as exc:  # report, do not crash the probe
        db = f"error: {type(exc).__name__}"
    ex = probe_engine(state)
    problem = engine_problem(state, time.time())
    if problem is not None and ex == "ok":
        ex = f"error: unreachable ({problem})"
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
