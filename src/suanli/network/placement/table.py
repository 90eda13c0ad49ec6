"""The option table: every (job, site, hardware, count, spot) a job could run on, with its numbers.

This is the seam between the models and the optimizers: :mod:`.milp` and :mod:`.heuristic` only
see these arrays, so tests can build a table by hand and the perf model is asked once per
(job, hardware type, count), never per site (a duration does not depend on where it runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from suanli.errors import InputError

F = NDArray[np.float64]
I = NDArray[np.int64]  # noqa: E741
B = NDArray[np.bool_]
OBJECTIVES = ("cost", "makespan", "carbon")


@dataclass(frozen=True)
class OptionTable:
    """One row per candidate placement ``k`` of job ``job[k]`` on resource ``resource[k]``.

    A *resource* is (site, hardware) with ``capacity`` free devices; option ``k`` holds
    ``devices[k]`` of them for the whole run (jobs in one batch run at the same time).
    """

    job: I  # [K] job index 0..n_jobs-1
    resource: I  # [K] resource index 0..R-1
    devices: I  # [K] devices held
    cost_usd: F  # [K] compute + data transfer, USD
    time_s: F  # [K] start to finish incl. data transfer, seconds
    co2_kg: F  # [K] NaN where the site's grid intensity is unknown
    capacity: I  # [R] free devices per resource
    job_ids: tuple[str, ...]
    resource_names: tuple[str, ...]  # "site/hardware"
    spot: B | None = None  # [K]
    energy_kwh: F | None = None  # [K] facility energy
    run_s: F | None = None  # [K] compute time only
    transfer_s: F | None = None  # [K]
    transfer_usd: F | None = None  # [K]
    price: F | None = None  # [K] USD per device-hour paid
    plan: tuple[str, ...] | None = None  # [K] short plan text
    unplaceable: dict[str, list[str]] = field(default_factory=dict)  # job id -> why no option

    def __post_init__(self) -> None:
        k = len(self.job)
        for name in ("resource", "devices", "cost_usd", "time_s", "co2_kg"):
            if len(getattr(self, name)) != k:
                raise InputError(f"option table: '{name}' has {len(getattr(self, name))} rows, "
                                 f"'job' has {k}")
        if k and (self.job.min() < 0 or self.job.max() >= self.n_jobs):
            raise InputError("option table: job index out of range")
        if k and (self.resource.min() < 0 or self.resource.max() >= len(self.capacity)):
            raise InputError("option table: resource index out of range")

    @property
    def n_jobs(self) -> int:
        return len(self.job_ids)

    @property
    def n_options(self) -> int:
        return len(self.job)

    def score(self, objective: str) -> F:
        """Per-option value of the objective (makespan scores by time)."""
        if objective == "cost":
            return self.cost_usd
        if objective == "carbon":
            return np.where(np.isnan(self.co2_kg), np.inf, self.co2_kg)
        if objective == "makespan":
            return self.time_s
        raise InputError(f"objective must be one of {', '.join(OBJECTIVES)}, got '{objective}'")

    def take(self, keep: I | B) -> OptionTable:
        """A sub-table with the options ``keep`` (indices or mask); jobs and resources kept."""
        idx = np.flatnonzero(keep) if keep.dtype == np.bool_ else keep
        sub: dict[str, Any] = {name: getattr(self, name)[idx] for name in (
            "job", "resource", "devices", "cost_usd", "time_s", "co2_kg")}
        opt: dict[str, Any] = {
            name: (None if getattr(self, name) is None else getattr(self, name)[idx])
            for name in ("spot", "energy_kwh", "run_s", "transfer_s", "transfer_usd", "price")}
        plan = None if self.plan is None else tuple(self.plan[i] for i in idx)
        return OptionTable(**sub, **opt, capacity=self.capacity, job_ids=self.job_ids,
                           resource_names=self.resource_names, plan=plan,
                           unplaceable=self.unplaceable)

    def sorted_by_job(self) -> tuple[OptionTable, I]:
        """The table with its options grouped by job (stable) and the permutation used
        (``sorted.x == table.x[perm]``); the table itself when it is already grouped."""
        if self.n_options == 0 or bool(np.all(self.job[1:] >= self.job[:-1])):
            return self, np.arange(self.n_options, dtype=np.int64)
        perm = np.argsort(self.job, kind="stable").astype(np.int64)
        return self.take(perm), perm

    def options_of(self, j: int) -> I:
        return np.flatnonzero(self.job == j)


def prune(table: OptionTable, objective: str, per_job: int,
          price: F | None = None) -> OptionTable:
    """Keep, per job, the ``per_job`` best options by the objective (plus ``price``, e.g.
    Lagrange prices of the capacity each option uses), and the option with the fewest devices
    (so a tight capacity still has a way out). Exact when capacities do not bind; otherwise the
    MILP on the pruned table is an upper bound on the full problem (the docs say so)."""
    if per_job <= 0:
        return table
    return table.take(prune_mask(table, objective, per_job, price))


def order_within_jobs(table: OptionTable, key: F) -> tuple[I, I, I]:
    """Options sorted by (job, key): the order and each job's [lo, hi) slice in it. One small
    sort per job when the table is grouped by job (ten times faster than a global lexsort on
    millions of options); a global stable sort otherwise."""
    ids = np.arange(table.n_jobs)
    if table.n_options and bool(np.all(table.job[1:] >= table.job[:-1])):
        lo = np.searchsorted(table.job, ids, "left").astype(np.int64)
        hi = np.searchsorted(table.job, ids, "right").astype(np.int64)
        parts = [a + np.argsort(key[a:b], kind="stable") for a, b in zip(lo, hi, strict=True)
                 if b > a]
        order = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        return order, lo, hi
    order = np.lexsort((key, table.job)).astype(np.int64)
    jobs = table.job[order]
    return (order, np.searchsorted(jobs, ids, "left").astype(np.int64),
            np.searchsorted(jobs, ids, "right").astype(np.int64))


def prune_mask(table: OptionTable, objective: str, per_job: int, price: F | None = None) -> B:
    """The options :func:`prune` keeps, as a mask over the table."""
    score = table.score(objective) + (0.0 if price is None else price)
    keep = np.zeros(table.n_options, dtype=bool)
    order, lo, hi = order_within_jobs(table, score)
    rank = np.arange(len(order)) - np.repeat(lo, hi - lo)
    keep[order[rank < per_job]] = True
    top = float(np.abs(score[np.isfinite(score)]).max(initial=1.0))
    fewest, _, _ = order_within_jobs(table, table.devices + score / (2 * top + 1.0))
    keep[fewest[lo[hi > lo]]] = True
    return keep


def from_arrays(job: list[int], resource: list[int], devices: list[int], cost: list[float],
                time: list[float], co2: list[float], capacity: list[int],
                job_ids: list[str] | None = None,
                resource_names: list[str] | None = None) -> OptionTable:
    """Build a table from plain lists (handy for tests and for callers with their own model)."""
    n_jobs = (max(job) + 1) if job else 0
    return OptionTable(
        job=np.asarray(job, dtype=np.int64), resource=np.asarray(resource, dtype=np.int64),
        devices=np.asarray(devices, dtype=np.int64), cost_usd=np.asarray(cost, dtype=float),
        time_s=np.asarray(time, dtype=float), co2_kg=np.asarray(co2, dtype=float),
        capacity=np.asarray(capacity, dtype=np.int64),
        job_ids=tuple(job_ids or [f"job{i}" for i in range(n_jobs)]),
        resource_names=tuple(resource_names or [f"r{i}" for i in range(len(capacity))]))
