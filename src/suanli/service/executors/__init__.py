"""Executors: where a service job's real work runs (see :mod:`.base`)."""

from suanli.service.executors.base import Executor, JobSpec, RunState, RunStatus

__all__ = ["Executor", "JobSpec", "RunState", "RunStatus"]
