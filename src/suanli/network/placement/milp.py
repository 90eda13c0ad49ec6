r"""Exact placement of a batch of jobs: a MILP solved by HiGHS (``scipy.optimize.milp``).

Sets: jobs :math:`j`, resources :math:`r` = (site, hardware) with :math:`C_r` free devices,
options :math:`k` (one row of the :class:`OptionTable`: job :math:`j(k)`, resource :math:`r(k)`,
devices :math:`n_k`, cost :math:`c_k`, time :math:`t_k`, carbon :math:`e_k`). Options that break a
job's deadline, budget, latency SLO or filters were never generated, so those constraints are
already in the table.

Variables: :math:`x_k \in \{0,1\}` (job :math:`j(k)` runs as option :math:`k`); for makespan also
:math:`T \ge 0`.

.. math::

    \min\ & \sum_k w_k x_k \quad (w = c \text{ for cost}, e \text{ for carbon})
            \qquad\text{or}\qquad \min T \ \text{(makespan)} \\
    \text{s.t. } & \sum_{k: j(k)=j} x_k = 1 \quad \forall j
        \quad\text{(each job placed once)} \\
    & \sum_{k: r(k)=r} n_k x_k \le C_r \quad \forall r
        \quad\text{(free devices; jobs of a batch run concurrently)} \\
    & \sum_k c_k x_k \le B \quad\text{(optional total budget)} \\
    & T \ge \sum_{k: j(k)=j} t_k x_k \quad \forall j \quad\text{(makespan only)}

Makespan is solved lexicographically: first :math:`T^* = \min T`, then cost is minimized with
:math:`T \le T^*`. This is a generalized assignment problem (NP-hard; Martello & Toth,
"Knapsack Problems", 1990, ch. 7); HiGHS solves it by branch and cut and reports the relative
gap between its incumbent and dual bound, which we pass on.

Infeasible batches are diagnosed with an elastic copy of the problem: slack :math:`s_r \ge 0`
on each capacity row, :math:`u_j \ge 0` on each assignment row and :math:`b \ge 0` on the
budget row, minimizing their sum; the rows with positive slack are the ones that bind.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array, hstack

from suanli.errors import InfeasibleError
from suanli.network.placement.result import Placement
from suanli.network.placement.table import OptionTable


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """HiGHS sometimes prints diagnostics from C to file descriptor 1; keep stdout clean for
    ``--json`` by pointing fd 1 at stderr while the solver runs."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # captured stdout (tests): nothing to do
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        os.dup2(sys.stderr.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _milp(*args: Any, **kwargs: Any) -> Any:
    with _stdout_to_stderr():
        return milp(*args, **kwargs)


def _rows(table: OptionTable) -> tuple[csr_array, csr_array]:
    """Assignment matrix [J x K] (ones) and capacity matrix [R x K] (devices)."""
    k = np.arange(table.n_options)
    assign = csr_array((np.ones(table.n_options), (table.job, k)),
                       shape=(table.n_jobs, table.n_options))
    cap = csr_array((table.devices.astype(float), (table.resource, k)),
                    shape=(len(table.capacity), table.n_options))
    return assign, cap


def _constraints(table: OptionTable, budget_usd: float | None, pad: int
                 ) -> list[LinearConstraint]:
    """Assignment, capacity and budget rows over x, with ``pad`` extra zero columns."""
    assign, cap = _rows(table)
    mats = [(assign, 1.0, 1.0), (cap, -np.inf, table.capacity.astype(float))]
    if budget_usd is not None:
        mats.append((csr_array(table.cost_usd[None, :]), -np.inf, budget_usd))
    out = []
    for mat, lb, ub in mats:
        if pad:
            mat = hstack([mat, csr_array((mat.shape[0], pad))]).tocsr()
        out.append(LinearConstraint(mat, lb, ub))
    return out


def _status(res: object) -> str:
    code = getattr(res, "status", -1)
    return {0: "optimal", 1: "feasible", 2: "infeasible"}.get(code, "failed")


def _check_jobs(table: OptionTable) -> None:
    counts = np.bincount(table.job, minlength=table.n_jobs)
    empty = [table.job_ids[j] for j in np.flatnonzero(counts == 0)]
    if empty:
        reasons = []
        for jid in empty[:10]:
            why = table.unplaceable.get(jid, ["no candidate option"])
            reasons.append(f"job {jid}: " + "; ".join(why))
        raise InfeasibleError(f"{len(empty)} job(s) have no feasible option", reasons=reasons,
                              fixes=["relax the deadline or budget", "allow more hardware, "
                                     "sites or spot", "raise the carbon cap or max price"])


def solve(table: OptionTable, objective: str = "cost", *, budget_usd: float | None = None,
          time_limit_s: float = 30.0, mip_rel_gap: float = 1e-4) -> Placement:
    """Optimal placement (within ``mip_rel_gap``); raises InfeasibleError naming the binding
    constraints when no placement exists."""
    t0 = time.perf_counter()
    _check_jobs(table)
    score = table.score(objective)
    keep = np.isfinite(score)
    kept = np.flatnonzero(keep)  # the caller's option ids of the options solved
    if not keep.all():
        table, score = table.take(keep), score[keep]
        _check_jobs(table)
    opts: dict[str, object] = {"time_limit": time_limit_s, "mip_rel_gap": mip_rel_gap,
                               "disp": False}
    integrality = np.ones(table.n_options)
    if objective != "makespan":
        res = _milp(score, constraints=_constraints(table, budget_usd, pad=0),
                   integrality=integrality, bounds=Bounds(0, 1), options=opts)
    else:
        res = _makespan(table, budget_usd, opts)
    status = _status(res)
    if res.x is None:
        if status == "infeasible":
            raise diagnose(table, budget_usd)
        raise InfeasibleError(f"the MILP solver stopped without a placement ({res.message})",
                              fixes=["raise the time limit", "use the heuristic (--method "
                                     "heuristic)"])
    x = np.asarray(res.x[: table.n_options])
    choice = _choice(table, x)
    value = float(score[choice].max() if objective == "makespan" else score[choice].sum())
    choice = np.where(choice >= 0, kept[np.maximum(choice, 0)], -1)  # the caller's ids
    gap = getattr(res, "mip_gap", None)
    bound = getattr(res, "mip_dual_bound", None)
    return Placement(choice, objective, value, "milp", status, time.perf_counter() - t0,
                     None if gap is None else float(gap),
                     None if bound is None or objective == "makespan" else float(bound))


def _choice(table: OptionTable, x: NDArray[np.float64]) -> NDArray[np.int64]:
    choice = np.full(table.n_jobs, -1, dtype=np.int64)
    picked = np.flatnonzero(x > 0.5)
    choice[table.job[picked]] = picked
    return choice


def _makespan(table: OptionTable, budget_usd: float | None, opts: dict[str, object]
              ) -> Any:
    """min T, then min cost with T <= T* (lexicographic)."""
    K, J = table.n_options, table.n_jobs
    k = np.arange(K)
    # T - sum_k t_k x_k >= 0 for each job: [J x (K+1)]
    tmat = hstack([csr_array((-table.time_s, (table.job, k)), shape=(J, K)),
                   csr_array(np.ones((J, 1)))]).tocsr()
    cons = [*_constraints(table, budget_usd, pad=1), LinearConstraint(tmat, 0.0, np.inf)]
    integ = np.r_[np.ones(K), 0.0]
    bounds = Bounds(np.zeros(K + 1), np.r_[np.ones(K), np.inf])
    first = _milp(np.r_[np.zeros(K), 1.0], constraints=cons, integrality=integ, bounds=bounds,
                 options=opts)
    if first.x is None:
        return first
    t_star = float(first.x[-1]) * (1 + 1e-9) + 1e-6
    bounds2 = Bounds(np.zeros(K + 1), np.r_[np.ones(K), t_star])
    second = _milp(np.r_[table.cost_usd, 0.0], constraints=cons, integrality=integ,
                  bounds=bounds2, options=opts)
    if second.x is None:
        return first
    second.mip_gap = max(getattr(first, "mip_gap", 0.0) or 0.0,
                         getattr(second, "mip_gap", 0.0) or 0.0)
    return second


def diagnose(table: OptionTable, budget_usd: float | None = None,
             time_limit_s: float = 10.0) -> InfeasibleError:
    """Which constraints bind. The budget alone binds when even the cheapest option of every
    job, ignoring capacity, costs more than it; capacities alone bind when the elastic problem
    without the budget needs slack; otherwise the two bind together."""
    reasons: list[str] = []
    if budget_usd is not None:
        cheapest = np.full(table.n_jobs, np.inf)
        np.minimum.at(cheapest, table.job, table.cost_usd)
        if cheapest.sum() > budget_usd:
            reasons.append(f"total budget: the cheapest option of every job already costs "
                           f"${cheapest.sum():,.0f} > ${budget_usd:,.0f}")
    reasons += _elastic(table, None, time_limit_s)
    if not reasons and budget_usd is not None:
        reasons = ["budget and capacity together: "
                   + "; ".join(_elastic(table, budget_usd, time_limit_s))]
    return InfeasibleError("no placement satisfies every constraint of the batch",
                           reasons=reasons or ["the solver could not isolate the binding rows"],
                           fixes=["add capacity (more sites or hardware)", "relax deadlines "
                                  "or budgets", "allow spot", "split the batch"])


def _elastic(table: OptionTable, budget_usd: float | None, time_limit_s: float) -> list[str]:
    """Elastic copy (module docstring): the rows whose slack is positive at the optimum."""
    K, J, R = table.n_options, table.n_jobs, len(table.capacity)
    assign, cap = _rows(table)
    n_b = 1 if budget_usd is not None else 0
    # columns: x [K] | u [J] | s [R] | b [n_b]
    a_rows = hstack([assign, csr_array(np.eye(J)), csr_array((J, R + n_b))]).tocsr()
    c_rows = hstack([cap, csr_array((R, J)), csr_array(-np.eye(R)), csr_array((R, n_b))]
                    ).tocsr()
    cons = [LinearConstraint(a_rows, 1.0, 1.0),
            LinearConstraint(c_rows, -np.inf, table.capacity.astype(float))]
    if budget_usd is not None:
        b_row = hstack([csr_array(table.cost_usd[None, :]), csr_array((1, J + R)),
                        csr_array(-np.ones((1, 1)))]).tocsr()
        cons.append(LinearConstraint(b_row, -np.inf, budget_usd))
    scale_dev = max(float(table.capacity.max(initial=1)), 1.0)
    scale_usd = max(budget_usd or 1.0, 1.0)
    c = np.r_[np.zeros(K), np.full(J, 10.0), np.full(R, 1.0 / scale_dev),
              np.full(n_b, 1.0 / scale_usd)]
    integ = np.r_[np.ones(K), np.zeros(J + R + n_b)]
    res = _milp(c, constraints=cons, integrality=integ, bounds=Bounds(0, np.r_[np.ones(K),
               np.full(J + R + n_b, np.inf)]), options={"time_limit": time_limit_s})
    reasons: list[str] = []
    if res.x is None:
        return reasons
    u, s = res.x[K:K + J], res.x[K + J:K + J + R]
    for j in np.flatnonzero(u > 1e-6)[:10]:
        reasons.append(f"job {table.job_ids[j]} cannot be placed in any free capacity")
    for r in np.argsort(-s)[: int((s > 1e-6).sum())][:10]:
        need = table.capacity[r] + s[r]
        reasons.append(f"capacity of {table.resource_names[r]}: needs {need:.0f} devices, "
                       f"has {table.capacity[r]}")
    if n_b and res.x[-1] > 1e-6:
        reasons.append(f"total budget: needs ${budget_usd + res.x[-1]:,.0f}, has "
                       f"${budget_usd:,.0f}")
    return reasons
