"""Plans under a deadline, a budget and a device cap: the best plan that meets them all, or
which constraint binds and by how much.

Problem (over candidate plans ``x``, each with a device count ``n(x)``, wall-clock days
``T(x)`` and cost ``C(x)``):

    minimize   C(x)  (objective "cost")   or   T(x)  (objective "time")
    subject to T(x) <= max_days,  C(x) <= budget,  n(x) <= max_devices

The optimum of any such problem lies on the Pareto front over (n, T, C): a plan dominated by
another is never better and the dominating plan meets every constraint the first one meets.
So the planner's front (``SearchResult.pareto``, the fastest plan at each device count) is the
whole candidate set. When nothing is feasible, each constraint is relaxed in turn and the
report says how far the best plan under the others misses it ("the deadline binds: the
fastest plan on <= 512 devices takes 41.3 days, 11.3 more than --max-days 30").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from suanli.errors import InputError

T = TypeVar("T")


@dataclass(frozen=True)
class Constraints:
    max_days: float | None = None
    budget_usd: float | None = None
    max_devices: int | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.max_days, self.budget_usd, self.max_devices))

    def describe(self, money: Callable[[float], str]) -> str:
        parts = []
        if self.max_days is not None:
            parts.append(f"at most {self.max_days:g} days")
        if self.budget_usd is not None:
            parts.append(f"at most {money(self.budget_usd)}")
        if self.max_devices is not None:
            parts.append(f"at most {self.max_devices:,} devices")
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class Candidate(Generic[T]):
    devices: int
    days: float
    cost_usd: float | None
    item: T


@dataclass(frozen=True)
class Choice(Generic[T]):
    best: Candidate[T] | None  # None: no candidate meets every constraint
    feasible: list[Candidate[T]]  # best first
    binding: list[str] = field(default_factory=list)  # why nothing is feasible


def _ok_devices(c: Candidate[T], k: Constraints) -> bool:
    return k.max_devices is None or c.devices <= k.max_devices


def _ok_days(c: Candidate[T], k: Constraints) -> bool:
    return k.max_days is None or c.days <= k.max_days


def _ok_budget(c: Candidate[T], k: Constraints) -> bool:
    return k.budget_usd is None or (c.cost_usd is not None and c.cost_usd <= k.budget_usd)


def choose(cands: Sequence[Candidate[T]], k: Constraints, objective: str,
           money: Callable[[float], str]) -> Choice[T]:
    """The best candidate under ``k`` by ``objective`` ("time" or "cost"), or the binding
    constraints with the shortfall of the best plan under the other ones."""
    if objective not in ("time", "cost"):
        raise InputError(f"objective must be time or cost, got '{objective}'")
    if (k.budget_usd is not None or objective == "cost") and any(
            c.cost_usd is None for c in cands):
        raise InputError("no price is known for this hardware, so cost cannot be ranked or "
                         "held to --budget; give --price (e.g. '$2/h' or '¥15/h')")

    def key(c: Candidate[T]) -> tuple[float, float]:
        cost = c.cost_usd if c.cost_usd is not None else 0.0
        return (cost, c.days) if objective == "cost" else (c.days, cost)

    ok = sorted((c for c in cands if _ok_devices(c, k) and _ok_days(c, k) and _ok_budget(c, k)),
                key=key)
    if ok:
        return Choice(best=ok[0], feasible=ok)
    return Choice(best=None, feasible=[], binding=explain(cands, k, money))


def explain(cands: Sequence[Candidate[T]], k: Constraints,
            money: Callable[[float], str]) -> list[str]:
    """One sentence per binding constraint: the best plan under the others, and its miss."""
    out: list[str] = []
    cap = f" on <= {k.max_devices:,} devices" if k.max_devices is not None else ""
    if k.max_days is not None:
        pool = [c for c in cands if _ok_devices(c, k) and _ok_budget(c, k)]
        if pool:
            fast = min(pool, key=lambda c: c.days)
            if fast.days > k.max_days:
                within = " within budget" if k.budget_usd is not None else ""
                out.append(f"the deadline binds: the fastest plan{cap}{within} takes "
                           f"{_days(fast.days)}, {_days(fast.days - k.max_days)} "
                           f"({fast.days / k.max_days - 1:.0%}) more than --max-days "
                           f"{k.max_days:g} ({fast.devices:,} devices)")
    if k.budget_usd is not None:
        pool = [c for c in cands if _ok_devices(c, k) and _ok_days(c, k)]
        if pool:
            cheap = min(pool, key=lambda c: c.cost_usd or 0.0)
            over = (cheap.cost_usd or 0.0) - k.budget_usd
            if over > 0:
                meets = " that meets the deadline" if k.max_days is not None else ""
                out.append(f"the budget binds: the cheapest plan{cap}{meets} costs "
                           f"{money(cheap.cost_usd or 0.0)}, {money(over)} "
                           f"({over / k.budget_usd:.0%}) over --budget {money(k.budget_usd)}")
    if k.max_devices is not None:
        pool = [c for c in cands if _ok_days(c, k) and _ok_budget(c, k)]
        if pool:
            fewest = min(pool, key=lambda c: c.devices)
            if fewest.devices > k.max_devices:
                out.append(f"the device cap binds: the smallest plan that meets the others "
                           f"needs {fewest.devices:,} devices, {fewest.devices - k.max_devices:,}"
                           f" more than --max-devices {k.max_devices:,}")
    if not out:
        out.append("no searched plan meets the constraints together, and none of them binds "
                   "alone: relax two of them, or search more device counts (--devices)")
    return out


def _days(days: float) -> str:
    from suanli.units import format_duration

    return format_duration(days * 86_400.0)
