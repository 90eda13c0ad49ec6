from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.errors import InputError
from suanli.sched.cluster import Cluster, Placement, homogeneous
from suanli.sched.job import Demand
from suanli.sched.placement import make_placer


def small() -> Cluster:
    return Cluster.from_nodes([("a", 8000, 64000, 2, "T4", "s0"),
                               ("b", 16000, 64000, 4, "V100", "s0"),
                               ("c", 4000, 8000, 0, "", "s1")])


def test_allocate_release_roundtrip() -> None:
    c = small()
    d = Demand(cpu_milli=2000, mem_mib=1000, num_gpu=1, gpu_milli=500)
    p = Placement(((1, (2,)),))
    c.allocate(p, d)
    assert c.gpu_free[1, 2] == 500 and c.cpu_free[1] == 14000 and c.used_milli == 500
    assert c.node_whole[1] == 3 and c.node_free[1] == 3500
    c.release(p, d)
    assert c.used_milli == 0 and c.node_whole[1] == 4 and (c.cpu_free == c.cpu_cap).all()


def test_feasible_respects_types_cpu_and_whole_gpus() -> None:
    c = small()
    assert c.feasible(Demand(0, 0, 4, 1000)).tolist() == [False, True, False]
    assert c.feasible(Demand(0, 0, 1, 1000, ("T4",))).tolist() == [True, False, False]
    assert c.feasible(Demand(10_000, 0, 0, 0)).tolist() == [False, True, False]
    assert c.feasible(Demand(1000, 0, 0, 0)).tolist() == [True, True, True]


def test_over_allocation_is_caught() -> None:
    c = small()
    with pytest.raises(AssertionError):
        c.allocate(Placement(((0, (0,)),)), Demand(9000, 0, 1, 1000))


def test_demand_validation() -> None:
    with pytest.raises(InputError, match="whole GPUs"):
        Demand(num_gpu=2, gpu_milli=500)
    with pytest.raises(InputError, match="gpu_milli"):
        Demand(num_gpu=1, gpu_milli=0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from([250, 500, 1000]),
                          st.integers(0, 8000)), min_size=1, max_size=40),
       st.sampled_from(["random", "bestfit", "dotprod", "gpupacking", "gpuclustering"]))
def test_placements_are_feasible_and_accounting_holds(reqs: list[tuple[int, int, int]],
                                                      placer: str) -> None:
    """Whatever the placer picks fits, and used GPU = sum of what was taken (law)."""
    c = Cluster.from_nodes(homogeneous(3, 4, cpu_milli=16000, mem_mib=10**6))
    p = make_placer(placer)
    rng = np.random.default_rng(0)
    taken = 0
    for ng, milli, cpu in reqs:
        d = Demand(cpu, 0, ng, milli if ng == 1 else (1000 if ng else 0))
        place = p.place(c, d, rng)
        if place is None:
            continue
        c.allocate(place, d)
        taken += sum(len(g) for _, g in place.parts) * d.gpu_milli
        assert (c.gpu_free >= 0).all() and (c.cpu_free >= 0).all()
    assert c.used_milli == taken == c.total_gpus * 1000 - int(c.gpu_free.sum())
