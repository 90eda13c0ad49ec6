"""Deadline-aware scheduling with spot capacity.

Order: earliest deadline first (Liu & Layland 1973). Placement: a job uses spot nodes while its
slack allows losing progress to a preemption, on-demand nodes otherwise; the rule follows the
idea of "Can't Be Late" (Wu et al., NSDI'24): stay on cheap spot capacity while
``deadline - now - remaining >= safety x remaining`` (enough slack to redo the work on demand),
switch to on-demand once it does not. Jobs without a deadline get
``submit + slack_factor x duration``.
"""

from __future__ import annotations

import numpy as np

from suanli.sched.policies.base import Policy, SchedView


class DeadlineSpot(Policy):
    name = "deadline-spot"

    def __init__(self, slack_factor: float = 3.0, safety: float = 1.0) -> None:
        self.slack_factor = slack_factor
        self.safety = safety

    def deadlines(self, jobs: np.ndarray, view: SchedView) -> np.ndarray:
        w = view.workload
        default = w.submit[jobs] + self.slack_factor * np.nan_to_num(w.duration[jobs], nan=0)
        if w.deadline is None:
            return default
        d = w.deadline[jobs]
        return np.where(np.isfinite(d), d, default)

    def keys(self, jobs: np.ndarray, view: SchedView, now: float) -> np.ndarray:
        return self.deadlines(jobs, view)

    def node_preference(self, job: int, view: SchedView, now: float) -> np.ndarray | None:
        c = view.cluster
        spot = np.array([s.spot for s in c.sites])[c.site]
        if not spot.any():
            return None
        rem = float(view.remaining[job])
        slack = float(self.deadlines(np.array([job]), view)[0]) - now - rem
        use_spot = slack >= self.safety * rem
        return np.where(spot == use_spot, 0.0, 1.0)  # prefer, never forbid
