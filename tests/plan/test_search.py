"""The planner: finds valid fitting plans, ranks them, explains infeasibility."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.errors import InfeasibleError
from suanli.perf.training import TrainingJob
from suanli.plan.api import best_training_plan, make_job
from suanli.plan.search import SearchSpace, build_grid, pareto_mask, search


@pytest.fixture(scope="module")
def job_1t(catalog) -> TrainingJob:
    system = catalog.system("dgx-a100-80gb")
    return TrainingJob(model=catalog.model("megatron-1t"), system=system,
                       accelerator=catalog.accelerator(system.accelerator), tokens=450e9,
                       seq_len=2048, global_batch=3072, flash_attention=False)


def test_full_1t_search_space_is_the_issue_space(job_1t):
    grid = build_grid(job_1t, [3072], SearchSpace())
    assert set(np.unique(grid["tp"])) == {1, 2, 4, 8}  # divisors of 160 heads that divide 3072
    assert {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128} == set(np.unique(grid["pp"]))
    assert set(np.unique(grid["micro_batch"])) == set(range(1, 9))
    assert set(np.unique(grid["zero"])) == {0, 1, 2, 3}
    assert set(np.unique(grid["recompute"])) == {0, 1, 2}
    assert set(np.unique(grid["sp"])) == {0, 1}
    assert len(grid["tp"]) > 10_000
    assert np.all(grid["tp"] * grid["pp"] * grid["dp"] * grid["cp"] == 3072)


def test_best_plans_fit_are_sorted_and_beat_every_other_fitting_plan(job_1t):
    res = search(job_1t, 3072, top=20)
    assert all(e.fits for e in res.best)
    times = [e.step_time_s for e in res.best]
    assert times == sorted(times)
    # the known Megatron plan (TP8 PP64 DP6, full recompute) is valid but not better
    from suanli.perf.training import Plan, estimate

    known = estimate(job_1t, Plan(tp=8, pp=64, dp=6, micro_batch=1, interleave=1, zero=0,
                                  recompute="full"))
    assert known.fits
    assert res.best[0].step_time_s <= known.step_time_s


def test_cost_objective_prefers_fewer_devices_on_a_range(catalog):
    job = make_job("llama2-7b", "dgx-a100-80gb", 1e11, global_batch_tokens=4 * 2**20)
    by_time = search(job, [64, 128, 256, 512], objective="time", top=1).best[0]
    by_cost = search(job, [64, 128, 256, 512], objective="cost", top=1).best[0]
    assert by_time.days <= by_cost.days
    assert by_cost.cost_usd <= by_time.cost_usd
    assert by_cost.plan.devices <= by_time.plan.devices


def test_pareto_front_is_non_dominated(catalog):
    job = make_job("llama2-13b", "dgx-h100", 2e11)
    res = search(job, [32, 64, 128, 256, 512])
    pts = np.array([[e.plan.devices, e.days, e.cost_usd] for e in res.pareto])
    assert pareto_mask(pts).all()
    assert len(res.pareto) >= 2
    assert sorted(p.plan.devices for p in res.pareto) == [p.plan.devices for p in res.pareto]


def test_infeasible_says_how_many_devices_would_do(catalog):
    job = make_job("llama3.1-405b", "dgx-a100-80gb", 1e12)
    with pytest.raises(InfeasibleError, match=r"use >= \d+ x A100-80GB") as exc:
        search(job, 8)
    assert exc.value.reasons and exc.value.fixes


def test_api_quote_matches_search_and_is_memoized(catalog):
    q1 = best_training_plan("gpt3-175b", "a100", 1024, 300e9)
    q2 = best_training_plan("gpt3-175b", "a100", 1024, 300e9)
    assert q1 is q2
    assert q1.fits and q1.system == "dgx-a100-80gb"
    assert q1.device_hours == pytest.approx(q1.days * 24 * 1024)
    assert q1.energy_kwh(1.5) == pytest.approx(q1.device_hours * q1.power_w_per_device / 1000
                                               * 1.5)


def test_palm_tp12_on_6144_tpu_v4(catalog):
    """PaLM's layout: 12-way model parallel over 48 heads with one KV head."""
    job = make_job("palm-540b", "tpu-v4-pod", 780e9, seq_len=2048, global_batch=2048)
    res = search(job, 6144, SearchSpace(tp=[12], pp=[1]), top=1)
    best = res.best[0]
    assert best.plan.tp == 12 and best.plan.dp == 512 and best.fits


def test_gpt3_on_10000_v100_and_a_100_gpu_cluster(catalog):
    job = make_job("gpt3-175b", "v100-dgx1", 300e9, seq_len=2048, global_batch=1536,
                   dtype="fp16")
    best = search(job, 10_000, top=1).best[0]
    assert best.plan.devices == 10_000 and best.fits
    small = make_job("llama2-70b", "dgx-a100-80gb", 1e12)
    best = search(small, 100, top=1).best[0]
    assert best.plan.devices == 100
    if best.global_batch != small.global_batch:
        assert best.notes and "adapted" in best.notes[0]
        assert abs(best.global_batch / small.global_batch - 1) <= 0.10


def test_tp_can_be_any_divisor_of_the_heads(catalog):
    job = make_job("gpt3-175b", "dgx-a100-80gb", 300e9, seq_len=2048, global_batch=1536)
    tps = set(np.unique(build_grid(job, [1536], SearchSpace())["tp"]))
    assert {3, 6} <= tps and 5 not in tps  # 96 heads


def test_no_valid_plan_names_device_counts_that_work(catalog):
    job = make_job("llama2-7b", "dgx-a100-80gb", 1e11, global_batch=512)
    with pytest.raises(InfeasibleError) as exc:
        search(job, 1031)  # prime, and twice the batch: no layout obeys the rules
    fixes = " ".join(exc.value.fixes)
    assert "devices (valid plans exist there)" in fixes and "power of two" not in fixes
    near = [int(w) for w in fixes.split("use ")[1].split(" devices")[0].split(" or ")]
    for n in near:
        assert search(job, n, require_fit=False).best
