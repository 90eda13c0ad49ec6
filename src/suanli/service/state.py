"""What the running app holds: settings, sessions, the executor, the scheduler, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from suanli.service.config import Settings
from suanli.service.executors.base import Executor
from suanli.service.metrics import Metrics

if TYPE_CHECKING:
    from suanli.service.scheduler import LiveScheduler


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    executor: Executor
    scheduler: LiveScheduler | None = None
    metrics: Metrics = field(default_factory=Metrics)
