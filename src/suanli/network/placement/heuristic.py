"""Fast placement for batches the MILP cannot take in time: regret greedy + local moves.

Cost or carbon (a generalized assignment problem): jobs are placed in order of *regret*, the
difference between their best and second-best option (Martello & Toth, "An algorithm for the
generalized assignment problem", 1981): a job that loses most by missing its best option goes
first. Each job takes its best option that still fits the free devices. Then improvement passes
move single jobs to better options that fit, until nothing moves.

For cost and carbon the greedy is run twice: on the plain scores, and on scores priced with
Lagrange multipliers mu_r >= 0 on the capacity rows (min sum_k (w_k + mu_r(k) n_k) x_k -
sum_r mu_r C_r; Fisher, "The Lagrangian relaxation method for solving integer programming
problems", Management Science 1981), found by subgradient steps with Polyak's step size. The
relaxation's value is a valid LOWER BOUND on the optimum of the whole table, so the heuristic
reports a gap even where no MILP runs. The priced greedy is tried with mu scaled by
``PRICE_SCALES`` (the multipliers are only approximate); the best answer is returned.

Makespan: longest-processing-time first (Graham 1969): jobs in decreasing order of their
fastest time take their fastest option that fits; then, with the makespan T fixed, each job
moves to its cheapest option that fits and finishes by T.

Runs in O(K log K) for the sort plus a near-linear scan; no optimality guarantee, so the
benchmark reports its gap to the MILP on shared instances.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from suanli.network.placement.result import Placement
from suanli.network.placement.table import OptionTable

I = NDArray[np.int64]  # noqa: E741
PRICE_SCALES = (0.75, 1.0, 1.5)  # greedy is re-run with mu scaled by these (cheap, helps)


def _sorted_slices(table: OptionTable, key: NDArray[np.float64]) -> tuple[I, I, I]:
    """Options sorted by (job, key, cost); start and end of each job's slice."""
    order = np.lexsort((table.cost_usd, key, table.job)).astype(np.int64)
    jobs = table.job[order]
    ids = np.arange(table.n_jobs)
    return order, np.searchsorted(jobs, ids, "left"), np.searchsorted(jobs, ids, "right")


def greedy(table: OptionTable, objective: str = "cost", *, budget_usd: float | None = None,
           improve_passes: int = 3, lagrange_iters: int = 150) -> Placement:
    """Best of plain and Lagrange-priced greedy (module docstring); ``bound`` is the
    Lagrangian lower bound (cost and carbon only)."""
    t0 = time.perf_counter()
    score = table.score(objective)
    plain = _greedy(table, objective, score, score, budget_usd, improve_passes, t0)
    if objective == "makespan" or lagrange_iters <= 0 or table.n_options == 0:
        return plain
    ub = plain.value if plain.status != "infeasible" else None
    mu, lb = _lagrange(table, score, lagrange_iters, ub)
    tries = [plain] + [_greedy(table, objective, score,
                               score + f * mu[table.resource] * table.devices, budget_usd,
                               improve_passes, t0) for f in PRICE_SCALES]
    best = min(tries, key=lambda p: (p.status == "infeasible", p.value))
    return replace(best, bound=lb, mip_gap=None, solve_s=time.perf_counter() - t0)


def lagrange_prices(table: OptionTable, objective: str = "cost", iters: int = 150
                    ) -> tuple[NDArray[np.float64], float]:
    """Capacity prices mu_r (objective units per device) and the Lagrangian lower bound; the
    plain greedy's value is the target of Polyak's step."""
    score = table.score(objective)
    plain = _greedy(table, objective, score, score, None, 1, time.perf_counter())
    return _lagrange(table, score, iters, plain.value if plain.status != "infeasible" else None)


def _lagrange(table: OptionTable, score: NDArray[np.float64], iters: int,
              upper: float | None) -> tuple[NDArray[np.float64], float]:
    """Subgradient ascent on the capacity multipliers; returns (best mu, best lower bound)."""
    order = np.argsort(table.job, kind="stable")
    job_s = table.job[order]
    starts = np.flatnonzero(np.r_[True, job_s[1:] != job_s[:-1]])
    w = np.where(np.isfinite(score), score, 1e30)[order]
    res_s, dev_s = table.resource[order], table.devices[order].astype(float)
    cap = table.capacity.astype(float)
    mu = np.zeros(len(cap))
    best_mu, best_lb = mu.copy(), -np.inf
    if upper is None:  # no feasible answer yet: aim 50% above the capacity-free optimum
        upper = 1.5 * float(np.minimum.reduceat(w, starts).sum())
    ub = upper
    theta, stall = 1.0, 0
    for _ in range(iters):
        adj = w + mu[res_s] * dev_s
        mins = np.minimum.reduceat(adj, starts)
        lb = float(mins.sum() - mu @ cap)
        if not np.isfinite(best_lb) or lb > best_lb + 1e-9 * max(1.0, abs(best_lb)):
            best_lb, best_mu, stall = lb, mu.copy(), 0
        else:
            stall += 1
            if stall >= 5:
                theta, stall = theta / 2, 0
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(adj)]))
        hit = np.flatnonzero(adj <= mins[group])
        first = hit[np.r_[True, group[hit][1:] != group[hit][:-1]]]
        g = np.bincount(res_s[first], weights=dev_s[first], minlength=len(cap)) - cap
        g = np.where((mu <= 0) & (g < 0), 0.0, g)  # projected subgradient
        norm = float(g @ g)
        if norm == 0 or theta < 1e-4:
            break
        mu = np.maximum(0.0, mu + theta * max(ub - lb, 1e-9 * abs(ub)) / norm * g)
    return best_mu, best_lb


def _greedy(table: OptionTable, objective: str, score: NDArray[np.float64],
            key_score: NDArray[np.float64], budget_usd: float | None, improve_passes: int,
            t0: float) -> Placement:
    finite = np.isfinite(score)
    key = np.where(finite, key_score, np.inf)
    order, lo, hi = _sorted_slices(table, key)
    free = table.capacity.astype(np.int64).copy()
    choice = np.full(table.n_jobs, -1, dtype=np.int64)
    dev, res = table.devices, table.resource

    def fits(k: int, released: int = -1) -> bool:
        extra = dev[released] if released >= 0 and res[released] == res[k] else 0
        return bool(dev[k] <= free[res[k]] + extra)

    def place(j: int, k: int) -> None:
        old = choice[j]
        if old >= 0:
            free[res[old]] += dev[old]
        free[res[k]] -= dev[k]
        choice[j] = k

    if objective == "makespan":
        first = np.where(lo < hi, key[order[np.minimum(lo, len(order) - 1)]], -np.inf)
        job_order = np.argsort(-first, kind="stable")
    else:
        has2 = hi - lo >= 2
        best = key[order[np.minimum(lo, len(order) - 1)]] if len(order) else np.zeros(0)
        second = np.where(has2, key[order[np.minimum(lo + 1, len(order) - 1)]], np.inf)
        regret = np.where(has2, second - best, np.inf)
        job_order = np.lexsort((-_max_dev(table), -regret))
    for j in job_order:
        for k in order[lo[j]:hi[j]]:
            if finite[k] and fits(k):
                place(int(j), int(k))
                break
    _repair(choice, order, lo, hi, key, finite, fits, place, res)
    if objective == "makespan":
        chosen = choice[choice >= 0]
        t_max = float(table.time_s[chosen].max()) if len(chosen) else 0.0
        c_order, c_lo, c_hi = _sorted_slices(table, table.cost_usd)
        for _ in range(improve_passes):
            moved = False
            for j in np.argsort(-np.where(choice >= 0, table.cost_usd[choice], 0.0)):
                cur = choice[j]
                if cur < 0:
                    continue
                for k in c_order[c_lo[j]:c_hi[j]]:
                    if table.cost_usd[k] >= table.cost_usd[cur]:
                        break
                    if table.time_s[k] <= t_max and fits(int(k), int(cur)):
                        place(int(j), int(k))
                        moved = True
                        break
            if not moved:
                break
    else:
        for _ in range(improve_passes):
            moved = False
            for j in range(table.n_jobs):
                cur = choice[j]
                for k in order[lo[j]:hi[j]]:
                    if cur >= 0 and key[k] >= key[cur]:
                        break
                    if finite[k] and fits(int(k), int(cur)):
                        place(j, int(k))
                        moved = True
                        break
            if not moved:
                break
    return _result(table, choice, objective, score, budget_usd, t0)


def _repair(choice: I, order: I, lo: I, hi: I, key: NDArray[np.float64],
            finite: NDArray[np.bool_], fits: Callable[..., bool], place: Callable[[int, int], None],
            res: I) -> None:
    """Place jobs the greedy left out by moving jobs off a full resource (one ejection level):
    for each option of the unplaced job, move the jobs on its resource to their best option
    elsewhere that fits, until the option fits."""
    for j in np.flatnonzero(choice < 0):
        for k in order[lo[j]:hi[j]]:
            if not finite[k]:
                continue
            r = res[k]
            if not fits(int(k)):
                for m in np.flatnonzero((choice >= 0) & (res[np.maximum(choice, 0)] == r)):
                    for o in order[lo[m]:hi[m]]:
                        if res[o] != r and finite[o] and fits(int(o)):
                            place(int(m), int(o))
                            break
                    if fits(int(k)):
                        break
            if fits(int(k)):
                place(int(j), int(k))
                break


def _max_dev(table: OptionTable) -> NDArray[np.float64]:
    """Per job, the most devices any of its options needs (big jobs first on ties)."""
    out = np.zeros(table.n_jobs)
    np.maximum.at(out, table.job, table.devices.astype(float))
    return out


def _result(table: OptionTable, choice: I, objective: str, score: NDArray[np.float64],
            budget_usd: float | None, t0: float) -> Placement:
    placed = choice >= 0
    k = choice[placed]
    reasons = [f"job {table.job_ids[j]}: no option fits the remaining free devices"
               for j in np.flatnonzero(~placed)[:10]]
    cost = float(table.cost_usd[k].sum())
    if budget_usd is not None and cost > budget_usd:
        reasons.append(f"total budget: greedy needs ${cost:,.0f}, has ${budget_usd:,.0f}")
    if objective == "makespan":
        value = float(score[k].max()) if len(k) else 0.0
    else:
        value = float(score[k].sum())
    status = "feasible" if not reasons else "infeasible"
    return Placement(choice, objective, value, "heuristic", status,
                     time.perf_counter() - t0, reasons=reasons)
