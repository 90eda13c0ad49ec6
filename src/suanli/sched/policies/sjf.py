"""Shortest job first, with oracle or estimated durations (non-preemptive).

``sjf`` (oracle) sorts by the true remaining run time, the upper bound of what duration
knowledge can buy. ``sjf-est`` sorts by an online estimate: the geometric mean of the run times
of finished jobs of the same (kind, GPU count) class, falling back to the GPU-count class and
then to all jobs (a history-based predictor in the spirit of Hu et al., SC'21 "QSSF"); unseen
classes get the running global estimate.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from suanli.sched.policies.base import Policy, SchedView


class SJF(Policy):
    name = "sjf"

    def keys(self, jobs: np.ndarray, view: SchedView, now: float) -> np.ndarray:
        return view.remaining[jobs]


class SJFEstimated(Policy):
    """SJF on estimated durations, learned from finished jobs only."""

    name = "sjf-est"

    def __init__(self) -> None:
        self._sum: dict[tuple[int, int], float] = defaultdict(float)  # sum of log runtimes
        self._cnt: dict[tuple[int, int], int] = defaultdict(int)
        self._cache: dict[tuple[int, int], float] = {}

    def estimate(self, kind: int, gpus: int) -> float:
        """Estimated run time (s) of a job of this class."""
        key = (kind, gpus)
        if key in self._cache:
            return self._cache[key]
        for k in (key, (-1, gpus), (-1, -1)):
            if self._cnt[k]:
                est = float(np.exp(self._sum[k] / self._cnt[k]))
                break
        else:
            est = 3600.0  # nothing finished yet: every job looks alike (1 h)
        self._cache[key] = est
        return est

    def keys(self, jobs: np.ndarray, view: SchedView, now: float) -> np.ndarray:
        w = view.workload
        assert w.kind is not None
        return np.array([self.estimate(int(w.kind[j]), int(w.num_gpu[j])) for j in jobs])

    def observe_finish(self, job: int, view: SchedView, runtime: float) -> None:
        w = view.workload
        assert w.kind is not None
        lg = float(np.log(max(runtime, 1.0)))
        for k in ((int(w.kind[job]), int(w.num_gpu[job])), (-1, int(w.num_gpu[job])), (-1, -1)):
            self._sum[k] += lg
            self._cnt[k] += 1
        self._cache.clear()
