from __future__ import annotations

import numpy as np

from suanli.sched.cluster import Cluster, Site, homogeneous
from suanli.sched.job import Workload
from suanli.sched.policies import make_policy
from suanli.sched.policies.base import SchedView
from suanli.sched.policies.sjf import SJFEstimated
from suanli.sched.throughput import ThroughputTable


def view(c: Cluster, w: Workload) -> SchedView:
    n = len(w)
    return SchedView(w, c, np.arange(n), np.zeros(0, np.int64), np.zeros(n),
                     np.full(n, np.nan), w.duration.copy())


def one_job(kind: int = 0, kinds: list[str] | None = None) -> Workload:
    return Workload(np.zeros(1), np.ones(1) * 100, np.ones(1, np.int32), np.full(1, 1000),
                    np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int32),
                    kind=np.array([kind], np.int32), kinds=kinds or ["default"])


def test_throughput_from_catalog_orders_generations() -> None:
    t = ThroughputTable.from_catalog(["V100", "A100-SXM4-80GB", "H800"], reference="V100")
    assert t.get("default", "V100") == 1.0
    assert 1.0 < t.get("default", "A100-SXM4-80GB") < t.get("default", "H800")
    # compute-bound work gains more from H800's FLOP/s than memory-bound work
    assert t.get("compute", "H800") > t.get("memory", "H800")
    assert t.get("default", "unknown-gpu") == 1.0


def test_cost_policy_prefers_the_cheaper_site() -> None:
    rows = homogeneous(1, 8, site="east") + homogeneous(1, 8, site="west")
    c = Cluster.from_nodes(rows, [Site("east", price_factor=1.0), Site("west", price_factor=0.5)])
    pref = make_policy("cost").node_preference(0, view(c, one_job()), 0.0)
    assert pref is not None and pref[1] < pref[0]


def test_gavel_prefers_the_type_with_the_largest_relative_gain() -> None:
    rows = homogeneous(1, 8, gpu_type="V100") + homogeneous(1, 8, gpu_type="H800")
    c = Cluster.from_nodes(rows)
    table = ThroughputTable.from_catalog(c.types, reference="V100")
    pref = make_policy("gavel", table).node_preference(0, view(c, one_job(0, ["compute"])), 0.)
    assert pref is not None and pref[1] < pref[0]


def test_sjf_estimates_learn_from_finished_jobs() -> None:
    p = SJFEstimated()
    w = Workload(np.zeros(3), np.array([10.0, 1000.0, 5.0]), np.array([1, 2, 1], np.int32),
                 np.full(3, 1000), np.zeros(3, np.int64), np.zeros(3, np.int64),
                 np.zeros(3, np.int32))
    v = view(Cluster.from_nodes(homogeneous(1, 8)), w)
    assert np.allclose(p.keys(np.arange(3), v, 0.0), SJFEstimated.DEFAULT_S)
    p.observe_finish(0, v, 10.0)
    p.observe_finish(1, v, 1000.0)
    est = p.keys(np.arange(3), v, 0.0)
    assert np.allclose(est, [10.0, 1000.0, 10.0])  # job 2 is estimated from its class (1 GPU)


def test_deadline_spot_uses_spot_only_with_slack() -> None:
    rows = homogeneous(1, 8, site="od") + homogeneous(1, 8, site="spot")
    c = Cluster.from_nodes(rows, [Site("od"), Site("spot", spot=True)])
    w = one_job()
    w.deadline = np.array([1000.0])
    pol = make_policy("deadline-spot")
    assert pol.node_preference(0, view(c, w), 0.0).tolist() == [1.0, 0.0]  # slack 900 >= 100
    assert pol.node_preference(0, view(c, w), 850.0).tolist() == [0.0, 1.0]  # slack 50 < 100
