"""What the running app holds: settings, sessions, the executor, the scheduler, metrics, and
the engine's health as the scheduler last saw it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from suanli.service.config import Settings
from suanli.service.executors.base import Executor
from suanli.service.metrics import Metrics

if TYPE_CHECKING:
    from suanli.service.scheduler import LiveScheduler

RETRY_AFTER_S = 5  # seconds a client is told to wait while the engine is unreachable


@dataclass
class EngineHealth:
    """Whether the execution engine (Ray) answered the last call; shared by the scheduler
    (which sees every executor call) and the API (which answers 503 while it is down)."""

    down_since: float | None = None  # unix s of the first failed call of this outage
    reason: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def down(self, reason: str, now: float) -> None:
        with self._lock:
            if self.down_since is None:
                self.down_since = now
            self.reason = reason

    def up(self) -> None:
        with self._lock:
            self.down_since, self.reason = None, ""

    @property
    def ok(self) -> bool:
        return self.down_since is None


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    executor: Executor
    scheduler: LiveScheduler | None = None
    metrics: Metrics = field(default_factory=Metrics)
    engine_health: EngineHealth = field(default_factory=EngineHealth)
    probe: dict[str, Any] = field(default_factory=dict)  # the /health engine probe's thread


def engine_problem(state: AppState, now: float) -> str | None:
    """Why the engine cannot take work now (unreachable, or a scheduler pass hanging on it
    longer than ``stuck_after_s``), or None when it can."""
    eng, sched = state.engine_health, state.scheduler
    if not eng.ok:
        return eng.reason or "unreachable"
    stuck = 0.0 if sched is None else sched.stuck_s(now)
    if sched is not None and stuck > sched.stuck_after_s:
        return f"a scheduler pass has waited {stuck:.0f} s on it"
    return None
