"""Why a batch does not fit, in numbers: how many jobs are left out, how many devices they need,
and which hardware is full.

Three facts, each checkable:
  - the best placement found leaves ``U`` of ``N`` jobs out; their smallest options need ``D``
    devices in total, while the resources they could use have ``F`` devices free after it;
  - when the LP relaxation of the full table (``.bound``) cannot place every job, at least
    ``ceil(sum u_j)`` jobs cannot be placed by ANY placement (the LP's minimum artificial
    slack is a lower bound on the integer one); and pooling every free device into one
    resource (a relaxation), if only the ``m`` jobs with the smallest options fit, at least
    ``N - m`` jobs cannot run;
  - per hardware type the left-out jobs could use: devices in the network and devices free.
Small tables also get the elastic MILP's binding rows (:func:`.milp.diagnose`).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from suanli.errors import InfeasibleError
from suanli.network.placement.result import Placement
from suanli.network.placement.table import OptionTable

DIAGNOSE_MAX_OPTIONS = 20_000  # the elastic MILP runs only on tables this small


def explain(table: OptionTable, best: Placement, rel: object | None,
            budget_usd: float | None) -> InfeasibleError:
    """An InfeasibleError whose first reasons say how much does not fit and why."""
    n = table.n_jobs
    out = np.flatnonzero(best.choice < 0)
    reasons: list[str] = []
    shortfall = float(getattr(rel, "shortfall", 0.0) or 0.0)
    if shortfall > 1e-6:
        reasons.append(f"no placement can take every job: even the LP relaxation leaves "
                       f"{shortfall:.1f} job(s) unplaced, so at least "
                       f"{math.ceil(shortfall - 1e-6)} of {n} jobs cannot run")
    need = np.full(n, np.inf)
    np.minimum.at(need, table.job, table.devices.astype(float))
    fit = int(np.searchsorted(np.cumsum(np.sort(need)), table.capacity.sum(), side="right"))
    if fit < n:  # even pooling every free device, only the `fit` smallest jobs fit
        reasons.append(f"all jobs' smallest options need {need.sum():,.0f} devices, the network "
                       f"has {table.capacity.sum():,} free: at least {n - fit} of {n} jobs "
                       "cannot run")
    if len(out):
        used = np.zeros(len(table.capacity), dtype=np.int64)
        k = best.choice[best.choice >= 0]
        np.add.at(used, table.resource[k], table.devices[k])
        usable = np.unique(table.resource[np.isin(table.job, out)])
        free = table.capacity - used
        reasons.append(f"the best placement found leaves {len(out)} of {n} jobs out; their "
                       f"smallest options need {need[out].sum():,.0f} devices, the "
                       f"{len(usable)} resources they could use have "
                       f"{free[usable].sum():,} devices free")
        reasons.append("hardware they could use (devices in the network / free): "
                       + ", ".join(_by_hardware(table, usable, free)))
    if budget_usd is not None:
        cheapest = np.full(n, np.inf)
        np.minimum.at(cheapest, table.job, table.cost_usd)
        if cheapest.sum() > budget_usd:
            reasons.append(f"total budget: the cheapest option of every job already costs "
                           f"${cheapest.sum():,.0f} > ${budget_usd:,.0f}")
    if table.n_options <= DIAGNOSE_MAX_OPTIONS:
        from suanli.network.placement.milp import diagnose

        reasons += [r for r in diagnose(table, budget_usd).reasons if r not in reasons]
    return InfeasibleError("no placement satisfies every constraint of the batch",
                           reasons=reasons or ["the solver could not isolate the binding rows"],
                           fixes=["add capacity (more sites or hardware)", "relax deadlines "
                                  "or budgets", "allow spot", "split the batch"])


def _by_hardware(table: OptionTable, usable: np.ndarray, free: np.ndarray) -> list[str]:
    cap: dict[str, int] = defaultdict(int)
    left: dict[str, int] = defaultdict(int)
    for r in usable:
        hw = table.resource_names[int(r)].split("/", 1)[-1]
        cap[hw] += int(table.capacity[r])
        left[hw] += int(free[r])
    order = sorted(cap, key=lambda h: (left[h] / max(cap[h], 1), -cap[h]))
    return [f"{h} {cap[h]:,} / {left[h]:,}" for h in order[:6]] + (
        [f"... {len(order) - 6} more"] if len(order) > 6 else [])
