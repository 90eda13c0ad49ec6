"""Golden validation: the inference rows of published-runs.csv within the issue's bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.infer.efficiency import efficiency_for
from suanli.infer.validate import fit_efficiency, summary, validate_inference


@pytest.fixture(scope="module")
def rows(validation_csv: Path) -> list:
    return validate_inference(validation_csv)


def test_error_bounds_on_included_rows(rows: list) -> None:
    s = summary(rows)
    assert s["rows"] >= 20
    assert s["median_abs_error"] <= 0.15, s
    assert s["max_abs_error"] <= 0.35, [(r.id, r.error) for r in rows if r.included]


def test_every_row_is_reported_and_exclusions_say_why(rows: list) -> None:
    ids = {r.id: r for r in rows}
    for rid in ("I035", "I036", "I025", "I033", "I034"):
        assert not ids[rid].included and ids[rid].normalization
    assert all(r.normalization for r in rows)
    assert ids["I006"].included and "per GPU" in ids["I006"].normalization


def test_recalled_rows_are_never_asserted(rows: list) -> None:
    assert not any(r.included and "recalled" in r.normalization for r in rows)


def test_efficiency_file_is_the_documented_fit(validation_csv: Path) -> None:
    """The shipped parameters are what the fitting procedure gives (no hand tuning)."""
    fitted = fit_efficiency(validation_csv)
    for fam, eff in fitted.items():
        shipped = efficiency_for(fam)
        for f in ("compute", "memory", "attention_memory"):
            assert getattr(shipped, f) == pytest.approx(getattr(eff, f), abs=0.01), (fam, f)
        assert shipped.step_overhead_s == pytest.approx(eff.step_overhead_s, abs=3e-4)
