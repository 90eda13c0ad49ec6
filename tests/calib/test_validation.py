"""The golden validation suite: Suanli against published training runs.

Bounds (issue 2): on rows with a full parallel config, median |error| <= 10% and max <= 25%
on the published metric (max tightened to 18%, what the model reaches in sample); on budget
rows, device-hours within 30%. Rows carrying an ``exclude`` reason in training-cases.yaml are
reported by `suanli validate` but not held.
"""

from __future__ import annotations

import numpy as np
import pytest

from suanli.calib.published import load_cases, validate


@pytest.fixture(scope="module")
def results():
    return validate()


def _held(results, name):
    rows = [r for r in results if r.case.set == name and not r.case.exclude]
    assert rows, f"no {name} rows"
    return rows


def test_full_config_rows_within_bounds(results):
    rows = _held(results, "full")
    assert len(rows) >= 20
    errs = np.array([abs(r.error) for r in rows])
    assert all(r.predicted is not None for r in rows)
    assert np.median(errs) <= 0.05, errs  # reached 2.2% (2026-12-07, fourth pass)
    assert errs.max() <= 0.14, {r.case.id: round(r.error, 3) for r in rows}  # reached 13.3%


def test_every_family_of_full_rows_is_covered(results):
    ids = {r.case.id for r in _held(results, "full")}
    assert {"T003", "T012"} <= ids  # Megatron 2021 Table 1
    assert {"T015", "T017", "T019", "T021"} <= ids  # Korthikanti 2022 Table 5
    assert {"T068", "T071", "T074"} <= ids  # MPT benchmarks
    assert "T062" in ids  # Nemotron recipe
    assert {"T030", "X001", "X003", "X004", "X005"} <= ids  # OPT, BLOOM, Llama 3, PaLM


def test_rows_state_their_stack_and_publication():
    for c in load_cases():
        if c.set == "full":
            assert c.stack, f"{c.id}: a full row states its software stack"
            assert c.publication, c.id


def test_2021_22_stacks_are_not_too_fast(results):
    """Issue 10: runs of 2021-22 stacks stated as such came out 5-22% too fast. Held rows of
    those stacks now stay within 10% above the published figure."""
    old = [r for r in _held(results, "full") if r.case.stack in (
        "megatron-lm-2021", "megatron-deepspeed-2021", "megatron-lm-2022", "metaseq-2022")]
    assert len(old) >= 20
    fast = {r.case.id: round(r.error, 3) for r in old if r.error > 0.10}
    assert not fast, fast


def test_budget_rows_within_30_percent(results):
    rows = _held(results, "budget")
    assert len(rows) >= 8
    bad = {r.case.id: r.error for r in rows if r.error is None or abs(r.error) > 0.30}
    assert not bad, bad


def test_total_compute_rows(results):
    for r in _held(results, "flops"):
        assert abs(r.error) <= 0.10, (r.case.id, r.error)


def test_exclusions_and_assumptions_are_written_down():
    cases = load_cases()
    assert all(c.source for c in cases)
    excluded = [c for c in cases if c.exclude]
    assert all(len(c.exclude) > 40 for c in excluded)  # a reason, not a flag
    assert len(excluded) <= len(cases) // 4
    for c in cases:
        if c.set == "budget":
            assert c.assume, f"{c.id}: budget rows must state their assumptions"


def test_efficiency_file_was_fitted_on_the_full_rows():
    from suanli.perf.efficiency import load_efficiency

    meta = load_efficiency().meta
    held = sorted(c.id for c in load_cases() if c.set == "full" and not c.exclude)
    assert sorted(meta["rows"]) == held


def test_a_source_s_own_flop_count_is_compared_as_step_time(results):
    """NeMo's MFU counts every layer as multi-head attention (1.01e16 FLOPs per Nemotron
    sample); the prediction is that count over the predicted step, not the model's own MFU,
    whose GQA-aware FLOPs are lower."""
    from dataclasses import replace

    from suanli.calib.published import metric_of, predict
    from suanli.catalog import load_catalog
    from suanli.perf.training import Plan, estimate

    row = next(r for r in results if r.case.id == "T062")
    assert row.case.flops_per_seq == pytest.approx(1.01e16)
    est = estimate(_job_of(row.case), Plan(**row.plan))
    peak = est.job.accelerator.peak_flops("bf16")
    expected = 1.01e16 * est.global_batch / est.step_time_s / est.plan.devices / peak * 100
    assert row.predicted == pytest.approx(expected, rel=1e-9)
    assert row.predicted > est.mfu * 100 * 1.1  # the MHA count is >10% above the model's
    own = predict(replace(row.case, flops_per_seq=None), None, load_catalog())
    assert own.predicted == pytest.approx(metric_of(replace(row.case, flops_per_seq=None), est))


def _job_of(case):
    from suanli.calib.published import _job
    from suanli.catalog import load_catalog

    return _job(case, load_catalog())


def test_every_fitted_number_lists_the_rows_that_set_it():
    from suanli.perf.efficiency import load_efficiency

    meta = load_efficiency().meta
    fitted = meta["fitted_parameters"]
    by_family = meta["rows_by_family"]
    for fam, rows in by_family.items():
        for name in ("gemm_max", "gemm_half"):
            assert fitted[f"{fam}.{name}"]["rows"] == ", ".join(rows)
    assert set(fitted) == {f"{f}.{n}" for f in by_family for n in ("gemm_max", "gemm_half")} \
        | {"elem_bytes", "overlap_slowdown"}
