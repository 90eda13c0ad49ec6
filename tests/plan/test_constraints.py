"""Plans under a deadline, a budget and a device cap (suanli.plan.constraints)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.errors import InputError
from suanli.plan.constraints import Candidate, Constraints, choose


def money(usd: float) -> str:
    return f"${usd:,.0f}"


# the shape of a real front: more devices -> fewer days, slightly higher cost
FRONT = [Candidate(devices=n, days=400.0 / n * (1 + n / 4096), cost_usd=1e6 * (1 + n / 4096),
                   item=n) for n in (64, 128, 256, 512, 1024, 2048, 4096)]


def test_cost_objective_with_a_deadline_returns_the_cheapest_plan_that_meets_it() -> None:
    slow = choose(FRONT, Constraints(), "cost", money)
    assert slow.best is not None and slow.best.devices == 64  # unconstrained: fewest devices
    fast = choose(FRONT, Constraints(max_days=1.0), "cost", money)
    assert fast.best is not None and fast.best.days <= 1.0
    assert fast.best.devices == min(c.devices for c in FRONT if c.days <= 1.0)


def test_time_objective_under_a_budget_and_a_device_cap() -> None:
    c = choose(FRONT, Constraints(budget_usd=1.2e6, max_devices=512), "time", money)
    assert c.best is not None
    assert c.best.devices == 512 and c.best.cost_usd <= 1.2e6  # type: ignore[operator]


def test_infeasible_says_which_constraint_binds_and_by_how_much() -> None:
    c = choose(FRONT, Constraints(max_days=0.2, max_devices=256), "cost", money)
    assert c.best is None
    assert any(line.startswith("the deadline binds") and "<= 256 devices" in line
               for line in c.binding)
    assert any(line.startswith("the device cap binds") and "needs 4,096 devices" in line
               for line in c.binding)
    c = choose(FRONT, Constraints(max_days=1.0, budget_usd=1.0e6), "cost", money)
    assert c.best is None
    assert any(line.startswith("the budget binds") and "over --budget" in line
               for line in c.binding)


def test_cost_needs_a_price() -> None:
    cands = [Candidate(devices=8, days=1.0, cost_usd=None, item=0)]
    with pytest.raises(InputError, match="no price is known"):
        choose(cands, Constraints(budget_usd=100.0), "time", money)


@settings(max_examples=50)
@given(days=st.floats(0.05, 10), budget=st.floats(1e6, 3e6), cap=st.sampled_from([64, 512, 4096]),
       objective=st.sampled_from(["time", "cost"]))
def test_the_choice_meets_every_constraint_and_nothing_feasible_beats_it(
        days: float, budget: float, cap: int, objective: str) -> None:
    k = Constraints(max_days=days, budget_usd=budget, max_devices=cap)
    c = choose(FRONT, k, objective, money)
    ok = [x for x in FRONT if x.days <= days and x.cost_usd <= budget  # type: ignore[operator]
          and x.devices <= cap]
    if not ok:
        assert c.best is None and c.binding
        return
    assert c.best is not None and c.best in ok
    key = (lambda x: x.cost_usd) if objective == "cost" else (lambda x: x.days)
    assert key(c.best) == min(key(x) for x in ok)
