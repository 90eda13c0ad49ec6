"""Fair sharing between owners (tenants): weighted Dominant Resource Fairness with nominal
quotas and borrowing, as Kueue's ClusterQueues and Slurm's fair-share give their users.

Dominant Resource Fairness (Ghodsi et al., "Dominant Resource Fairness: Fair Allocation of
Multiple Resource Types", NSDI'11): an owner's dominant share is the largest of its shares of
each resource, :math:`s_t = \\max_r u_{t,r} / C_r`; DRF starts next the job of the owner with the
smallest (weighted) dominant share. Queued jobs are ordered by *progressive filling*: the
:math:`k`-th queued job of owner :math:`t` (in submission order) gets

.. math:: \\mathrm{key} = \\frac{1}{w_t} \\max_r \\frac{u_{t,r} + \\sum_{j \\le k} d_{j,r}}{C_r}

(the owner's dominant share once that job runs), so owners interleave by share, not by arrival,
and one owner's long queue cannot starve another's single job.

Quotas (Kueue's nominal quota, with borrowing of idle capacity): a job whose owner would stay
within its nominal quota :math:`q_{t,r}` once it runs is *nominal* (class 0); beyond it, the job
*borrows* (class 1) and runs only on capacity no nominal job wants. Class 0 sorts before class 1;
a waiting nominal job may preempt running *borrowed* jobs of other owners
(:meth:`FairShare.can_preempt`). Owners without a quota have a nominal quota of zero, so with no
quotas at all nobody is ever preempted and the order is plain weighted DRF.

The clock-agnostic API is unchanged: the simulator passes no owners (everyone is owner 0: the
order is submission order, as FIFO), the live service calls :meth:`FairShare.set_owners` each
pass with the tenants of the jobs it shows and their current usage.
"""

from __future__ import annotations

import numpy as np

from suanli.sched.policies.base import Policy, SchedView

CLASS_SPAN = 1e9  # separates the class (nominal 0 / borrowing 1) from the share in one key


class FairShare(Policy):
    name = "fairshare"
    preemptive = False  # the simulator's LAS-style preemption does not apply; see can_preempt

    def __init__(self) -> None:
        self.owner: np.ndarray | None = None  # per job row: owner index
        self.weight = np.ones(1)  # per owner, > 0
        self.used = np.zeros((1, 2))  # per owner: (milli-CPUs, GPUs) held by running jobs
        self.quota = np.zeros((1, 2))  # per owner: nominal (milli-CPUs, GPUs); 0 = none

    def set_owners(self, owner: np.ndarray, weight: np.ndarray, used: np.ndarray,
                   quota: np.ndarray) -> None:
        """Owner index of each job row, and per owner: weight, usage now, nominal quota."""
        self.owner, self.weight = np.asarray(owner, dtype=np.int64), np.asarray(weight, float)
        self.used, self.quota = np.asarray(used, float), np.asarray(quota, float)

    def _demand(self, jobs: np.ndarray, view: SchedView) -> np.ndarray:
        """(milli-CPUs, GPUs) of each job, shape (n, 2)."""
        wl = view.workload
        return np.stack([wl.cpu_milli[jobs].astype(float), wl.gpus[jobs]], axis=1)

    def keys(self, jobs: np.ndarray, view: SchedView, now: float) -> np.ndarray:
        jobs = np.asarray(jobs)
        if len(jobs) == 0:
            return np.zeros(0)
        owner = np.zeros(len(jobs), np.int64) if self.owner is None else self.owner[jobs]
        cap = np.array([max(float(view.cluster.cpu_cap.sum()), 1.0),
                        max(float(view.cluster.gpu_count.sum()), 1e-9)])  # (milli-CPU, GPU)
        d = self._demand(jobs, view)
        order = np.lexsort((view.workload.submit[jobs], owner))  # by owner, then submission
        o_sorted = owner[order]
        csum = np.cumsum(d[order], axis=0)
        first = np.r_[True, o_sorted[1:] != o_sorted[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))  # group start
        prior = np.zeros_like(csum)
        prior[start > 0] = csum[start[start > 0] - 1]  # cumulative demand before the group
        cum = np.empty_like(d)
        cum[order] = csum - prior  # the owner's queued demand up to and including this job
        total = self.used[owner] + cum
        share = (total / cap).max(axis=1) / self.weight[owner]
        borrowing = (total > self.quota[owner] + 1e-9).any(axis=1)
        return borrowing * CLASS_SPAN + share

    def borrowed(self, owner: np.ndarray, demand: np.ndarray) -> np.ndarray:
        """Which running jobs borrow: ``owner`` and ``demand`` (n, 2) of running jobs in start
        order; a job borrows when its owner's running total up to it exceeds the quota."""
        out = np.zeros(len(owner), dtype=bool)
        for t in np.unique(owner):
            idx = np.flatnonzero(owner == t)
            run = np.cumsum(demand[idx], axis=0)
            out[idx] = (run > self.quota[t] + 1e-9).any(axis=1)
        return out

    def can_preempt(self, waiting_key: float, running_key: float) -> bool:
        """A nominal waiting job may evict a borrowing running one, nothing else."""
        return waiting_key < CLASS_SPAN <= running_key

