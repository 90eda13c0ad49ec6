from __future__ import annotations

import numpy as np

from suanli.sched.cluster import Cluster, Placement, homogeneous
from suanli.sched.job import Demand, Workload
from suanli.sched.placement import make_placer
from suanli.sched.placement.fgd import FGDPlacer, TargetWorkload


def test_bestfit_prefers_the_fuller_node() -> None:
    c = Cluster.from_nodes(homogeneous(2, 4))
    c.allocate(Placement(((1, (0, 1)),)), Demand(0, 0, 2, 1000))
    place = make_placer("bestfit").place(c, Demand(0, 0, 1, 1000), np.random.default_rng(0))
    assert place is not None and place.nodes == [1]


def test_sharing_job_goes_to_the_fullest_gpu_that_fits() -> None:
    c = Cluster.from_nodes(homogeneous(1, 4))
    c.allocate(Placement(((0, (1,)),)), Demand(0, 0, 1, 600))  # GPU1 has 400 left
    c.allocate(Placement(((0, (2,)),)), Demand(0, 0, 1, 300))  # GPU2 has 700 left
    place = make_placer("bestfit").place(c, Demand(0, 0, 1, 350), np.random.default_rng(0))
    assert place is not None and place.parts[0][1] == (1,)


def test_gang_spans_nodes_when_no_node_is_big_enough() -> None:
    c = Cluster.from_nodes(homogeneous(3, 8))
    place = make_placer("bestfit").place(c, Demand(0, 0, 16, 1000), np.random.default_rng(0))
    assert place is not None and len(place.parts) == 2
    assert sum(len(g) for _, g in place.parts) == 16
    assert make_placer("bestfit").place(c, Demand(0, 0, 32, 1000),
                                        np.random.default_rng(0)) is None


def _target() -> TargetWorkload:
    # two classes: half-GPU sharing jobs and whole 2-GPU jobs, equally popular
    return TargetWorkload(cpu=np.array([1000, 1000]), milli=np.array([500, 1000]),
                          num=np.array([1, 2]), specs=((), ()), p=np.array([0.5, 0.5]))


def _frag_reference(t: TargetWorkload, cpu: int, free: np.ndarray) -> float:
    """F_n(M) straight from the paper's definition (Weng et al. ATC'23 §4), one node."""
    f = 0.0
    for m in range(len(t.p)):
        fits = (free >= t.milli[m]).sum() >= t.num[m] and cpu >= t.cpu[m]
        f += t.p[m] * (free[free < t.milli[m]].sum() if fits else free.sum())
    return f


def test_fgd_fragmentation_matches_the_definition() -> None:
    c = Cluster.from_nodes(homogeneous(3, 4, cpu_milli=4000))
    c.allocate(Placement(((0, (0,)),)), Demand(0, 0, 1, 700))
    c.allocate(Placement(((1, (0, 1, 2)),)), Demand(3500, 0, 3, 1000))
    fgd = FGDPlacer(_target())
    got = fgd.node_fragmentation(c)
    for n in range(3):
        assert abs(got[n] - _frag_reference(_target(), int(c.cpu_free[n]), c.gpu_free[n])) < 1e-9
    # node 1 has 500 CPU left < 1000: every class is blocked, all 1000 free milli are fragment
    assert got[1] == 1000.0


def test_fgd_packs_a_sharing_job_onto_the_partly_used_gpu() -> None:
    c = Cluster.from_nodes(homogeneous(2, 4))
    c.allocate(Placement(((1, (3,)),)), Demand(0, 0, 1, 500))  # node1 GPU3: 500 left
    place = FGDPlacer(_target()).place(c, Demand(0, 0, 1, 500), np.random.default_rng(0))
    assert place is not None and place.parts == ((1, (3,)),)


def test_target_workload_popularity() -> None:
    w = Workload(submit=np.zeros(4), duration=np.ones(4), num_gpu=np.array([1, 1, 1, 0]),
                 gpu_milli=np.array([500, 500, 1000, 0]), cpu_milli=np.array([1, 1, 1, 2]),
                 mem_mib=np.zeros(4), gpu_spec=np.zeros(4, dtype=np.int32))
    t = TargetWorkload.from_workload(w)
    assert abs(t.p.sum() - 1) < 1e-12 and t.p.max() == 0.5 and len(t.p) == 3
