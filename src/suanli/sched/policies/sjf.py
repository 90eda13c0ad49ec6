"""Shortest job first, with oracle or estimated durations (non-preemptive).

``sjf`` (oracle) sorts by the true remaining run time, the upper bound of what duration
knowledge can buy. ``sjf-est`` sorts by an online estimate: the geometric mean of the run times
of finished jobs of the same (kind, GPU count) class, falling back to the GPU-count class and
then to all jobs (a history-based predictor in the spirit of Hu et al., SC'21 "QSSF"); unseen
classes get the running global estimate.
"""

from __future__ import annotations

import numpy as np

from suanli.sched.policies.base import Policy, SchedView


class SJF(Policy):
    name = "sjf"

    def keys(self, jobs: np.ndarray, view: SchedView, now: float) -> np.ndarray:
        return view.remaining[jobs]


class SJFEstimated(Policy):
    """SJF on estimated durations, learned from finished jobs only."""

    name = "sjf-est"
    DEFAULT_S = 3600.0  # estimate before any job has finished (every job looks alike)

    def __init__(self, max_gpus: int = 1024) -> None:
        self.max_gpus = max_gpus
        self._sum = np.zeros((1, max_gpus + 1))  # sum of log run times per (kind, GPUs)
        self._cnt = np.zeros((1, max_gpus + 1))
        self._sum_g = np.zeros(max_gpus + 1)  # the same per GPU count, all kinds
        self._cnt_g = np.zeros(max_gpus + 1)
        self._sum_all = self._cnt_all = 0.0

    def _grow(self, kinds: int) -> None:
        if self._sum.shape[0] < kinds:
            pad = kinds - self._sum.shape[0]
            self._sum = np.vstack([self._sum, np.zeros((pad, self.max_gpus + 1))])
            self._cnt = np.vstack([self._cnt, np.zeros((pad, self.max_gpus + 1))])

    def estimate(self, kind: np.ndarray, gpus: np.ndarray) -> np.ndarray:
        """Estimated run times (s): class mean, else GPU-count mean, else global mean
        (geometric means of finished jobs)."""
        if len(kind) == 1:  # scalar fast path (most passes look at one new job)
            return np.array([self._estimate_one(int(kind[0]), int(gpus[0]))])
        self._grow(int(kind.max()) + 1 if len(kind) else 1)
        g = np.minimum(gpus, self.max_gpus)
        cnt, sm = self._cnt[kind, g], self._sum[kind, g]
        cnt_g, sm_g = self._cnt_g[g], self._sum_g[g]
        n_all, s_all = self._cnt_all, self._sum_all
        glob = np.exp(s_all / n_all) if n_all else self.DEFAULT_S
        by_g = np.where(cnt_g > 0, np.exp(sm_g / np.maximum(cnt_g, 1)), glob)
        return np.where(cnt > 0, np.exp(sm / np.maximum(cnt, 1)), by_g)

    def _estimate_one(self, k: int, g: int) -> float:
        g = min(g, self.max_gpus)
        if k >= self._cnt.shape[0]:
            self._grow(k + 1)
        c = float(self._cnt[k, g])
        if c:
            return float(np.exp(self._sum[k, g] / c))
        c = float(self._cnt_g[g])
        if c:
            return float(np.exp(self._sum_g[g] / c))
        if self._cnt_all:
            return float(np.exp(self._sum_all / self._cnt_all))
        return self.DEFAULT_S

    def keys(self, jobs: np.ndarray, view: SchedView, now: float) -> np.ndarray:
        w = view.workload
        assert w.kind is not None
        return self.estimate(w.kind[jobs], w.num_gpu[jobs])

    def observe_finish(self, job: int, view: SchedView, runtime: float) -> None:
        w = view.workload
        assert w.kind is not None
        k, g = int(w.kind[job]), min(int(w.num_gpu[job]), self.max_gpus)
        self._grow(k + 1)
        lg = float(np.log(max(runtime, 1.0)))
        self._sum[k, g] += lg
        self._cnt[k, g] += 1
        self._sum_g[g] += lg
        self._cnt_g[g] += 1
        self._sum_all += lg
        self._cnt_all += 1
