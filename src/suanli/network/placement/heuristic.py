"""Fast placement: regret greedy, bounded repair, local moves; near-linear in the options.

Cost or carbon (a generalized assignment problem): jobs are placed in order of *regret*, the
difference between their best and second-best option (Martello & Toth, "An algorithm for the
generalized assignment problem", 1981): a job that loses most by missing its best option goes
first. Each job takes its best option that still fits the free devices (one vectorized scan of
its options). Jobs left out are *repaired*: for one of the job's best options whose resource is
full, the jobs on that resource are moved to their best option elsewhere that fits, cheapest
move per device freed first, and the plan is applied only if it frees enough (a bounded amount
of work per job: ``REPAIR_OPTIONS`` options x ``REPAIR_MOVERS`` movers). Then improvement passes
move single jobs to better options that fit, until nothing moves.

:func:`greedy` also returns a LOWER BOUND for cost and carbon: the Lagrangian relaxation of
the capacity rows by subgradient ascent (:mod:`.bound`), valid for the full table it was given,
so a heuristic-only run still reports its gap. The greedy is run on the plain scores and on
scores priced with those multipliers (and, when the plain greedy leaves jobs out, with the
multipliers halved and doubled: they are only approximate; if all of them leave jobs out, once
more packing each job's fewest-device option first); the best answer is kept, and among
answers that leave jobs out, the one that leaves the fewest.

Makespan: longest-processing-time first (Graham 1969): jobs in decreasing order of their
fastest time take their fastest option that fits; then, with the makespan T fixed, each job
moves to its cheapest option that fits and finishes by T. Its lower bound is the largest
fastest-option time of any job (no capacity can make that job faster).

Work: one sort of the options O(K log K), then per job one vectorized scan per pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from suanli.network.placement.bound import subgradient
from suanli.network.placement.result import Placement
from suanli.network.placement.table import OptionTable, order_within_jobs

I = NDArray[np.int64]  # noqa: E741
F = NDArray[np.float64]
REPAIR_OPTIONS = 8  # options of an unplaced job tried by repair
REPAIR_MOVERS = 40  # jobs considered for moving off one resource
REPAIR_WORK = 200_000  # option scans repair may spend in total (bounds its time)
PRICE_SCALES = (1.0, 0.5, 2.0)  # a tight batch the greedy cannot place: mu scaled by these


@dataclass
class _State:
    """A partial assignment with the options of each job sorted by key."""

    table: OptionTable
    key: F  # [K] score used to rank options (inf: never take)
    order: I  # options sorted by (job, key)
    lo: I  # [J] start of job j's slice in ``order``
    hi: I  # [J] end
    free: I  # [R] free devices
    choice: I  # [J] chosen option, -1 = not placed

    @classmethod
    def new(cls, table: OptionTable, key: F, choice: I | None = None) -> _State:
        order, lo, hi = order_within_jobs(table, key)
        st = cls(table, key, order, lo, hi, table.capacity.astype(np.int64).copy(),
                 np.full(table.n_jobs, -1, dtype=np.int64))
        if choice is not None:
            for j in np.flatnonzero(choice >= 0):
                st.move(int(j), int(choice[j]))
        return st

    def move(self, j: int, k: int) -> None:
        old = self.choice[j]
        t = self.table
        if old >= 0:
            self.free[t.resource[old]] += t.devices[old]
        if k >= 0:
            self.free[t.resource[k]] -= t.devices[k]
        self.choice[j] = k

    def first_fit(self, j: int, limit: int | None = None, avoid: int = -1) -> int:
        """Job j's best option that fits now (its current devices count as free), or -1;
        ``limit``: only options ranked before this one; ``avoid``: not on this resource."""
        t, cur = self.table, self.choice[j]
        end = self.hi[j] if limit is None else limit
        sl = self.order[self.lo[j]:end]
        res = t.resource[sl]
        room = self.free[res].copy()
        if cur >= 0:
            room[res == t.resource[cur]] += t.devices[cur]
        ok = (t.devices[sl] <= room) & np.isfinite(self.key[sl])
        if avoid >= 0:
            ok &= res != avoid
        i = int(np.argmax(ok)) if len(ok) else 0
        return int(sl[i]) if len(ok) and ok[i] else -1


def greedy(table: OptionTable, objective: str = "cost", *, budget_usd: float | None = None,
           improve_passes: int = 3, lagrange_iters: int = 150,
           lagrange_budget_s: float | None = None) -> Placement:
    """Best of plain and Lagrange-priced greedy (module docstring), with its lower bound."""
    return priced_greedy(table, objective, budget_usd=budget_usd, improve_passes=improve_passes,
                         lagrange_iters=lagrange_iters, lagrange_budget_s=lagrange_budget_s)[0]


def priced_greedy(table: OptionTable, objective: str = "cost", *,
                  budget_usd: float | None = None, improve_passes: int = 3,
                  lagrange_iters: int = 150, lagrange_budget_s: float | None = None
                  ) -> tuple[Placement, F | None]:
    """:func:`greedy` and the capacity prices mu it used (None for makespan or no pricing)."""
    t0 = time.perf_counter()
    score = table.score(objective)
    if objective == "makespan":
        p = _makespan(table, score, budget_usd, improve_passes, t0)
        return replace(p, bound=_fastest(table, score), solve_s=time.perf_counter() - t0), None
    plain = _result(table, _assign(table, score, improve_passes).choice, objective, score,
                    budget_usd, t0)
    if lagrange_iters <= 0 or table.n_options == 0:
        return plain, None
    finite = np.where(np.isfinite(score), score, 1e30)
    by_job, perm = table.sorted_by_job()
    mu, lb = subgradient(by_job, finite[perm], lagrange_iters,
                         plain.value if plain.status != "infeasible" else None,
                         time_budget_s=lagrange_budget_s)
    tries = [plain]
    for f in PRICE_SCALES if plain.status == "infeasible" else (1.0,):
        tries.append(_result(table, _assign(table, score + f * mu[table.resource]
                                            * table.devices, improve_passes).choice,
                             objective, score, budget_usd, t0))
    if all(p.status == "infeasible" for p in tries):  # pack: fewest devices first
        top = float(np.abs(finite).max(initial=1.0))
        tries.append(_result(table, _assign(table, table.devices + finite / (2 * top + 1),
                                            improve_passes).choice,
                             objective, score, budget_usd, t0))
    best = min(tries, key=lambda p: (p.status == "infeasible", int((p.choice < 0).sum()),
                                     p.value))
    return replace(best, bound=lb, solve_s=time.perf_counter() - t0), mu


def complete(table: OptionTable, objective: str, key: F, fixed: I, *,
             budget_usd: float | None = None, improve_passes: int = 3) -> Placement:
    """Keep the assignments in ``fixed`` (-1 = open), place the open jobs by regret greedy and
    repair, then improve every job by local moves (used to round an LP solution)."""
    t0 = time.perf_counter()
    st = _assign(table, key, improve_passes, fixed)
    return _result(table, st.choice, objective, table.score(objective), budget_usd, t0)


def _assign(table: OptionTable, key: F, improve_passes: int, fixed: I | None = None) -> _State:
    st = _State.new(table, key, fixed)
    open_jobs = np.flatnonzero(st.choice < 0)
    lo, hi, order = st.lo, st.hi, st.order
    has2 = hi - lo >= 2
    best = key[order[np.minimum(lo, len(order) - 1)]] if len(order) else np.zeros(0)
    second = np.where(has2, key[order[np.minimum(lo + 1, len(order) - 1)]], np.inf)
    regret = np.where(has2, second - best, np.inf)
    job_order = open_jobs[np.lexsort((-_max_dev(table)[open_jobs], -regret[open_jobs]))]
    for j in job_order:
        k = st.first_fit(int(j))
        if k >= 0:
            st.move(int(j), k)
    _repair(st)
    _improve(st, improve_passes)
    return st


def _improve(st: _State, passes: int) -> None:
    """Move single jobs to a better-ranked option that fits, until nothing moves."""
    pos = np.empty(len(st.order), dtype=np.int64)
    pos[st.order] = np.arange(len(st.order))
    for _ in range(passes):
        moved = False
        for j in range(st.table.n_jobs):
            cur = int(st.choice[j])
            k = st.first_fit(j, limit=None if cur < 0 else int(pos[cur]))
            if k >= 0 and k != cur:
                st.move(j, k)
                moved = True
        if not moved:
            break


def _repair(st: _State) -> None:
    """Place jobs the greedy left out by moving others off a full resource (module docstring).
    A plan is computed on a copy of the free devices and applied only when it frees enough."""
    t = st.table
    work = 0
    for j_ in np.flatnonzero(st.choice < 0):
        j = int(j_)
        if work > REPAIR_WORK:
            break
        best_plan: tuple[float, int, list[tuple[int, int]]] | None = None
        tried = 0
        for k in st.order[st.lo[j]:st.hi[j]]:
            if tried >= REPAIR_OPTIONS or not np.isfinite(st.key[k]):
                break
            tried += 1
            r, need = int(t.resource[k]), int(t.devices[k])
            if need > t.capacity[r]:
                continue
            on_r = np.flatnonzero((st.choice >= 0) & (t.resource[np.maximum(st.choice, 0)] == r))
            on_r = on_r[np.argsort(-t.devices[st.choice[on_r]], kind="stable")][:REPAIR_MOVERS]
            free = st.free.copy()
            moves: list[tuple[float, int, int]] = []
            for m_ in on_r:
                m = int(m_)
                work += int(st.hi[m] - st.lo[m])
                alt = st.first_fit(m, avoid=r)
                if alt >= 0:
                    cur = st.choice[m]
                    moves.append((float(st.key[alt] - st.key[cur]) / int(t.devices[cur]), m,
                                  alt))
            moves.sort()
            plan: list[tuple[int, int]] = []
            extra = 0.0
            for per_dev, m, alt in moves:
                if free[r] >= need:
                    break
                ra, da = t.resource[alt], t.devices[alt]
                if da > free[ra]:
                    continue
                free[ra] -= da
                free[r] += t.devices[st.choice[m]]
                plan.append((m, alt))
                extra += per_dev * t.devices[st.choice[m]]
            if free[r] >= need:
                total = float(st.key[k] + extra)
                if best_plan is None or total < best_plan[0]:
                    best_plan = (total, int(k), plan)
        if best_plan is not None:
            for m, alt in best_plan[2]:
                st.move(m, alt)
            st.move(j, best_plan[1])


def _makespan(table: OptionTable, score: F, budget_usd: float | None, passes: int,
              t0: float) -> Placement:
    st = _State.new(table, score)
    first = np.where(st.lo < st.hi, score[st.order[np.minimum(st.lo, len(st.order) - 1)]],
                     -np.inf) if len(st.order) else np.zeros(table.n_jobs)
    for j in np.argsort(-first, kind="stable"):
        k = st.first_fit(int(j))
        if k >= 0:
            st.move(int(j), k)
    _repair(st)
    chosen = st.choice[st.choice >= 0]
    t_max = float(table.time_s[chosen].max()) if len(chosen) else 0.0
    cheap = _State.new(table, np.where(table.time_s <= t_max, table.cost_usd, np.inf),
                       st.choice)
    _improve(cheap, passes)
    return _result(table, cheap.choice, "makespan", score, budget_usd, t0)


def _fastest(table: OptionTable, score: F) -> float:
    """Makespan lower bound: the slowest job's fastest option."""
    best = np.full(table.n_jobs, np.inf)
    np.minimum.at(best, table.job, score)
    return float(best.max(initial=0.0))


def _max_dev(table: OptionTable) -> F:
    """Per job, the most devices any of its options needs (big jobs first on ties)."""
    out = np.zeros(table.n_jobs)
    np.maximum.at(out, table.job, table.devices.astype(float))
    return out


def _result(table: OptionTable, choice: I, objective: str, score: F,
            budget_usd: float | None, t0: float) -> Placement:
    placed = choice >= 0
    k = choice[placed]
    n_out = int((~placed).sum())
    reasons = [f"job {table.job_ids[j]}: no option fits the remaining free devices"
               for j in np.flatnonzero(~placed)[:10]]
    if n_out > 10:
        reasons.append(f"... and {n_out - 10} more jobs")
    cost = float(table.cost_usd[k].sum())
    if budget_usd is not None and cost > budget_usd:
        reasons.append(f"total budget: greedy needs ${cost:,.0f}, has ${budget_usd:,.0f}")
    if objective == "makespan":
        value = float(score[k].max()) if len(k) else 0.0
    else:
        value = float(score[k].sum())
    status = "feasible" if not reasons else "infeasible"
    return Placement(choice.copy(), objective, value, "heuristic", status,
                     time.perf_counter() - t0, reasons=reasons)
