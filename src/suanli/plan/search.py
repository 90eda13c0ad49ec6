"""Search every valid parallel plan for a training job, vectorized over the whole grid.

The space is declarative (:class:`SearchSpace`: the values each plan field may take). The
grid is the Cartesian product, filtered by ``devices = tp * pp * dp * cp``; every term of the
model is evaluated for all candidates at once with numpy (``suanli.perf.training.evaluate``),
then plans that break a rule or do not fit in memory are dropped, and the rest are ranked.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from suanli.errors import InfeasibleError, InputError
from suanli.perf import memory
from suanli.perf.efficiency import Efficiency
from suanli.perf.training import (
    PLAN_FIELDS,
    Estimate,
    Plan,
    TrainingJob,
    estimate,
    evaluate,
    valid_mask,
)

F = NDArray[np.float64]
OBJECTIVES = ("time", "cost")


MAX_PP = 128  # pipeline stages tried at most (Megatron's largest published: 64-128)
MAX_TP = 64


def divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


def default_tp(job: TrainingJob) -> list[int]:
    """Tensor-parallel degrees tried: every divisor of the attention heads that fits in the
    scale-up domain (at least 8, at most 64): TP 3, 6, 12 are as valid as powers of two (PaLM
    used TP 12 on TPU v4); a TP above the KV heads replicates them (``kv_heads_per_rank``)."""
    cap = max(8, min(job.system.scale_up_domain, MAX_TP))
    return [k for k in divisors(job.model.heads) if k <= cap]


@dataclass(frozen=True)
class SearchSpace:
    """Values each plan field may take. ``None`` means "all sensible values" for the job."""

    tp: Sequence[int] | None = None  # default: divisors of the heads up to the scale-up domain
    pp: Sequence[int] | None = None  # default: any stage count up to the layers (uneven splits)
    dp: Sequence[int] | None = None  # default: whatever makes the device count
    ep: Sequence[int] | None = None  # default: 1, or divisors of the expert count for MoE
    cp: Sequence[int] = (1,)
    micro_batch: Sequence[int] = tuple(range(1, 9))
    interleave: Sequence[int] | None = None  # default: 1..8 with pp x interleave <= layers
    zero: Sequence[int] = (0, 1, 2, 3)
    recompute: Sequence[str] = ("none", "selective", "full")
    sp: Sequence[bool] = (False, True)

    @classmethod
    def fixed(cls, plan: Plan) -> SearchSpace:
        return cls(tp=[plan.tp], pp=[plan.pp], dp=[plan.dp], ep=[plan.ep], cp=[plan.cp],
                   micro_batch=[plan.micro_batch], interleave=[plan.interleave],
                   zero=[plan.zero], recompute=[plan.recompute], sp=[plan.sp])


def build_grid(job: TrainingJob, devices: Iterable[int], space: SearchSpace) -> dict[str, F]:
    """All (tp, pp, dp, cp) factorizations of each device count x the other fields."""
    m = job.model
    tps = space.tp or default_tp(job)
    pps = space.pp or list(range(1, min(m.layers, MAX_PP) + 1))
    eps = space.ep or ([k for k in divisors(m.moe.num_experts) if k <= 256] if m.moe else [1])
    rows: list[tuple[float, ...]] = []
    for n in devices:
        if n < 1:
            raise InputError(f"device count must be positive, got {n}")
        for t, p, c in itertools.product(tps, pps, space.cp):
            if n % (t * p * c):
                continue
            d = n // (t * p * c)
            if space.dp is not None and d not in space.dp:
                continue
            vs = space.interleave or [v for v in range(1, 9) if p * v <= m.layers]
            for e, v in itertools.product(eps, vs):
                if d % e or (v > 1 and p == 1):
                    continue
                rows.append((t, p, d, e, c, v))
    if not rows:
        raise InfeasibleError(f"no (tp, pp, dp) factorization of {list(devices)} devices fits "
                              "the search space", fixes=["use a device count with more divisors",
                                                         "widen --tp / --pp choices"])
    base = np.asarray(rows, dtype=np.float64)  # [R, 6]
    rest = list(itertools.product(space.micro_batch, space.zero,
                                  [memory.RECOMPUTE_NAMES.index(r) for r in space.recompute],
                                  [float(s) for s in space.sp]))
    other = np.asarray(rest, dtype=np.float64)  # [K, 4]
    R, K = len(base), len(other)
    grid = {
        name: np.repeat(base[:, i], K) for i, name in
        enumerate(("tp", "pp", "dp", "ep", "cp", "interleave"))
    }
    for i, name in enumerate(("micro_batch", "zero", "recompute", "sp")):
        grid[name] = np.tile(other[:, i], R)
    drop = (grid["sp"] > 0) & (grid["tp"] == 1)  # SP without TP is the same plan as no SP
    return {k: v[~drop] for k, v in grid.items()}


def plan_at(grid: dict[str, F], i: int) -> Plan:
    vals = {k: grid[k][i] for k in PLAN_FIELDS}
    return Plan(tp=int(vals["tp"]), pp=int(vals["pp"]), dp=int(vals["dp"]), ep=int(vals["ep"]),
                cp=int(vals["cp"]), micro_batch=int(vals["micro_batch"]),
                interleave=int(vals["interleave"]), zero=int(vals["zero"]),
                recompute=memory.RECOMPUTE_NAMES[int(vals["recompute"])], sp=bool(vals["sp"]))


@dataclass(frozen=True)
class SearchResult:
    best: list[Estimate]  # ranked by the objective, best first
    pareto: list[Estimate]  # non-dominated in (devices, time, cost)
    evaluated: int
    valid: int
    fitting: int
    objective: str
    notes: list[str] = field(default_factory=list)


def _price(job: TrainingJob) -> float | None:
    return (job.price_usd_per_device_hour or job.system.price_usd_per_device_hour
            or job.accelerator.price_usd_per_hour)


def pareto_mask(points: F) -> NDArray[np.bool_]:
    """Rows of ``points`` (to minimize, one column per criterion) that no other row dominates."""
    n = len(points)
    keep = np.ones(n, dtype=bool)
    order = np.lexsort(points.T[::-1])
    best_so_far: list[F] = []
    for i in order:
        pt = points[i]
        if any(np.all(q <= pt) and np.any(q < pt) for q in best_so_far):
            keep[i] = False
        else:
            best_so_far.append(pt)
    return keep


def search(job: TrainingJob, devices: int | Iterable[int], space: SearchSpace | None = None,
           objective: str = "time", top: int = 10, eff: Efficiency | None = None,
           progress: Callable[[int, int], None] | None = None,
           require_fit: bool = True) -> SearchResult:
    """Rank all valid, fitting plans for ``job`` on ``devices`` (one count or several).

    ``require_fit=False`` keeps plans the memory model rejects (validation of published plans
    that did run: the time model is checked separately from the memory model)."""
    if objective not in OBJECTIVES:
        raise InputError(f"objective must be one of {OBJECTIVES}, got '{objective}'")
    counts = [devices] if isinstance(devices, int) else sorted(set(devices))
    space = space or SearchSpace()
    grid = build_grid(job, counts, space)
    total = len(grid["tp"])
    rules = valid_mask(job, grid)  # cheap: drop rule-breaking plans before the model runs
    if rules.any():
        grid = {k: v[rules] for k, v in grid.items()}
    res = evaluate(job, grid, eff)
    if progress:
        progress(total, total)
    valid = res["valid"].astype(bool)
    fits = valid & (res["mem_total"] <= res["mem_usable"]) if require_fit else valid
    if not fits.any():
        raise _infeasible(job, counts, grid, res, valid, space)
    idx = np.flatnonzero(fits)
    steps = job.tokens / (res["global_batch"][idx] * job.seq_len)
    hours = res["step_time_s"][idx] * steps / 3600.0 / job.goodput
    dev_hours = hours * res["devices"][idx]
    price = _price(job) or 1.0
    key = hours if objective == "time" else dev_hours * price
    order = idx[np.argsort(key, kind="stable")]
    best = [estimate(job, plan_at(grid, int(i)), eff) for i in order[:top]]
    # At one device count, cost = hours x devices x price orders plans like time, so only the
    # fastest plan of each count can be on the (devices, time, cost) front.
    devs = res["devices"][idx]
    order_n = np.lexsort((hours, devs))  # by device count, then hours
    first = np.ones(len(order_n), dtype=bool)
    first[1:] = devs[order_n][1:] != devs[order_n][:-1]
    cand = order_n[first]
    pts = np.stack([devs[cand], hours[cand], dev_hours[cand] * price], axis=1)
    front = [estimate(job, plan_at(grid, int(idx[i])), eff) for i in cand[pareto_mask(pts)]]
    return SearchResult(best=best, pareto=front, evaluated=total, valid=int(valid.sum()),
                        fitting=int(fits.sum()), objective=objective)


def nearby_valid_counts(job: TrainingJob, counts: list[int], space: SearchSpace,
                        limit: int = 2) -> list[int]:
    """Device counts close to ``counts`` for which some plan obeys every rule (the fix an
    error message can name). Tries up to 64 neighbours of the largest count."""
    n = max(counts)
    found: list[int] = []
    for k in sorted(range(max(1, n - 32), n + 33), key=lambda k: (abs(k - n), k)):
        if k in counts:
            continue
        try:
            g = build_grid(job, [k], space)
        except InfeasibleError:
            continue
        if valid_mask(job, g).any():
            found.append(k)
            if len(found) >= limit:
                break
    return sorted(found)


def _infeasible(job: TrainingJob, counts: list[int], grid: dict[str, F], res: dict[str, F],
                valid: NDArray[np.bool_], space: SearchSpace) -> InfeasibleError:
    m, acc = job.model, job.accelerator
    if not valid.any():
        fixes = []
        near = nearby_valid_counts(job, counts, space)
        if near:
            fixes.append(f"use {' or '.join(map(str, near))} devices (valid plans exist there)")
        fixes.append(f"set --global-batch to a multiple of the device count ({max(counts)}), "
                     "so every data-parallel degree divides it")
        if space.tp is not None or space.pp is not None:
            fixes.append("drop the fixed --tp / --pp and let the planner choose")
        return InfeasibleError(
            f"no valid parallel plan for {m.name} on {counts} x {acc.id}",
            reasons=["every factorization breaks a rule: TP must divide the heads, PP x "
                     "interleave fit the layers, and the global batch be within 10% of a "
                     "multiple of DP x micro-batch"],
            fixes=fixes)
    stack = job.software_stack
    usable = acc.memory_bytes * (1.0 - stack.allocator_slack)  # what mem_total is held to
    least = float(res["mem_total"][valid].min())
    # lower bound: weights + grads + optimizer fully sharded over every device, no activations
    from suanli.perf.ops import param_count

    state = param_count(m) * (memory.WEIGHT_BYTES + memory.GRAD_BYTES + memory.OPTIMIZER_BYTES)
    need = int(np.ceil(state / stack.usable_bytes(acc.memory_bytes)))
    return InfeasibleError(
        f"{m.name} does not fit on {max(counts)} x {acc.id} with any plan",
        reasons=[f"the leanest valid plan needs {least / 1e9:.1f} GB per device, "
                 f"{usable / 1e9:.1f} GB is usable",
                 f"weights + gradients + Adam states alone are {state / 1e9:,.0f} GB"],
        fixes=[f"use >= {need} x {acc.id} (ZeRO-3 or full model sharding)",
               "use a device with more memory", "shorten the sequence or the micro-batch"])
