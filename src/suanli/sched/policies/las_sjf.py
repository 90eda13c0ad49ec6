"""Ours: Tiresias 2D-LAS queues, shortest *estimated* job first inside each queue.

Tiresias (Gu et al., NSDI'19) orders jobs inside a priority queue FIFO because it assumes no
duration knowledge. Finished jobs of the same class (virtual cluster, GPU count) say a lot about
a new job's length (Hu et al., SC'21), so inside each attained-service queue we order by the
history-based estimate of :class:`~suanli.sched.policies.sjf.SJFEstimated`; demotion and
preemption across queues stay as in Tiresias, bounding the damage of a wrong estimate.
"""

from __future__ import annotations

import numpy as np

from suanli.sched.policies.base import SchedView
from suanli.sched.policies.las import LAS, QUEUE_SPAN
from suanli.sched.policies.sjf import SJFEstimated


class LASEstimated(LAS):
    name = "las-sjf"

    def __init__(self, thresholds: tuple[float, ...] = (3600.0, 36_000.0)) -> None:
        super().__init__(thresholds)
        self.estimator = SJFEstimated()

    def keys(self, jobs: np.ndarray, view: SchedView, now: float) -> np.ndarray:
        q = self.queue(view.attained_now(jobs, now))
        w = view.workload
        assert w.kind is not None
        est = self.estimator.estimate(w.kind[jobs], w.num_gpu[jobs])
        return q * QUEUE_SPAN + np.minimum(est, QUEUE_SPAN / 2)

    def observe_finish(self, job: int, view: SchedView, runtime: float) -> None:
        self.estimator.observe_finish(job, view, runtime)
