"""MILP and heuristic on option tables built by hand: brute force agrees, constraints hold,
infeasible batches name the binding constraint."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.errors import InfeasibleError
from suanli.network.place import place_table
from suanli.network.placement import OptionTable, from_arrays, greedy, prune, solve


def brute_force(t: OptionTable, objective: str) -> float:
    """Best objective over every assignment that respects capacities (inf if none)."""
    per_job = [t.options_of(j) for j in range(t.n_jobs)]
    score = t.score(objective)
    best = np.inf
    for combo in itertools.product(*per_job):
        use = np.zeros(len(t.capacity))
        np.add.at(use, t.resource[list(combo)], t.devices[list(combo)])
        if (use <= t.capacity).all():
            vals = score[list(combo)]
            best = min(best, vals.max() if objective == "makespan" else vals.sum())
    return float(best)


@st.composite
def tables(draw: st.DrawFn) -> OptionTable:
    n_jobs = draw(st.integers(1, 4))
    n_res = draw(st.integers(1, 3))
    job, res, dev, cost, time = [], [], [], [], []
    for j in range(n_jobs):
        for _ in range(draw(st.integers(1, 3))):
            job.append(j)
            res.append(draw(st.integers(0, n_res - 1)))
            dev.append(draw(st.sampled_from([1, 2, 4, 8])))
            cost.append(draw(st.integers(1, 100)))
            time.append(draw(st.integers(1, 100)))
    cap = [draw(st.integers(1, 16)) for _ in range(n_res)]
    return from_arrays(job, res, dev, cost, time, [c * 0.5 for c in cost], cap)


def _used(t: OptionTable, choice: np.ndarray) -> np.ndarray:
    use = np.zeros(len(t.capacity), dtype=np.int64)
    k = choice[choice >= 0]
    np.add.at(use, t.resource[k], t.devices[k])
    return use


@settings(max_examples=60, deadline=None)
@given(tables(), st.sampled_from(["cost", "makespan", "carbon"]))
def test_milp_matches_brute_force_and_heuristic_is_never_better(t: OptionTable,
                                                                 objective: str) -> None:
    best = brute_force(t, objective)
    if not np.isfinite(best):
        with pytest.raises(InfeasibleError, match="capacity of"):
            solve(t, objective)
        return
    p = solve(t, objective)
    assert p.value == pytest.approx(best)
    assert (p.choice >= 0).all() and (_used(t, p.choice) <= t.capacity).all()
    assert (t.job[p.choice] == np.arange(t.n_jobs)).all()
    h = greedy(t, objective)
    if h.bound is not None:  # the Lagrangian bound is a true lower bound
        assert h.bound <= best + 1e-6 * max(1.0, abs(best))
    if h.status != "infeasible":
        assert h.value >= best - 1e-9
        assert (_used(t, h.choice) <= t.capacity).all()


def test_regret_order_beats_naive_greedy() -> None:
    # both jobs like resource 0 best, only one fits; job 1 loses more by moving
    t = from_arrays([0, 0, 1, 1], [0, 1, 0, 1], [8, 8, 8, 8], [10, 20, 11, 30], [1, 1, 1, 1],
                    [0, 0, 0, 0], [8, 16])
    assert greedy(t).value == solve(t).value == 31


def test_capacity_infeasibility_names_the_resource() -> None:
    t = from_arrays([0, 1], [0, 0], [8, 8], [1, 1], [1, 1], [1, 1], [8],
                    resource_names=["cn-zhongwei/hgx-h20"])
    with pytest.raises(InfeasibleError, match=r"capacity of cn-zhongwei/hgx-h20: needs 16 "
                                              r"devices, has 8"):
        solve(t)


def test_budget_infeasibility_says_what_it_costs() -> None:
    t = from_arrays([0, 1], [0, 1], [8, 8], [100, 200], [1, 1], [1, 1], [8, 8])
    with pytest.raises(InfeasibleError, match=r"already costs \$300 > \$250"):
        solve(t, budget_usd=250)
    assert solve(t, budget_usd=300).value == 300


def test_a_job_without_options_is_reported_with_its_reason() -> None:
    t = from_arrays([0], [0], [8], [1], [1], [1], [8], job_ids=["a", "b"])
    t = OptionTable(**{**t.__dict__, "unplaceable": {"b": ["infeasible deadline: 40 days"]}})
    with pytest.raises(InfeasibleError, match="job b: infeasible deadline"):
        solve(t)


def test_makespan_then_cost() -> None:
    # job 0: fast+dear or slow+cheap; job 1 fixes the makespan at 10
    t = from_arrays([0, 0, 1], [0, 0, 0], [1, 1, 1], [50, 5, 7], [2, 9, 10], [0, 0, 0], [8])
    p = solve(t, "makespan")
    assert p.value == 10 and p.choice[0] == 1  # the cheap option also finishes by 10
    assert greedy(t, "makespan").choice[0] == 1


def test_prune_keeps_best_and_smallest() -> None:
    rng = np.random.default_rng(1)
    n = 50
    t = from_arrays([0] * n, list(rng.integers(0, 3, n)), list(rng.choice([8, 16, 64], n)),
                    list(rng.uniform(1, 100, n)), list(rng.uniform(1, 9, n)), [0.0] * n,
                    [64, 64, 64])
    p = prune(t, "cost", 5)
    assert p.n_options <= 6
    assert p.cost_usd.min() == t.cost_usd.min()
    assert p.devices.min() == t.devices.min()


def test_place_table_reports_the_gap_on_a_shared_instance() -> None:
    rng = np.random.default_rng(0)
    jobs, opts, res = 60, 12, 8
    job = np.repeat(np.arange(jobs), opts)
    t = from_arrays(list(job), list(rng.integers(0, res, job.size)),
                    list(rng.choice([8, 16, 32], job.size)),
                    list(rng.uniform(100, 1000, job.size)), list(rng.uniform(1, 10, job.size)),
                    [0.0] * job.size, [96] * res)
    r = place_table(t, method="both", prune_to=0)
    assert r.milp is not None and r.heuristic is not None
    assert r.milp.mip_gap is not None and r.milp.mip_gap <= 1e-3
    assert r.heuristic.value >= r.milp.value * (1 - 1e-6)
    assert r.heuristic_gap is not None and 0 <= r.heuristic_gap < 0.5
