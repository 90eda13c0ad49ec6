"""The fair-share policy (weighted DRF with nominal quotas): laws and hand-checked orders."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from suanli.sched.cluster import Cluster, homogeneous
from suanli.sched.job import Workload
from suanli.sched.placement import make_placer
from suanli.sched.policies import make_policy
from suanli.sched.policies.base import SchedView
from suanli.sched.policies.fairshare import CLASS_SPAN, FairShare
from suanli.sched.simulate import Simulator


def work(n: int, gpus: int = 1, cpu_milli: int = 0) -> Workload:
    return Workload(submit=np.arange(n, dtype=float), duration=np.full(n, 10.0),
                    num_gpu=np.full(n, gpus, np.int32), gpu_milli=np.full(n, 1000, np.int32),
                    cpu_milli=np.full(n, cpu_milli, np.int64), mem_mib=np.zeros(n, np.int64),
                    gpu_spec=np.zeros(n, np.int32))


def view(w: Workload, gpus: int = 8) -> SchedView:
    c = Cluster.from_nodes(homogeneous(1, gpus))
    n = len(w)
    return SchedView(w, c, np.arange(n), np.zeros(0, np.int64), np.zeros(n),
                     np.full(n, np.nan), w.duration.copy())


def ordered_owners(p: FairShare, owner: list[int], weight=(1.0, 1.0), used=None, quota=None):
    w = work(len(owner))
    p.set_owners(np.array(owner), np.array(weight), np.zeros((2, 2)) if used is None else used,
                 np.zeros((2, 2)) if quota is None else quota)
    return [owner[i] for i in p.order(view(w), 0.0)]


def test_without_owners_it_is_submission_order() -> None:
    w = work(5)
    assert make_policy("fairshare").order(view(w), 0.0).tolist() == [0, 1, 2, 3, 4]


def test_a_long_queue_does_not_starve_a_late_single_job() -> None:
    # owner 0 queued 10 jobs first; owner 1's single job (submitted last) goes second
    order = ordered_owners(FairShare(), [0] * 10 + [1])
    assert order[:3] == [0, 1, 0]


def test_weights_share_in_proportion() -> None:
    # weight 2 vs 1: in the first 6 starts owner 0 gets 4, owner 1 gets 2
    order = ordered_owners(FairShare(), [0, 1] * 6, weight=(2.0, 1.0))
    assert order[:6].count(0) == 4


def test_running_usage_counts() -> None:
    # owner 0 already holds 4 of the 8 GPUs: owner 1's first 4 jobs go first
    used = np.array([[0.0, 4.0], [0.0, 0.0]])
    order = ordered_owners(FairShare(), [0] * 4 + [1] * 4, used=used)
    assert order[:4] == [1, 1, 1, 1]


def test_nominal_before_borrowing_and_who_may_preempt() -> None:
    p = FairShare()
    quota = np.array([[0.0, 2.0], [0.0, 2.0]])  # 2 GPUs each
    used = np.array([[0.0, 6.0], [0.0, 0.0]])  # owner 0 borrows 4 beyond its 2
    w = work(4)
    p.set_owners(np.array([0, 0, 1, 1]), np.ones(2), used, quota)
    keys = p.keys(np.arange(4), view(w), 0.0)
    assert (keys[:2] >= CLASS_SPAN).all() and (keys[2:] < CLASS_SPAN).all()
    assert p.can_preempt(keys[2], keys[0]) and not p.can_preempt(keys[0], keys[2])
    # running jobs in start order: the ones beyond the quota borrow
    running_owner, demand = np.array([0, 0, 0, 1]), np.array([[0, 1.0]] * 4)
    assert p.borrowed(running_owner, demand).tolist() == [False, False, True, False]


@given(st.lists(st.integers(0, 3), min_size=1, max_size=60),
       st.lists(st.floats(0.25, 4.0), min_size=4, max_size=4))
def test_order_is_a_permutation_keeping_each_owners_submission_order(owner, weight) -> None:
    p = FairShare()
    w = work(len(owner))
    p.set_owners(np.array(owner), np.array(weight), np.zeros((4, 2)), np.zeros((4, 2)))
    order = p.order(view(w), 0.0).tolist()
    assert sorted(order) == list(range(len(owner)))
    for t in set(owner):
        mine = [i for i in order if owner[i] == t]
        assert mine == sorted(mine)


def test_the_simulator_runs_it_as_fifo_without_owners() -> None:
    # 2 GPUs, six 10 s jobs submitted at 0..5 s: 0-10, 1-11, 10-20, 11-21, 20-30, 21-31
    res = Simulator(Cluster.from_nodes(homogeneous(1, 2)), work(6), make_policy("fairshare"),
                    make_placer("bestfit")).run()
    assert res.jct.tolist() == [10, 10, 18, 18, 26, 26]
