"""Executor interface shared by the service core and the executors (issue 6 contract).

An executor runs a job's real work (a shell command or a Python entrypoint) somewhere outside
the service process, so that work survives a ``kill -9`` of the service. The service persists
the ``handle`` returned by :meth:`Executor.submit` and uses it to poll status, read logs,
cancel, and re-attach after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

__all__ = ["Executor", "ExecutorUnavailable", "JobSpec", "RunState", "RunStatus"]


class ExecutorUnavailable(RuntimeError):
    """The engine (e.g. the Ray head) cannot be reached now; the call may succeed later.

    Raised by any :class:`Executor` method instead of a backend-specific error, so the service
    can mark running jobs lost, answer 503 with ``Retry-After`` and report ``degraded`` health.
    """


@dataclass(frozen=True)
class JobSpec:
    """What to run and what it needs.

    ``kind="command"`` runs ``command`` through a shell; ``kind="python"`` imports
    ``entrypoint`` ("package.module:function") and calls it with ``**args``.
    ``site`` is the placement decision; the executor must enforce it (Ray custom
    resource ``"site:<id>"``), never merely record it.
    """

    job_id: str
    tenant_id: str
    kind: str  # "command" | "python"
    command: str | None  # shell command (kind="command")
    entrypoint: str | None  # "package.module:function" (kind="python"); called with **args
    args: dict[str, Any] = field(default_factory=dict)
    cpus: float = 1.0  # logical CPUs
    gpus: float = 0.0  # devices
    memory_mb: int = 0  # MiB; 0 = no reservation
    site: str | None = None  # placement decision; enforced via custom resource "site:<id>"
    # the system the job must run on (a quote's offer); on Ray, custom resource "hw:<id>" (one
    # per device) where the site's nodes declare hardware, else the site's own hardware
    hardware: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    network: str = "none"  # "none" (no network namespace access) | "egress" (outbound allowed)
    wall_time_s: float | None = None  # hard wall-clock limit; None = the executor's default
    log_limit_bytes: int = 1 << 20  # bytes of combined output kept (the tail)


class RunState(StrEnum):
    """Lifecycle of one run as the executor sees it."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        """True when the run will never change state again."""
        return self in _TERMINAL


_TERMINAL = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.LOST})


@dataclass(frozen=True)
class RunStatus:
    """A snapshot of one run; times are unix seconds (# units: s since epoch)."""

    state: RunState
    exit_code: int | None
    message: str
    started_at: float | None
    finished_at: float | None


@runtime_checkable
class Executor(Protocol):
    """What the service needs from any executor."""

    def start(self) -> None:
        """Connect to the cluster, or start the embedded one."""
        ...

    def submit(self, spec: JobSpec) -> str:
        """Start the work; return a handle string the service persists."""
        ...

    def status(self, handle: str) -> RunStatus:
        """Current state of the run behind ``handle``."""
        ...

    def logs(self, handle: str, tail: int = 200) -> str:
        """Last ``tail`` lines of the run's combined stdout/stderr."""
        ...

    def cancel(self, handle: str) -> None:
        """Stop the work (no-op when already finished)."""
        ...

    def reattach(self, handle: str) -> RunStatus:
        """After a service restart: the run found again, or LOST with a reason."""
        ...

    def resources(self) -> dict[str, dict[str, float]]:
        """site -> {"CPU": .., "GPU": ..} as the cluster sees them."""
        ...

    def shutdown(self) -> None:
        """Release the cluster connection; stop the head this executor started."""
        ...
