"""Run metrics: JCT, queueing delay, makespan, utilization over time, GPU allocation,
fragmentation, cost, energy and carbon.

Definitions (per job j that finished): JCT_j = end_j - submit_j; queueing delay_j =
first_start_j - submit_j; waiting_j = JCT_j - time run (counts the waits after preemptions
too, so it is the fair delay measure for preemptive policies). Utilization(t) = allocated GPU
capacity / capacity, a step function recorded at every start and stop; its mean is the time
average over [first submit, last end]. Cost = sum over runs of GPUs x hours x catalog $/GPU-h x
site price factor. Energy = GPUs x hours x TDP x site PUE (busy GPUs at TDP; idle power and CPUs
not counted, so a lower bound), carbon = energy x site grid intensity. Deadline met = share of
finished jobs that ended by their deadline (``submit + 3 x duration`` when the trace has none).
Fragmentation = share of free GPU capacity that sits on partly used GPUs (sampled every 64
records).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from suanli.sched.cluster import Cluster, Placement
from suanli.sched.job import MILLI, Demand

if TYPE_CHECKING:
    from suanli.sched.simulate import Simulator

DEADLINE_SLACK = 3.0  # jobs without a deadline: submit + 3 x duration (as deadline-spot)
DEFAULT_TDP_W = 300.0  # W, for GPU types missing from the catalog (V100-class part)


def type_constants(types: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """($ per GPU-hour, kW per GPU) per type, from the catalog; medians/defaults if unknown."""
    from suanli.sched.policies.cost import gpu_prices
    from suanli.sched.throughput import catalog_accelerator

    tdp = np.array([getattr(catalog_accelerator(t), "tdp_w", None) or DEFAULT_TDP_W
                    for t in types], dtype=float)
    return gpu_prices(types), tdp / 1000.0


class Accounting:
    """Accumulates cost, energy, carbon and the utilization curve during a run."""

    def __init__(self, cluster: Cluster) -> None:
        self.price, self.kw = type_constants(cluster.types)
        self.factor = np.array([s.price_factor for s in cluster.sites])
        self.pue = np.array([s.pue for s in cluster.sites])
        self.carbon = np.array([s.carbon_kg_per_kwh for s in cluster.sites])
        self.capacity = max(1, cluster.total_gpus * MILLI)
        self.t: list[float] = []
        self.used: list[int] = []
        self.frag_t: list[float] = []
        self.frag: list[float] = []
        self.gpu_hours = self.cost_usd = self.energy_kwh = self.carbon_kg = 0.0
        self._used = 0

    def record(self, now: float, cluster: Cluster) -> None:
        used = cluster.gpu_milli_used
        self.t.append(now)
        self.used.append(used)
        if len(self.t) % 64 == 1:
            free = cluster.gpu_free
            partial = int(free[(free > 0) & (free < MILLI)].sum())
            self.frag_t.append(now)
            self.frag.append(partial / max(1, int(free.sum())))

    def add_run(self, place: Placement, d: Demand, seconds: float, cluster: Cluster) -> None:
        hours = seconds / 3600.0
        for n, gpus in place.parts:
            g = len(gpus) * d.gpu_milli / MILLI  # GPUs used on this node
            t, s = int(cluster.gpu_type[n]), int(cluster.site[n])
            if g == 0 or t < 0:
                continue
            kwh = g * hours * self.kw[t] * self.pue[s]
            self.gpu_hours += g * hours
            self.cost_usd += g * hours * self.price[t] * self.factor[s]
            self.energy_kwh += kwh
            self.carbon_kg += kwh * self.carbon[s]


def _time_mean(t: np.ndarray, y: np.ndarray, t0: float, t1: float) -> float:
    """Time average of the step function (t, y) over [t0, t1]."""
    if t1 <= t0 or len(t) < 2:
        return float("nan")
    order = np.argsort(t, kind="stable")
    tt = np.clip(np.append(t[order], t1), t0, t1)
    return float(np.sum(y[order] * np.diff(tt)) / (t1 - t0))


def _stats(x: np.ndarray) -> dict[str, float]:
    x = x[np.isfinite(x)]
    if not len(x):
        return {"avg": float("nan"), "p50": float("nan"), "p99": float("nan")}
    return {"avg": float(x.mean()), "p50": float(np.percentile(x, 50)),
            "p99": float(np.percentile(x, 99))}


@dataclass
class SimResult:
    """Summary numbers (``summary``) and per-job / over-time arrays of one run."""

    summary: dict[str, Any]
    jct: np.ndarray  # s, per job (nan if it did not finish)
    queue_delay: np.ndarray  # s, per job
    util_t: np.ndarray  # s
    util: np.ndarray  # allocated fraction of GPU capacity
    frag_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frag: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def build(cls, sim: Simulator, wall_s: float) -> SimResult:
        w, a = sim.w, sim.acct
        done = np.isfinite(sim.end)
        jct = np.where(done, sim.end - w.submit, np.nan)
        queue = sim.first_start - w.submit
        waiting = np.where(done, jct - sim.ran, np.nan)  # all time not running, incl. preempted
        t, used = np.asarray(a.t), np.asarray(a.used, dtype=float) / a.capacity
        t0 = float(w.submit.min()) if len(w) else 0.0
        t1 = float(np.nanmax(sim.end)) if done.any() else t0
        util_mean = _time_mean(t, used, t0, t1)
        t_last = float(w.submit.max()) if len(w) else t0
        util_arrivals = _time_mean(t, used, t0, t_last)
        slack = w.submit + DEADLINE_SLACK * np.nan_to_num(w.duration, nan=0.0)
        deadline = slack if w.deadline is None else np.where(np.isfinite(w.deadline),
                                                             w.deadline, slack)
        met = float(np.mean(sim.end[done] <= deadline[done] + 1e-6)) if done.any() else 0.0
        summary = {
            "policy": sim.policy.name, "placement": sim.placer.name, "jobs": len(w),
            "finished": int(done.sum()), "rejected": int(sim.rejected.sum()),
            "unfinished": int((~done & ~sim.rejected).sum()),
            "jct_s": _stats(jct), "queue_delay_s": _stats(queue),
            "waiting_s": _stats(waiting),
            "makespan_s": t1 - t0, "utilization_mean": util_mean,
            "utilization_while_arriving": util_arrivals,
            "deadline_met": met, "preemptions": int(sim.preemptions.sum()),
            "preemption_overhead_gpu_h": float(
                (sim.overhead * w.num_gpu * w.gpu_milli).sum() / 1000 / 3600),
            "preemption_overhead_s_per_preemption": (
                float(sim.overhead.sum() / sim.preemptions.sum())
                if sim.preemptions.sum() else 0.0),
            "gpu_hours": a.gpu_hours,
            "cost_usd": a.cost_usd, "energy_kwh": a.energy_kwh, "carbon_kg": a.carbon_kg,
            "fragmentation_mean": float(np.mean(a.frag)) if a.frag else float("nan"),
            "cluster_gpus": sim.c.total_gpus, "events": sim.loop.processed,
            "wall_s": wall_s,
        }
        return cls(summary, jct, queue, t, used, np.asarray(a.frag_t), np.asarray(a.frag))

    def downsampled_util(self, points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
        """Utilization curve thinned to about ``points`` steps (for charts and JSON)."""
        if len(self.util_t) <= points:
            return self.util_t, self.util
        idx = np.linspace(0, len(self.util_t) - 1, points).astype(int)
        return self.util_t[idx], self.util[idx]
