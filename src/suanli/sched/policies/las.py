"""Tiresias discretized two-dimensional least-attained-service (2D-LAS).

Gu et al., "Tiresias: A GPU Cluster Manager for Distributed Deep Learning", NSDI'19, §4.2: a
job's attained service is GPUs x time run so far (the 2D "area"); jobs sit in K priority queues
split at attained-service thresholds, FIFO (by submission) inside a queue, and a job in a higher
queue preempts running jobs of lower queues. Thresholds here: 1 and 10 GPU-hours (K = 3), a
choice, not the paper's tuned values.
"""

from __future__ import annotations

import numpy as np

from suanli.sched.policies.base import Policy, SchedView

QUEUE_SPAN = 1e12  # seconds; separates queue index from submit time in one float key


class LAS(Policy):
    name = "las"
    preemptive = True

    def __init__(self, thresholds: tuple[float, ...] = (3600.0, 36_000.0)) -> None:
        self.thresholds = np.asarray(thresholds)  # GPU-seconds

    def queue(self, attained: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.thresholds, attained, side="right")

    def keys(self, jobs: np.ndarray, view: SchedView, now: float) -> np.ndarray:
        q = self.queue(view.attained_now(jobs, now))
        return q * QUEUE_SPAN + view.workload.submit[jobs]

    def can_preempt(self, waiting_key: float, running_key: float) -> bool:
        return waiting_key // QUEUE_SPAN < running_key // QUEUE_SPAN

    def can_preempt_many(self, waiting_keys: np.ndarray, running_key: float) -> np.ndarray:
        return waiting_keys // QUEUE_SPAN < running_key // QUEUE_SPAN

    def next_change(self, job: int, view: SchedView, now: float) -> float:
        a = float(view.attained_now(np.array([job]), now)[0])
        nxt = self.thresholds[self.thresholds > a]
        g = float(view.workload.gpus[job])
        return float((nxt[0] - a) / g) if len(nxt) and g > 0 else float("inf")
