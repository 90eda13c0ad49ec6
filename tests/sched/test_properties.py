"""Laws of the scheduler on random instances, checked by an independent bookkeeper.

The checker keeps its own per-GPU, per-node ledger from the (placement, demand) pairs the
simulator hands to the cluster, in plain Python, and asserts after every change:
capacities are never exceeded (each GPU 0..1000 milli, each node's CPU and memory), the
cluster's derived totals (free milli-GPU and idle GPUs per node, used milli-GPU) equal the
ledger's, a job holds at most one placement at a time, a non-preemptive policy starts each
job at most once, and every job that finishes got exactly its work done.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.sched.cluster import Cluster, Placement
from suanli.sched.inflation import run_inflation
from suanli.sched.job import MILLI, Demand, Workload
from suanli.sched.placement import PLACERS, make_placer
from suanli.sched.policies import make_policy
from suanli.sched.preemption import CheckpointCost
from suanli.sched.simulate import Simulator


class Ledger:
    """Independent accounting of what is allocated where (pure Python)."""

    def __init__(self, c: Cluster) -> None:
        self.c = c
        self.gpu = {(n, g): 0 for n in range(len(c)) for g in range(int(c.gpu_count[n]))}
        self.cpu = [0] * len(c)
        self.mem = [0] * len(c)
        self.holding: dict[int, Placement] = {}
        self.starts: dict[int, int] = {}
        self.current: int | None = None  # job being placed (set by the wrapper)

    def change(self, place: Placement, d: Demand, sign: int) -> None:
        k = len(place.parts)
        for n, gpus in place.parts:
            assert len(set(gpus)) == len(gpus), "a GPU used twice by one job"
            for g in gpus:
                assert (n, g) in self.gpu, f"GPU {g} does not exist on node {n}"
                self.gpu[n, g] += sign * d.gpu_milli
                assert 0 <= self.gpu[n, g] <= MILLI, f"GPU {n}/{g} at {self.gpu[n, g]}"
            self.cpu[n] += sign * (d.cpu_milli // k)
            self.mem[n] += sign * (d.mem_mib // k)
            assert 0 <= self.cpu[n] <= self.c.cpu_cap[n], f"node {n} CPU {self.cpu[n]}"
            assert 0 <= self.mem[n] <= self.c.mem_cap[n], f"node {n} memory {self.mem[n]}"
        if sign > 0:
            assert d.num_gpu == 0 or sum(len(g) for _, g in place.parts) == d.num_gpu

    def check_cluster(self) -> None:
        c = self.c
        used = 0
        for n in range(len(c)):
            row = [self.gpu[n, g] for g in range(int(c.gpu_count[n]))]
            assert int(c.node_free[n]) == MILLI * len(row) - sum(row)
            assert int(c.node_whole[n]) == sum(1 for u in row if u == 0)
            assert int(c.cpu_free[n]) == int(c.cpu_cap[n]) - self.cpu[n]
            used += sum(row)
        assert c.used_milli == used


def watch(c: Cluster) -> Ledger:
    """Route the cluster's allocate/release through the ledger (instance attributes)."""
    led = Ledger(c)
    alloc, release = c.allocate, c.release

    def allocate(place: Placement, d: Demand) -> None:
        led.change(place, d, +1)
        alloc(place, d)
        led.check_cluster()

    def free(place: Placement, d: Demand) -> None:
        led.change(place, d, -1)
        release(place, d)
        led.check_cluster()

    c.allocate = allocate  # type: ignore[method-assign]
    c.release = free  # type: ignore[method-assign]
    return led


TYPES = ("A", "B")


@st.composite
def instances(draw: Any) -> tuple[Cluster, Workload]:
    nodes = draw(st.lists(st.tuples(st.integers(1, 8), st.sampled_from(TYPES),
                                    st.integers(8_000, 96_000), st.integers(16_000, 256_000)),
                          min_size=1, max_size=5))
    c = Cluster.from_nodes([(f"n{i}", cpu, mem, g, t, "s0")
                            for i, (g, t, cpu, mem) in enumerate(nodes)])
    n = draw(st.integers(1, 30))
    rows = draw(st.lists(st.tuples(
        st.floats(0, 400), st.floats(1, 500), st.sampled_from([0, 1, 1, 2, 4, 8, 16]),
        st.sampled_from([100, 250, 500, 1000]), st.integers(0, 40_000),
        st.integers(0, 64_000), st.integers(0, 2)), min_size=n, max_size=n))
    num = np.array([r[2] for r in rows], dtype=np.int32)
    milli = np.array([r[3] if r[2] == 1 else (1000 if r[2] else 0) for r in rows],
                     dtype=np.int32)
    return c, Workload(submit=np.array([r[0] for r in rows]),
                       duration=np.array([r[1] for r in rows]), num_gpu=num, gpu_milli=milli,
                       cpu_milli=np.array([r[4] for r in rows], dtype=np.int64),
                       mem_mib=np.array([r[5] for r in rows], dtype=np.int64),
                       gpu_spec=np.array([r[6] for r in rows], dtype=np.int32),
                       specs=[(), ("A",), ("B",)])


@settings(max_examples=60, deadline=None)
@given(instances(), st.sampled_from(["fifo", "sjf", "las", "las-sjf"]),
       st.sampled_from(PLACERS), st.booleans(), st.integers(0, 3))
def test_simulation_never_overcommits_and_runs_each_job_once(
        inst: tuple[Cluster, Workload], policy: str, placer: str, backfill: bool,
        seed: int) -> None:
    c, w = inst
    led = watch(c)
    free_ckpt = CheckpointCost.for_jobs(len(w), restart_s=0.0, gbps=1e15)
    sim = Simulator(c, w, make_policy(policy), make_placer(placer, w), seed=seed,
                    backfill=backfill, ckpt=free_ckpt)
    start, stop = sim._start, sim._stop

    def started(j: int, place: Placement) -> None:
        assert j not in led.holding, f"job {j} placed twice at once"
        led.starts[j] = led.starts.get(j, 0) + 1
        led.holding[j] = place
        start(j, place)

    def stopped(j: int, lost_s: float = 0.0) -> None:
        assert led.holding.pop(j) is sim.running[j][0]
        stop(j, lost_s)

    sim._start = started  # type: ignore[method-assign]
    sim._stop = stopped  # type: ignore[method-assign]
    r = sim.run()
    assert not led.holding and all(v == 0 for v in led.gpu.values())  # all released
    done = np.isfinite(r.jct)
    if not make_policy(policy).preemptive:
        assert all(v == 1 for v in led.starts.values())
    for j in np.flatnonzero(done):
        assert led.starts.get(int(j), 0) >= 1
        # speed 1, free preemption: time run = the job's duration
        assert abs(sim.ran[j] - w.duration[j]) < 1e-6 * max(1.0, w.duration[j])
    never = ~done
    assert np.all(sim.rejected[never]), "a job neither finished nor was rejected"


@settings(max_examples=40, deadline=None)
@given(instances(), st.sampled_from(PLACERS), st.integers(0, 5))
def test_fgd_protocol_never_overcommits_and_places_each_pod_at_most_once(
        inst: tuple[Cluster, Workload], placer: str, seed: int) -> None:
    c, w = inst
    w = w.take(np.flatnonzero(w.num_gpu <= 8))
    if len(w) == 0 or not (w.num_gpu > 0).any():
        return
    c.reset()
    led = watch(c)
    placed: list[Placement] = []
    checked = c.allocate

    def allocate(place: Placement, d: Demand) -> None:
        placed.append(place)
        checked(place, d)

    c.allocate = allocate  # type: ignore[method-assign]
    r = run_inflation(c, w, make_placer(placer, w), seed, tune=1.3)
    assert len(placed) == r.pods - r.failed  # one allocation per placed pod, never more
    assert sum(led.gpu.values()) == c.used_milli
    if r.pods:
        assert r.allocated_pct[-1] <= 100.0 + 1e-9
        assert np.all(np.diff(r.allocated_pct) >= -1e-9)  # pods never leave
