"""The clock-agnostic policy API.

A policy never reads a clock. The simulator (virtual time) or the live service (wall time)
hands it a :class:`SchedView` of the state and ``now``, and the policy answers:

- :meth:`Policy.keys`: a sort key per job, lower runs sooner (queue order);
- :meth:`Policy.node_preference`: optional per-node preference for one job, lower is better
  (used as the placer's primary key: site price, GPU type throughput, spot vs on-demand);
- :meth:`Policy.can_preempt`: whether a waiting job may evict a running one (preemptive
  policies only);
- :meth:`Policy.next_change`: seconds until a running job's key changes (so the caller knows
  when to look again, e.g. when Tiresias demotes a job);
- :meth:`Policy.observe_finish`: learn from a finished job (duration estimators).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from suanli.sched.cluster import Cluster
from suanli.sched.job import Workload


@dataclass
class SchedView:
    """What a policy may look at. Arrays are indexed by job id (row of the workload)."""

    workload: Workload
    cluster: Cluster
    waiting: np.ndarray  # job ids waiting to (re)start
    running: np.ndarray  # job ids running now
    attained: np.ndarray  # GPU-seconds of service received, up to the last start/stop
    run_since: np.ndarray  # time the current run started (nan when not running)
    remaining: np.ndarray  # seconds of work left at reference speed
    node_speed: np.ndarray | None = None  # per job x node relative speed, if heterogeneous

    def attained_now(self, jobs: np.ndarray, now: float) -> np.ndarray:
        """GPU-seconds attained by ``jobs`` at ``now`` (counting the current run)."""
        since = self.run_since[jobs]
        run = np.where(np.isnan(since), 0.0, now - since)
        return self.attained[jobs] + self.workload.gpus[jobs] * run


class Policy:
    """Base: FIFO order, no preference, no preemption."""

    name: ClassVar[str] = "base"
    preemptive: ClassVar[bool] = False

    def keys(self, jobs: np.ndarray, view: SchedView, now: float) -> np.ndarray:
        return view.workload.submit[jobs]

    def order(self, view: SchedView, now: float) -> np.ndarray:
        """Waiting jobs, first to try first (ties by job id)."""
        w = view.waiting
        return w[np.lexsort((w, self.keys(w, view, now)))]

    def node_preference(self, job: int, view: SchedView, now: float) -> np.ndarray | None:
        return None

    def can_preempt(self, waiting_key: float, running_key: float) -> bool:
        return False

    def can_preempt_many(self, waiting_keys: np.ndarray, running_key: float) -> np.ndarray:
        """Vector form of :meth:`can_preempt` (override for speed)."""
        return np.fromiter((self.can_preempt(k, running_key) for k in waiting_keys.tolist()),
                           dtype=bool, count=len(waiting_keys))

    def next_change(self, job: int, view: SchedView, now: float) -> float:
        return float("inf")

    def observe_finish(self, job: int, view: SchedView, runtime: float) -> None:
        return None
