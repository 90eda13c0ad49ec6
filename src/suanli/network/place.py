r"""Place a batch of jobs on the network: heuristic warm start, LP bound, rounding, MILP polish.

For cost and carbon (the math is in :mod:`.placement.bound` and :mod:`.placement.milp`):

1. **Heuristic** on the FULL option table (:func:`.placement.greedy`): a feasible answer
   :math:`U_0` in well under a second per thousand jobs, and capacity prices :math:`\mu` by
   subgradient ascent.
2. **LP relaxation of the full table** by column generation from each job's best
   ``START_COLUMNS`` options priced with :math:`\mu`, plus the heuristic's choice. Its
   Lagrangian value :math:`L` is a valid lower bound on the full problem (not on a pruned one).
   If the elastic LP still needs artificial slack when no column prices out, the batch is
   infeasible and we say how many jobs do not fit and why.
3. **Rounding**: jobs the LP assigns integrally keep their option; the few fractional jobs (at
   most one per binding capacity row in a basic solution) are placed by the greedy and repair
   on the remaining capacity, then local moves improve everything.
4. **MILP polish** (HiGHS) on the options whose reduced cost could still matter:
   :math:`L + \bar r_k \le U` (exact reduced-cost fixing), or each job's best ``prune_to`` by
   reduced cost when that set is too large, within ``time_limit_s``. The bound becomes
   :math:`\max(L, \min(\text{MILP dual bound}, \min_{k \notin S} L + \bar r_k))`, still a bound
   on the full problem.

The answer is the best feasible one of the three (so never worse than the heuristic's), and
``gap = (value - bound) / |value|`` with its sign (it can only be negative through a bug).
Makespan keeps the simpler path: heuristic (LPT) and a MILP on a pruned table, best of the
two; its bound is the slowest job's fastest option.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from suanli.errors import InfeasibleError, InputError
from suanli.network.jobs import Filters, Job
from suanli.network.options import RunFn, ServeFn, build_table, perf_run, perf_serve
from suanli.network.placement import OptionTable, Placement, relative_gap, solve
from suanli.network.placement.bound import (
    Relaxation,
    lp_relaxation,
    sampled_relaxation,
)
from suanli.network.placement.heuristic import complete, priced_greedy
from suanli.network.placement.infeasible import explain
from suanli.network.placement.milp import _check_jobs
from suanli.network.placement.table import prune_mask
from suanli.network.sites import Network

METHODS = ("auto", "milp", "heuristic", "both")
AUTO_MILP_MAX_OPTIONS = 200_000  # "auto" gives the MILP at most this many options
START_COLUMNS = 5 # options per job in the first restricted LP
LAGRANGE_ITERS = 100  # subgradient steps before the LP (its start; the LP does the rest)
LP_FULL_MAX_JOBS = 2_500  # above: capacity prices from the LP of a sample of jobs
LP_SAMPLE_JOBS = 600
MIN_MILP_S = 0.5  # "auto" skips the MILP polish with less time than this left
ROUND_MILP_JOBS = 2_000  # fractional LP jobs placed by a small MILP (more: greedy)
ROUND_COLUMNS = 20  # subgradient steps before the LP (its start; the LP does the rest)


@dataclass(frozen=True)
class PlaceResult:
    table: OptionTable  # the table every answer indexes (finite options, grouped by job)
    best: Placement
    milp: Placement | None
    heuristic: Placement | None
    options_before_prune: int
    bound: float | None = None  # valid lower bound on the FULL problem
    bound_basis: str = ""
    milp_options: int = 0  # options the MILP saw (0: no MILP)
    candidates: dict[str, float] = field(default_factory=dict)  # answer value per stage
    stage_s: dict[str, float] = field(default_factory=dict)  # seconds per stage

    @property
    def gap(self) -> float | None:
        """(best - bound) / |best|, signed; None without a bound."""
        return None if self.bound is None else relative_gap(self.best.value, self.bound)

    @property
    def heuristic_gap(self) -> float | None:
        """(heuristic - bound) / |heuristic|, signed: how far the greedy alone was."""
        if self.heuristic is None or self.bound is None or not self.heuristic.placed:
            return None
        return relative_gap(self.heuristic.value, self.bound)


def default_time_limit(n_jobs: int) -> float:
    """Seconds the solver may spend after the option table is built: 5 s up to 1,000 jobs,
    then 2.5 s per further 1,000, at most 30 s (so 10,000 jobs x 100 sites stay near a
    minute end to end, table included)."""
    return min(30.0, 5.0 + 2.5 * max(0, n_jobs - 1000) / 1000)


def place_table(table: OptionTable, *, objective: str = "cost", method: str = "auto",
                budget_usd: float | None = None, prune_to: int = 3,
                time_limit_s: float | None = None, mip_rel_gap: float = 1e-4) -> PlaceResult:
    """Solve a ready option table (module docstring). ``time_limit_s`` (default
    :func:`default_time_limit`) is shared: the heuristic always finishes, the subgradient gets
    a tenth, the LP up to half of what is left, the MILP the rest."""
    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, got '{method}'")
    if (time_limit_s is not None and not time_limit_s > 0) or prune_to < 0:
        raise InputError("--time-limit must be > 0 and --prune >= 0")
    _check_jobs(table)
    limit = default_time_limit(table.n_jobs) if time_limit_s is None else time_limit_s
    before = table.n_options
    table = _finite(table, objective)
    t0 = time.perf_counter()
    deadline = t0 + limit

    def left() -> float:
        return deadline - time.perf_counter()

    heur, mu = priced_greedy(table, objective, budget_usd=budget_usd,
                             lagrange_iters=150 if method == "heuristic" else LAGRANGE_ITERS,
                             lagrange_budget_s=(0.5 if method == "heuristic" else 0.1) * limit)
    stage = {"heuristic_s": time.perf_counter() - t0}
    if objective == "makespan":
        return _makespan(table, heur, method, budget_usd, prune_to, max(left(), 1.0),
                         mip_rel_gap, before, stage)
    if method == "heuristic":
        if heur.status == "infeasible":
            raise explain(table, heur, None, budget_usd)
        return PlaceResult(table, _proven(heur, heur.bound, mip_rel_gap), None, heur, before,
                           heur.bound,
                           "Lagrangian relaxation of the full table (subgradient)",
                           candidates={"heuristic": heur.value}, stage_s=stage)
    w = table.score(objective)
    t1 = time.perf_counter()
    assert mu is not None
    start = prune_mask(table, objective, START_COLUMNS, mu[table.resource] * table.devices)
    start[heur.choice[heur.choice >= 0]] = True
    if table.n_jobs > LP_FULL_MAX_JOBS:
        rel = sampled_relaxation(table, w, LP_SAMPLE_JOBS, budget_usd=budget_usd, mu0=mu,
                                 time_budget_s=max(0.0, left() / 3))
    else:
        rel = lp_relaxation(table, w, start, budget_usd=budget_usd, mu0=mu,
                            elastic=not heur.placed,
                            time_budget_s=max(0.0, left() / 2))
    stage["lp_s"] = time.perf_counter() - t1
    if rel.converged and rel.shortfall > 1e-6:
        raise explain(table, heur, rel, budget_usd)
    t2 = time.perf_counter()
    rounded = _round(table, objective, w, rel, budget_usd, min(max(left(), 0.2), 2.0))
    stage["rounding_s"] = time.perf_counter() - t2
    answers = {"heuristic": heur, "lp-rounding": rounded}
    bound = rel.bound
    exact, n_milp = None, 0
    upper = min((p.value for p in answers.values() if p.placed), default=None)
    use_milp = method in ("milp", "both") or (
        method == "auto" and left() > MIN_MILP_S and table.n_jobs <= LP_FULL_MAX_JOBS
        and (upper is None or relative_gap(upper, bound) > mip_rel_gap))
    if use_milp:
        t3 = time.perf_counter()
        incumbent = min((p for p in answers.values() if p.placed),
                        key=lambda p: p.value, default=heur)
        exact, bound, n_milp = _polish(table, objective, rel, upper, incumbent.choice,
                                       budget_usd, prune_to, max(left(), MIN_MILP_S),
                                       mip_rel_gap, method)
        stage["milp_s"] = time.perf_counter() - t3
        if exact is not None:
            answers["milp"] = exact
    feasible = [p for p in answers.values() if p.placed]
    if not feasible:  # explain with the answer that leaves the fewest jobs out
        raise explain(table, min(answers.values(), key=lambda p: (
            int((p.choice < 0).sum()), p.value)), rel, budget_usd)
    best = _proven(min(feasible, key=lambda p: p.value), bound, mip_rel_gap)
    if table.n_jobs > LP_FULL_MAX_JOBS:
        basis = (f"Lagrangian relaxation of the full table, capacity prices from the LP of a "
                 f"{LP_SAMPLE_JOBS}-job sample")
    else:
        basis = ("LP relaxation of the full table (column generation, "
                 f"{'converged' if rel.converged else 'stopped early: its Lagrangian value'})")
    basis += " tightened by the MILP" if bound > rel.bound else ""
    return PlaceResult(table, best, exact, heur, before, bound, basis, n_milp,
                       {k: p.value for k, p in answers.items() if p.placed},
                       stage)


def _proven(p: Placement, bound: float | None, tol: float) -> Placement:
    """Status "optimal" when the answer is within ``tol`` of the full problem's bound."""
    if bound is not None and p.placed and relative_gap(p.value, bound) <= tol:
        return replace(p, status="optimal")
    return p


def _finite(table: OptionTable, objective: str) -> OptionTable:
    """Drop options whose objective is unknown (carbon at a site without grid data) and group
    the options by job; a job left with none is reported."""
    keep = np.isfinite(table.score(objective))
    if not keep.all():
        lost = set(np.unique(table.job[~keep])) - set(np.unique(table.job[keep]))
        why = dict(table.unplaceable)
        for j in lost:
            why[table.job_ids[j]] = ["every option is at a site with unknown grid carbon"]
        table = replace(table.take(keep), unplaceable=why)
        _check_jobs(table)
    return table.sorted_by_job()[0]


def _round(table: OptionTable, objective: str, w: np.ndarray, rel: Relaxation,
           budget_usd: float | None, time_limit_s: float) -> Placement:
    """Keep the LP's integral assignments; place the fractional jobs by a small MILP on the
    capacity left (each job's ``ROUND_COLUMNS`` best options by reduced cost), or by the
    priced greedy when that fails; then improve every job by local moves."""
    fixed = np.full(table.n_jobs, -1, dtype=np.int64)
    whole = np.flatnonzero(rel.lp_x > 1 - 1e-6)
    fixed[table.job[whole]] = whole
    whole = fixed[fixed >= 0]
    open_jobs = np.flatnonzero(fixed < 0)
    if 0 < len(open_jobs) <= ROUND_MILP_JOBS:
        used = np.zeros(len(table.capacity), dtype=np.int64)
        np.add.at(used, table.resource[whole], table.devices[whole])
        sel = np.isin(table.job, open_jobs) & (table.devices
                                                <= (table.capacity - used)[table.resource])
        idx = np.flatnonzero(sel & _top_by(np.where(sel, rel.reduced, np.inf), table,
                                           ROUND_COLUMNS))
        remap = np.full(table.n_jobs, -1, dtype=np.int64)
        remap[open_jobs] = np.arange(len(open_jobs))
        fixed = fixed.copy()
        if len(np.unique(table.job[idx])) == len(open_jobs):
            sub = replace(table.take(idx), job=remap[table.job[idx]], capacity=table.capacity
                          - used, job_ids=tuple(table.job_ids[j] for j in open_jobs))
            left = None if budget_usd is None else budget_usd - float(
                table.cost_usd[whole].sum())
            with contextlib.suppress(InfeasibleError):
                p = solve(sub, objective, budget_usd=left, time_limit_s=time_limit_s)
                fixed[open_jobs] = np.where(p.choice >= 0, idx[np.maximum(p.choice, 0)], -1)
    priced = w + rel.mu[table.resource] * table.devices
    tries = [fixed] if (fixed >= 0).sum() > len(whole) else []
    plain = np.full(table.n_jobs, -1, dtype=np.int64)
    plain[table.job[whole]] = whole
    tries.append(plain)
    out = []
    for start in tries:
        first = complete(table, objective, priced, start, budget_usd=budget_usd)
        out.append(complete(table, objective, w, first.choice, budget_usd=budget_usd))
    best = min(out, key=lambda p: (not p.placed, p.value))
    return replace(best, method="lp-rounding")


def _polish(table: OptionTable, objective: str, rel: Relaxation, upper: float | None,
            incumbent: np.ndarray, budget_usd: float | None, prune_to: int,
            time_limit_s: float, mip_rel_gap: float, method: str
            ) -> tuple[Placement | None, float, int]:
    """MILP on the options that can still matter (module docstring, step 4)."""
    lower = rel.bound + rel.reduced  # bound on any solution using option k
    keep = lower <= upper + 1e-9 * abs(upper) if upper is not None else np.ones(
        table.n_options, dtype=bool)
    limit = AUTO_MILP_MAX_OPTIONS if method == "auto" else table.n_options
    if keep.sum() > limit or (prune_to and keep.sum() > prune_to * table.n_jobs):
        keep &= _top_by(rel.reduced, table, max(1, min(prune_to or limit, limit
                                                       // max(table.n_jobs, 1))))
    keep[incumbent[incumbent >= 0]] = True  # the best answer so far stays available
    idx = np.flatnonzero(keep)
    sub = table.take(idx)
    try:
        p = solve(sub, objective, budget_usd=budget_usd, time_limit_s=time_limit_s,
                  mip_rel_gap=mip_rel_gap)
    except InfeasibleError:
        return None, rel.bound, len(idx)
    outside = float(lower[~keep].min(initial=np.inf))
    bound = rel.bound
    if p.bound is not None:
        bound = max(bound, min(p.bound, outside))
    choice = np.where(p.choice >= 0, idx[np.maximum(p.choice, 0)], -1)
    return replace(p, choice=choice, bound=bound), bound, len(idx)


def _top_by(score: np.ndarray, table: OptionTable, per_job: int) -> np.ndarray:
    order = np.lexsort((score, table.job))
    js = table.job[order]
    rank = np.arange(len(order)) - np.searchsorted(js, js)
    out = np.zeros(table.n_options, dtype=bool)
    out[order[rank < per_job]] = True
    return out


def _makespan(table: OptionTable, heur: Placement, method: str, budget_usd: float | None,
              prune_to: int, time_limit_s: float, mip_rel_gap: float, before: int,
              stage: dict[str, float]) -> PlaceResult:
    """Makespan: heuristic, and the MILP on a pruned table (plus the heuristic's choice)."""
    answers = {"heuristic": heur}
    exact, n_milp = None, 0
    if method != "heuristic":
        keep = prune_mask(table, "makespan", prune_to) if prune_to else np.ones(
            table.n_options, dtype=bool)
        keep[heur.choice[heur.choice >= 0]] = True
        idx = np.flatnonzero(keep)
        if method != "auto" or len(idx) <= AUTO_MILP_MAX_OPTIONS:
            t3 = time.perf_counter()
            try:
                p = solve(table.take(idx), "makespan", budget_usd=budget_usd,
                          time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
                exact = replace(p, choice=np.where(p.choice >= 0,
                                                   idx[np.maximum(p.choice, 0)], -1))
                answers["milp"] = exact
            except InfeasibleError:
                if not heur.placed:
                    raise
            stage["milp_s"] = time.perf_counter() - t3
            n_milp = len(idx)
    feasible = [p for p in answers.values() if p.placed]
    if not feasible:
        raise explain(table, heur, None, budget_usd)
    best = min(feasible, key=lambda p: (p.value, float(table.cost_usd[p.choice].sum())))
    return PlaceResult(table, best, exact, heur, before, heur.bound,
                       "slowest job's fastest option", n_milp,
                       {k: p.value for k, p in answers.items() if p.placed},
                       stage)


def place(net: Network, jobs: Sequence[Job], *, objective: str = "cost", method: str = "auto",
          budget_usd: float | None = None, filters: Filters | None = None,
          free: Mapping[str, int] | None = None, run_fn: RunFn = perf_run,
          serve_fn: ServeFn = perf_serve, prune_to: int = 3,
          time_limit_s: float | None = None, mip_rel_gap: float = 1e-4) -> PlaceResult:
    """Choose site, hardware, count and plan for every job (module docstring)."""
    table = build_table(net, jobs, filters=filters, free=free, run_fn=run_fn,
                        serve_fn=serve_fn)
    return place_table(table, objective=objective, method=method, budget_usd=budget_usd,
                       prune_to=prune_to, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)

