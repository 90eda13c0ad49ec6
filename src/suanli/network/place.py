"""Place a batch of jobs on the network: build options, prune, solve (MILP and/or heuristic).

The heuristic runs on the full option table; the MILP on a pruned table that keeps each job's
best ``prune_to`` options by Lagrange-priced objective, its fewest-devices option, and the
heuristic's choice (see ``table.prune``). So the MILP is feasible whenever the heuristic is,
never worse than it, and both answers live in one table: ``gap = (heuristic - milp) /
heuristic`` compares them on a shared instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from suanli.errors import InfeasibleError, InputError
from suanli.network.jobs import Filters, Job
from suanli.network.options import RunFn, ServeFn, build_table, perf_run, perf_serve
from suanli.network.placement import OptionTable, Placement, greedy, relative_gap, solve
from suanli.network.placement.heuristic import lagrange_prices
from suanli.network.placement.milp import _check_jobs
from suanli.network.placement.table import prune_mask
from suanli.network.sites import Network

METHODS = ("auto", "milp", "heuristic", "both")
AUTO_MILP_MAX_OPTIONS = 200_000  # above this, "auto" uses the heuristic only


@dataclass(frozen=True)
class PlaceResult:
    table: OptionTable  # the (pruned) table both solvers saw
    best: Placement
    milp: Placement | None
    heuristic: Placement | None
    options_before_prune: int

    @property
    def heuristic_gap(self) -> float | None:
        """(heuristic - MILP) / heuristic on the same table; None unless both ran."""
        if self.milp is None or self.heuristic is None or self.heuristic.status == "infeasible":
            return None
        return relative_gap(self.heuristic.value, self.milp.value)


def place_table(table: OptionTable, *, objective: str = "cost", method: str = "auto",
                budget_usd: float | None = None, prune_to: int = 40,
                time_limit_s: float = 30.0, mip_rel_gap: float = 1e-4) -> PlaceResult:
    """Solve a ready option table (the seam used by tests and the benchmark)."""
    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, got '{method}'")
    _check_jobs(table)
    before = table.n_options
    heur_full = greedy(table, objective, budget_usd=budget_usd)  # on the full table
    small, heur = table, heur_full
    if prune_to and table.n_options > prune_to * table.n_jobs:
        price = None
        if objective != "makespan":  # price scarce capacity so pruning keeps ways around it
            mu, _ = lagrange_prices(table, objective)
            price = mu[table.resource] * table.devices
        keep = prune_mask(table, objective, prune_to, price)
        placed = heur_full.choice >= 0
        keep[heur_full.choice[placed]] = True  # the MILP can always match the heuristic
        small = table.take(keep)
        new_index = np.cumsum(keep) - 1
        heur = replace(heur_full, choice=np.where(
            placed, new_index[np.maximum(heur_full.choice, 0)], -1))
    use_milp = method in ("milp", "both") or (method == "auto"
                                              and small.n_options <= AUTO_MILP_MAX_OPTIONS)
    use_heur = method in ("heuristic", "both", "auto")
    exact = None
    if use_milp:
        try:
            exact = solve(small, objective, budget_usd=budget_usd, time_limit_s=time_limit_s,
                          mip_rel_gap=mip_rel_gap)
        except InfeasibleError as exc:
            if small is table or table.n_options > AUTO_MILP_MAX_OPTIONS:
                if small is not table:
                    raise InfeasibleError(
                        "no placement of the pruned batch satisfies every constraint",
                        reasons=exc.reasons,
                        fixes=[*exc.fixes, "re-run with --prune 0 to search every option"],
                    ) from None
                raise
            # pruning lost every feasible answer: solve the full table
            exact = solve(table, objective, budget_usd=budget_usd, time_limit_s=time_limit_s,
                          mip_rel_gap=mip_rel_gap)
            small, heur = table, heur_full
    kept: Placement | None = heur if use_heur or exact is None else None
    best = exact if exact is not None else kept
    assert best is not None
    if best.status == "infeasible":
        from suanli.network.placement.milp import diagnose

        raise diagnose(small, budget_usd)
    return PlaceResult(small, best, exact, kept, before)


def place(net: Network, jobs: Sequence[Job], *, objective: str = "cost", method: str = "auto",
          budget_usd: float | None = None, filters: Filters | None = None,
          free: Mapping[str, int] | None = None, run_fn: RunFn = perf_run,
          serve_fn: ServeFn = perf_serve, prune_to: int = 40,
          time_limit_s: float = 30.0, mip_rel_gap: float = 1e-4) -> PlaceResult:
    """Choose site, hardware, count and plan for every job (module docstring)."""
    table = build_table(net, jobs, filters=filters, free=free, run_fn=run_fn,
                        serve_fn=serve_fn)
    return place_table(table, objective=objective, method=method, budget_usd=budget_usd,
                       prune_to=prune_to, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
