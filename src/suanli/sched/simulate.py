"""Trace-driven discrete-event simulation of a GPU cluster.

The simulator owns the virtual clock (an :class:`~suanli.events.EventLoop`); policies and placers
only see ``now`` and the state. Events: job arrival (chained, so the heap stays small), job
finish, a scheduling pass (coalesced: at most one per instant, after that instant's arrivals and
finishes), policy wake-ups (e.g. Tiresias demotions) and spot capacity changes.

A scheduling pass walks the waiting jobs in the policy's order and places each with the placer;
with ``backfill`` a job that does not fit is skipped (later jobs may start), without it the pass
stops at the first job that does not fit. Two exact shortcuts keep passes cheap: when no
capacity was freed since the last pass only newly arrived jobs can start; and a job whose
demand dominates one that already failed in this pass cannot fit either (these and the other
fit tests: :mod:`suanli.sched.fit`).

Job run time on a placement is ``overhead + remaining / speed`` where ``speed`` is the slowest
part's relative throughput (:class:`~suanli.sched.throughput.ThroughputTable`, 1.0 without one)
and ``overhead`` the checkpoint save/restore/restart a preempted job still owes
(:class:`~suanli.sched.preemption.CheckpointCost`); overhead time is counted in the results.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from suanli.events import Event, EventLoop
from suanli.sched.cluster import Cluster, Placement
from suanli.sched.fit import can_ever_run, dominates, may_fit
from suanli.sched.job import Demand, Workload
from suanli.sched.metrics import Accounting, SimResult
from suanli.sched.placement.base import Placer
from suanli.sched.policies.base import Policy, SchedView
from suanli.sched.preemption import CheckpointCost
from suanli.sched.throughput import ThroughputTable

PASS_PRIORITY = 10  # scheduling passes run after arrivals/finishes of the same instant


def _chunked(*arrays: np.ndarray, size: int = 128) -> Iterator[tuple[Any, ...]]:
    """Zip arrays as Python scalars, converting ``size`` rows at a time (passes usually stop
    early, so converting whole queues with ``tolist`` would waste time)."""
    n = len(arrays[0])
    for lo in range(0, n, size):
        yield from zip(*(a[lo:lo + size].tolist() for a in arrays), strict=True)


class Simulator:
    """One run of ``policy`` + ``placer`` over ``workload`` on ``cluster`` (state is reset)."""

    def __init__(self, cluster: Cluster, workload: Workload, policy: Policy, placer: Placer,
                 *, seed: int = 0, backfill: bool = True,
                 throughput: ThroughputTable | None = None,
                 spot: dict[int, tuple[float, np.ndarray]] | None = None,
                 checkpoint_s: float = 1800.0, ckpt: CheckpointCost | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.c, self.w, self.policy, self.placer = cluster, workload, policy, placer
        self.backfill, self.throughput, self.spot = backfill, throughput, spot or {}
        self.checkpoint_s = checkpoint_s  # s of work between checkpoints (spot loss model)
        self.progress = progress
        self.rng = np.random.default_rng(seed)
        self.loop = EventLoop(seed=seed)
        n = len(workload)
        self.remaining = np.nan_to_num(workload.duration.astype(float), nan=0.0)
        self.attained = np.zeros(n)
        self.run_since = np.full(n, np.nan)
        self.first_start = np.full(n, np.nan)
        self.end = np.full(n, np.nan)
        self.preemptions = np.zeros(n, dtype=np.int32)
        self.ran = np.zeros(n)  # s of wall time spent running (all runs)
        self.ckpt = ckpt if ckpt is not None else CheckpointCost.for_jobs(n, workload.params)
        self.owed = np.zeros(n)  # s of checkpoint overhead to pay at the next start
        self.overhead = np.zeros(n)  # s of overhead paid (wall time holding the GPUs)
        self.rejected = np.zeros(n, dtype=bool)
        self.waiting: dict[int, None] = {}  # insertion-ordered set
        self.new: list[int] = []
        self.running: dict[int, tuple[Placement, float, Event]] = {}
        self.order = np.argsort(workload.submit, kind="stable")
        self.acct = Accounting(cluster)
        self.dirty = True
        self.pass_pending = False
        self._demands: dict[int, Demand] = {}
        self._speed_of_type: dict[int, np.ndarray] = {}
        self._capacity: dict[Demand, bool] = {}
        self._empty = np.zeros(0, dtype=np.int64)
        self._wakes: dict[int, Event] = {}
        self._has_next_change = type(policy).next_change is not Policy.next_change
        self._has_pref = type(policy).node_preference is not Policy.node_preference

    # ---- helpers -------------------------------------------------------------------------
    def demand(self, j: int) -> Demand:
        d = self._demands.get(j)
        if d is None:
            d = self._demands[j] = self.w.demand(j)
        return d

    def speed(self, j: int, place: Placement) -> float:
        if self.throughput is None:
            return 1.0
        assert self.w.kind is not None
        k = int(self.w.kind[j])
        if k not in self._speed_of_type:
            kind = self.w.kinds[k]
            self._speed_of_type[k] = np.array(
                [self.throughput.get(kind, t) for t in self.c.types] + [1.0])
        s = self._speed_of_type[k][self.c.gpu_type[place.nodes]]
        return float(s.min())

    def view(self, full: bool = True, running: bool | None = None) -> SchedView:
        """The policy's view; ``full=False`` leaves the waiting list empty and ``running=False``
        the running list (enough for ``next_change`` and ``observe_finish``, which look at one
        job, and for passes that only consider new arrivals)."""
        with_running = full if running is None else running
        waiting = (np.fromiter(self.waiting, dtype=np.int64, count=len(self.waiting))
                   if full else self._empty)
        run = (np.fromiter(self.running, dtype=np.int64, count=len(self.running))
               if with_running else self._empty)
        return SchedView(self.w, self.c, waiting, run, self.attained, self.run_since,
                         self.remaining)

    def request_pass(self) -> None:
        """One pass at the current instant, after this instant's other events; none while
        nothing waits (an arrival at this instant requests its own). When no other event is
        due at this instant the pass runs at once (same order, one heap event less)."""
        if self.pass_pending or not self.waiting:
            return
        if self.loop.peek() > self.loop.now:
            self._pass(self.loop, None)
            return
        self.pass_pending = True
        self.loop.at(self.loop.now, self._pass, priority=PASS_PRIORITY)

    # ---- job lifecycle -------------------------------------------------------------------
    def _start(self, j: int, place: Placement) -> None:
        now, d = self.loop.now, self.demand(j)
        self.c.allocate(place, d)
        speed = self.speed(j, place)
        ev = self.loop.at(now + self.owed[j] + self.remaining[j] / speed, self._finish, j)
        self.running[j] = (place, speed, ev)
        self.waiting.pop(j, None)
        self.run_since[j] = now
        if np.isnan(self.first_start[j]):
            self.first_start[j] = now
        self.acct.record(now, self.c)
        if self._has_next_change:
            change = self.policy.next_change(j, self.view(full=False), now)
            if np.isfinite(change):
                self._wakes[j] = self.loop.at(now + change, self._wake)

    def _stop(self, j: int, lost_s: float = 0.0) -> None:
        """End job ``j``'s current run (finish or preemption); ``lost_s`` = work redone."""
        now = self.loop.now
        place, speed, ev = self.running.pop(j)
        ev.cancel()
        wake = self._wakes.pop(j, None)
        if wake is not None:
            wake.cancel()  # the policy looks again when the job restarts
        ran = now - self.run_since[j]
        d = self.demand(j)
        self.c.release(place, d)
        self.attained[j] += d.gpus * ran
        self.ran[j] += ran
        paid = min(ran, self.owed[j])  # restore/restart first, then progress
        self.overhead[j] += paid
        self.owed[j] -= paid
        self.remaining[j] = max(0.0, self.remaining[j] - (ran - paid) * speed + lost_s)
        self.run_since[j] = np.nan
        self.acct.add_run(place, d, ran, self.c)
        self.acct.record(now, self.c)
        self.dirty = True

    def _preempt(self, j: int, lost_s: float = 0.0, node_lost: bool = False) -> None:
        self._stop(j, lost_s)
        # a partly paid restore is redone from scratch
        self.owed[j] = self.ckpt.loss_s(j) if node_lost else self.ckpt.preempt_s(j)
        self.preemptions[j] += 1
        self.waiting[j] = None

    # ---- event handlers ------------------------------------------------------------------
    def _arrive(self, loop: EventLoop, ev: Event) -> None:
        k = ev.payload
        j = int(self.order[k])
        d = self.demand(j)
        accepted = self._capacity.get(d)
        if accepted is None:  # one check per distinct demand
            accepted = self._capacity[d] = can_ever_run(self.c, d)
        if not accepted:
            self.rejected[j] = True  # can never run here: report, do not wait forever
        else:
            self.waiting[j] = None
            self.new.append(j)
        if k + 1 < len(self.order):  # before the pass: it runs at once only if nothing else
            loop.at(float(self.w.submit[self.order[k + 1]]), self._arrive, k + 1)  # is due now
        if accepted:
            self.request_pass()

    def _finish(self, loop: EventLoop, ev: Event) -> None:
        j = ev.payload
        self._stop(j)
        self.remaining[j] = 0.0
        self.end[j] = loop.now
        self.policy.observe_finish(j, self.view(full=False), float(self.ran[j]))
        self.request_pass()

    def _wake(self, loop: EventLoop, ev: Event) -> None:
        self.dirty = True
        self.request_pass()

    def _spot(self, loop: EventLoop, ev: Event) -> None:
        site, alive = ev.payload
        nodes = np.flatnonzero(self.c.site == site)
        up = np.zeros(len(self.c), dtype=bool)
        up[nodes[:alive]] = True
        down = nodes[alive:]
        self.c.available[nodes] = up[nodes]
        gone = set(down.tolist())
        for j, (place, _, _) in list(self.running.items()):
            if gone.intersection(place.nodes):
                ran = loop.now - self.run_since[j]
                self._preempt(j, lost_s=ran % self.checkpoint_s, node_lost=True)
        self.dirty = True
        self.request_pass()

    def _pass(self, loop: EventLoop, ev: Event | None) -> None:
        self.pass_pending = False
        if not self.waiting:
            self.new.clear()
            return
        if (len(self.waiting) == 1 and not self.policy.preemptive
                and self._has_pref is False):
            self._pass_one()
            return
        now = loop.now
        full = self.dirty or not self.backfill  # strict order: the head may block
        view = self.view(full=full, running=self.policy.preemptive)
        if full:
            cand = view.waiting
        else:  # nothing freed: only new arrivals can start
            cand = np.array([j for j in self.new if j in self.waiting], dtype=np.int64)
        keys = self.policy.keys(cand, view, now)
        if len(cand) > 1:
            idx = np.lexsort((cand, keys))
            cand, keys = cand[idx], keys[idx]
        self.dirty = False
        self.new.clear()
        worst_key: list[float] = []

        def worst() -> float:
            """Key of the lowest-priority running job (computed only when needed)."""
            if not worst_key:
                run = view.running
                worst_key.append(float(self.policy.keys(run, view, now).max())
                                 if self.policy.preemptive and len(run) else float("-inf"))
            return worst_key[0]

        failed: list[Demand] = []
        free = self.c.free_milli()
        if len(cand) > 1:
            cand, keys = may_fit(self.c, self.w, self.policy, self.backfill, cand, keys, free,
                                 worst)
        gpu_need = self.w.num_gpu[cand].astype(np.int64) * self.w.gpu_milli[cand]
        cpu_only_waiting = bool((gpu_need == 0).any())
        min_need = int(gpu_need[gpu_need > 0].min()) if (gpu_need > 0).any() else 0
        preemptive = self.policy.preemptive
        for j, key, need in _chunked(cand, keys, gpu_need):
            starved = free < min_need and not cpu_only_waiting
            can_evict = bool((starved or need > free) and preemptive and self.running
                             and self.policy.can_preempt(key, worst()))
            if starved and not can_evict:
                break
            d = self.demand(j)
            if (need > free and not can_evict) or any(dominates(d, f) for f in failed):
                if not self.backfill:
                    break
                continue
            prefer = self.policy.node_preference(j, view, now)
            place = self.placer.place(self.c, d, self.rng, prefer)
            if place is None and preemptive and self.running and self.policy.can_preempt(
                    key, worst()):
                place = self._make_room(j, key, d, view, now, prefer)
                free = self.c.free_milli()
            if place is None:
                if len(failed) < 64:
                    failed.append(d)
                if not self.backfill:
                    break
                continue
            self._start(j, place)
            free -= need

    def _pass_one(self) -> None:
        """The pass with exactly one waiting job and a non-preemptive policy without node
        preferences (the common case below saturation): the same decision as the general
        pass (order and backfill do not matter for one job), without building a view."""
        j = next(iter(self.waiting))
        fresh = self.dirty or j in self.new  # else nothing changed since it last failed
        self.dirty = False
        self.new.clear()
        if not fresh:
            return
        d = self.demand(j)
        if d.num_gpu * d.gpu_milli > self.c.free_milli():
            return
        place = self.placer.place(self.c, d, self.rng, None)
        if place is not None:
            self._start(j, place)

    def _make_room(self, j: int, key_j: float, d: Demand, view: SchedView, now: float,
                   prefer: np.ndarray | None) -> Placement | None:
        """Preempt lower-priority running jobs (worst first) until ``d`` fits, if it can."""
        run = np.fromiter(self.running, dtype=np.int64)
        keys = self.policy.keys(run, view, now)
        victims = [int(r) for r, k in sorted(zip(run, keys, strict=True),
                                             key=lambda x: (-x[1], -self.run_since[x[0]]))
                   if self.policy.can_preempt(key_j, float(k))]
        ok = self.c.available & self.c.type_ok(d)
        free = int((self.c.gpu_free * ok[:, None]).sum())
        gain = sum(self.demand(r).num_gpu * self.demand(r).gpu_milli for r in victims)
        if free + gain < d.num_gpu * d.gpu_milli:
            return None
        for r in victims:
            self._preempt(r)
            place = self.placer.place(self.c, d, self.rng, prefer)
            if place is not None:
                return place
        return None

    # ---- run -----------------------------------------------------------------------------
    def run(self) -> SimResult:
        """Simulate until every job has finished or can never run; return the result."""
        t0 = time.perf_counter()
        self.c.reset()
        if len(self.order):
            self.loop.at(float(self.w.submit[self.order[0]]), self._arrive, 0)
        for site, (gap, counts) in self.spot.items():
            nodes = int((self.c.site == site).sum())
            peak = max(1, int(counts.max()))
            alive = np.rint(counts / peak * nodes).astype(int)
            change = np.flatnonzero(np.diff(alive, prepend=-1) != 0)
            for i in change:
                self.loop.at(float(i * gap), self._spot, (site, int(alive[i])), priority=-1)
        self.acct.record(0.0, self.c)
        step, total = 0, len(self.order)
        # the loop allocates millions of short-lived objects (events, placements) that
        # reference counting frees; the cyclic collector would rescan every live object again
        # and again (superlinear on million-job traces), so it is paused during the run
        collecting = gc.isenabled()
        gc.disable()
        try:
            while self.loop.step():
                step += 1
                if self.progress and step % 20_000 == 0:
                    self.progress(int(np.isfinite(self.end).sum()), total)
        finally:
            if collecting:
                gc.enable()
        if self.progress:
            self.progress(int(np.isfinite(self.end).sum()), total)
        return SimResult.build(self, wall_s=time.perf_counter() - t0)
