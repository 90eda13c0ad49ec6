r"""Lower bounds on the FULL placement problem: Lagrangian relaxation, solved by column generation.

The problem P (cost or carbon; notation of :mod:`.milp`): options :math:`k` of job
:math:`j(k)` on resource :math:`r(k)`, using :math:`n_k` devices, objective weight :math:`w_k`
(USD or kg), cost :math:`c_k`; free devices :math:`C_r`; optional total budget :math:`B`.

.. math::

    \min \sum_k w_k x_k \ \text{ s.t. } \sum_{k \in j} x_k = 1\ \forall j,\quad
    \sum_{k \in r} n_k x_k \le C_r\ \forall r,\quad \sum_k c_k x_k \le B,\quad x \in \{0,1\}

**Lagrangian bound.** Relax capacity with :math:`\mu_r \ge 0` and the budget with
:math:`\lambda \ge 0`:

.. math::

    L(\mu, \lambda) = \sum_j \min_{k \in j} \big(w_k + \mu_{r(k)} n_k + \lambda c_k\big)
                      - \sum_r \mu_r C_r - \lambda B

For ANY :math:`\mu, \lambda \ge 0` and any feasible :math:`x`, :math:`\sum w_k x_k \ge L`
(weak duality: the added terms are <= 0 at a feasible x). It is computed over every option of
the table in O(K), so it bounds the full problem whatever table a solver later sees.

**Reduced costs.** :math:`\bar r_k = w_k + \mu n_k + \lambda c_k - \min_{k' \in j(k)}(\dots)
\ge 0`. Fixing :math:`x_k = 1` in the Lagrangian gives :math:`L + \bar r_k`, a lower bound on
every feasible solution that uses option :math:`k`. Hence, for a kept subset S of options,

.. math::

    \mathrm{OPT}(P) \ \ge\ \min\Big(\mathrm{bound}(P|_S),\ \min_{k \notin S} L + \bar r_k\Big)

and options with :math:`L + \bar r_k > U` (U: any feasible value) cannot improve on U
(reduced-cost fixing, Nemhauser & Wolsey, "Integer and Combinatorial Optimization", 1988,
II.5.2).

**Best multipliers.** The assignment rows have the integrality property, so
:math:`\max L` equals the LP relaxation's value (Geoffrion, "Lagrangean relaxation for integer
programming", Math. Prog. Study 2, 1974). We reach it by column generation: solve the LP over a
subset S of columns with HiGHS (elastic: an artificial :math:`u_j \ge 0` of cost M on each
assignment row keeps it feasible), read :math:`\mu, \lambda` from the capacity and budget duals
and :math:`\pi_j` from the assignment duals, price every option (:math:`w_k + \mu n_k +
\lambda c_k - \pi_j`), add each job's most negative column to S, and repeat until none is
negative: then the LP over S is the LP over the whole table and :math:`L(\mu,\lambda)` is the
LP bound. If the LP still needs :math:`u > 0` at that point, the LP relaxation of the full
problem is infeasible and so is P. A cheaper start (and the bound of heuristic-only runs) is
projected subgradient ascent with Polyak's step (Fisher, Management Science 1981).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog
from scipy.sparse import csr_array, hstack, identity, vstack

from suanli.network.placement.table import OptionTable, order_within_jobs

F = NDArray[np.float64]
B = NDArray[np.bool_]
I = NDArray[np.int64]  # noqa: E741


def job_starts(table: OptionTable) -> I:
    """Start of each job's options; the table must be sorted by job (``table.by_job``)."""
    return np.searchsorted(table.job, np.arange(table.n_jobs)).astype(np.int64)


def lagrangian(table: OptionTable, w: F, mu: F, lam: float = 0.0,
               budget_usd: float | None = None) -> tuple[float, F]:
    """L(mu, lambda) over every option (module docstring) and the reduced costs [K]."""
    starts = job_starts(table)
    adj = w + mu[table.resource] * table.devices
    if budget_usd is not None and lam > 0:
        adj = adj + lam * table.cost_usd
    mins = np.minimum.reduceat(adj, starts) if table.n_options else np.zeros(0)
    value = float(mins.sum() - mu @ table.capacity
                  - (lam * budget_usd if budget_usd is not None else 0.0))
    return value, adj - mins[table.job]


def subgradient(table: OptionTable, w: F, iters: int, upper: float | None,
                time_budget_s: float | None = None) -> tuple[F, float]:
    """Projected subgradient ascent on mu (budget not priced); returns (best mu, best L).
    ``time_budget_s`` stops it early (every L computed is a valid bound)."""
    t0 = time.perf_counter()
    starts = job_starts(table)
    dev = table.devices.astype(float)
    cap = table.capacity.astype(float)
    mu = np.zeros(len(cap))
    best_mu, best_lb = mu.copy(), -np.inf
    if upper is None:  # no feasible answer yet: aim 50% above the capacity-free optimum
        upper = 1.5 * float(np.minimum.reduceat(w, starts).sum())
    theta, stall = 1.0, 0
    for _ in range(iters):
        adj = w + mu[table.resource] * dev
        mins = np.minimum.reduceat(adj, starts)
        lb = float(mins.sum() - mu @ cap)
        if lb > best_lb + 1e-9 * max(1.0, abs(best_lb)) or not np.isfinite(best_lb):
            best_lb, best_mu, stall = lb, mu.copy(), 0
        else:
            stall += 1
            if stall >= 5:
                theta, stall = theta / 2, 0
        hit = np.flatnonzero(adj <= mins[table.job])
        first = hit[np.r_[True, table.job[hit][1:] != table.job[hit][:-1]]]  # one per job
        g = np.bincount(table.resource[first], weights=dev[first], minlength=len(cap)) - cap
        g = np.where((mu <= 0) & (g < 0), 0.0, g)  # projected subgradient
        norm = float(g @ g)
        if norm == 0 or theta < 1e-4 or (time_budget_s is not None
                                          and time.perf_counter() - t0 > time_budget_s):
            break
        mu = np.maximum(0.0, mu + theta * max(upper - lb, 1e-9 * abs(upper)) / norm * g)
    return best_mu, best_lb


@dataclass(frozen=True)
class Relaxation:
    """What the LP/Lagrangian stage learned about the full problem."""

    bound: float  # a valid lower bound on the full problem (max of every L computed)
    mu: F  # [R] capacity prices at the bound
    lam: float  # budget price
    reduced: F  # [K] reduced costs at (mu, lam)
    lp_x: F  # [K] the LP solution over the columns it saw (0 elsewhere)
    lp_value: float  # the last restricted LP's value (incl. elastic penalty)
    columns: int  # columns in the last restricted LP
    rounds: int
    converged: bool  # no negative reduced cost left: lp_value is the full LP's value
    shortfall: float  # sum of elastic u_j at the end (> 0: the LP relaxation is infeasible)
    unplaced_share: F  # [J] u_j per job


def lp_relaxation(table: OptionTable, w: F, start: B, *, budget_usd: float | None = None,
                  max_rounds: int = 30, add_per_job: int = 10, mu0: F | None = None,
                  elastic: bool = True, time_budget_s: float | None = None,
                  rel_tol: float = 2e-4) -> Relaxation:
    """Column generation (module docstring) from the columns ``start``; every bound is taken on
    the whole table. ``elastic=False`` when ``start`` holds a feasible assignment (the
    restricted LP is then feasible without artificial columns, and solves about twice as
    fast); ``time_budget_s`` stops the rounds early, and so does a restricted LP value within
    ``rel_tol`` of the bound (the LP over S bounds the full LP from above, L from below; the
    bound stays valid either way and ``converged`` says which)."""
    t0 = time.perf_counter()
    J, R, K = table.n_jobs, len(table.capacity), table.n_options
    starts = job_starts(table)
    penalty = 100.0 * float(np.abs(w).max(initial=1.0)) + 1.0  # M for the elastic u_j
    keep = start.copy()
    best = -np.inf
    best_mu = np.zeros(R) if mu0 is None else mu0
    if mu0 is not None:
        best = lagrangian(table, w, mu0)[0]
    best_lam = 0.0
    x_full, u = np.zeros(K), np.ones(J)
    lp_value, converged, rounds = np.inf, False, 0
    for rounds in range(1, max_rounds + 1):  # noqa: B007
        idx = np.flatnonzero(keep)
        res = _restricted_lp(table, w, idx, penalty if elastic else None, budget_usd)
        mu = np.maximum(0.0, -np.asarray(res.ineqlin.marginals[:R]))
        lam = (max(0.0, -float(res.ineqlin.marginals[R])) if budget_usd is not None else 0.0)
        pi = np.asarray(res.eqlin.marginals)
        value, _ = lagrangian(table, w, mu, lam, budget_usd)
        if value > best:
            best, best_mu, best_lam = value, mu, lam
        x_full = np.zeros(K)
        x_full[idx] = res.x[:len(idx)]
        u = np.asarray(res.x[len(idx):])  # the elastic u_j (none when not elastic)
        u = u if len(u) == J else np.zeros(J)
        lp_value = float(res.fun)
        priced = w + mu[table.resource] * table.devices - pi[table.job]
        if budget_usd is not None and lam > 0:
            priced += lam * table.cost_usd
        tol = 1e-7 * max(1.0, abs(lp_value))
        neg = (priced < -tol) & ~keep
        if not neg.any():
            converged = True
            break
        if not u.any() and lp_value - best <= rel_tol * abs(lp_value):
            break
        keep |= _most_negative(priced, neg, starts, table.job, add_per_job)
        if time_budget_s is not None and time.perf_counter() - t0 > time_budget_s:
            break
    _, reduced = lagrangian(table, w, best_mu, best_lam, budget_usd)
    return Relaxation(bound=float(best), mu=best_mu, lam=best_lam, reduced=reduced,
                      lp_x=x_full, lp_value=lp_value, columns=int(keep.sum()), rounds=rounds,
                      converged=converged, shortfall=float(u.sum()), unplaced_share=u)


def sampled_relaxation(table: OptionTable, w: F, n_sample: int, *,
                       budget_usd: float | None = None, mu0: F | None = None,
                       time_budget_s: float | None = None, seed: int = 0) -> Relaxation:
    """Capacity prices from the LP of a random sample of jobs with every capacity (and the
    budget) scaled by the sample's share; the bound is L(mu) on the WHOLE table, valid for any
    mu (module docstring), and close to the LP bound when jobs are many and alike (the
    sample's LP prices the same scarcity). For batches too large for column generation in
    time; ``lp_x`` is empty (nothing to round) and ``converged`` False."""
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(table.n_jobs, size=min(n_sample, table.n_jobs), replace=False))
    share = len(pick) / table.n_jobs
    sel = np.isin(table.job, pick)
    remap = np.full(table.n_jobs, -1, dtype=np.int64)
    remap[pick] = np.arange(len(pick))
    sub = replace(table.take(sel), job=remap[table.job[sel]],
                  job_ids=tuple(table.job_ids[j] for j in pick),
                  capacity=np.ceil(table.capacity * share).astype(np.int64))
    start = np.zeros(sub.n_options, dtype=bool)
    order, lo, hi = order_within_jobs(sub, w[sel] + (0.0 if mu0 is None else
                                                     mu0[sub.resource] * sub.devices))
    rank = np.arange(len(order)) - np.repeat(lo, hi - lo)
    start[order[rank < 5]] = True
    part = lp_relaxation(sub, w[sel], start, mu0=mu0, time_budget_s=time_budget_s,
                         budget_usd=None if budget_usd is None else budget_usd * share)
    candidates = [part.mu] + ([mu0] if mu0 is not None else [])
    scored = [(lagrangian(table, w, m, 0.0, budget_usd), m) for m in candidates]
    (value, reduced), mu = max(scored, key=lambda s: s[0][0])
    return Relaxation(bound=value, mu=mu, lam=0.0, reduced=reduced,
                      lp_x=np.zeros(table.n_options), lp_value=np.inf, columns=part.columns,
                      rounds=part.rounds, converged=False, shortfall=0.0,
                      unplaced_share=np.zeros(table.n_jobs))


def _most_negative(priced: F, neg: B, starts: I, job: I, per_job: int) -> B:
    """Each job's ``per_job`` most negative candidate columns."""
    cand = np.flatnonzero(neg)
    order = cand[np.lexsort((priced[cand], job[cand]))]
    js = job[order]
    first = np.searchsorted(js, js)  # first position of each job's run (js is sorted)
    rank = np.arange(len(order)) - first
    out = np.zeros(len(priced), dtype=bool)
    out[order[rank < per_job]] = True
    return out


def _restricted_lp(table: OptionTable, w: F, idx: I, penalty: float | None,
                   budget_usd: float | None) -> Any:
    """min w x (+ M u) over columns idx: assignment rows = 1 (elastic with u when a penalty
    M is given), capacity (and budget) rows."""
    J, R, n = table.n_jobs, len(table.capacity), len(idx)
    cols = np.arange(n)
    n_u = J if penalty is not None else 0
    assign = csr_array((np.ones(n), (table.job[idx], cols)), shape=(J, n))
    cap = csr_array((table.devices[idx].astype(float), (table.resource[idx], cols)),
                    shape=(R, n))
    a_eq = hstack([assign, identity(J, format="csr")]).tocsr() if n_u else assign
    a_ub = hstack([cap, csr_array((R, n_u))]) if n_u else cap
    b_ub = table.capacity.astype(float)
    if budget_usd is not None:
        a_ub = vstack([a_ub, hstack([csr_array(table.cost_usd[idx][None, :]),
                                     csr_array((1, n_u))]) if n_u
                       else csr_array(table.cost_usd[idx][None, :])])
        b_ub = np.r_[b_ub, budget_usd]
    c = np.r_[w[idx], np.full(n_u, penalty or 0.0)]
    res = linprog(c, A_ub=a_ub.tocsr(), b_ub=b_ub, A_eq=a_eq, b_eq=np.ones(J),
                  bounds=(0, None), method="highs")
    if res.status == 2 and penalty is None:  # cannot happen when start was feasible
        return _restricted_lp(table, w, idx, 100.0 * float(np.abs(w).max(initial=1.0)) + 1.0,
                              budget_usd)
    if res.status != 0:  # the elastic LP is always feasible and bounded
        raise RuntimeError(f"restricted LP failed: {res.message}")
    return res
