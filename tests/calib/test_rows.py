"""Adding a published row is data: a CSV line with its source and a line saying how to read it."""

from __future__ import annotations

import pytest

from suanli.calib.published import CASES_FILE, EXTRA_RUNS_FILE, RUNS_FILE, load_cases, load_rows
from suanli.errors import CatalogError


def test_extra_rows_are_read_with_their_sources():
    rows = load_rows()
    extra = load_rows((EXTRA_RUNS_FILE,))
    assert extra and set(extra) <= set(rows)
    assert all(r["source"].strip() for r in extra.values())
    ids = {c.id for c in load_cases()}
    assert {"X001", "X003", "X005"} <= ids


def test_a_new_row_is_one_csv_line_and_one_case(tmp_path):
    extra = tmp_path / "extra.csv"
    header = EXTRA_RUNS_FILE.read_text(encoding="utf-8").splitlines()[0]
    extra.write_text(header + "\nZ001,train,MPT 7b,6.7,,,A100,8,1,1,8,,2048,196608,6,mfu,"
                     "60,%,,,,,\"a paper\",verified\n", encoding="utf-8")
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  Z001: {set: full, model: mpt-7b, system: roce-a100-80gb, "
                     "stack: llm-foundry-2023, pub: A paper, fixed: {zero: 3}}\n",
                     encoding="utf-8")
    (case,) = load_cases(RUNS_FILE, cases, extra)
    assert case.publication == "A paper" and case.stack == "llm-foundry-2023"
    assert case.fixed["dp"] == 8 and case.published == 60.0


def test_a_row_without_source_is_refused(tmp_path):
    extra = tmp_path / "extra.csv"
    header = EXTRA_RUNS_FILE.read_text(encoding="utf-8").splitlines()[0]
    extra.write_text(header + "\nZ002,train,x,1,,,A100,8,1,1,8,,2048,,1,mfu,50,%,,,,,,\n",
                     encoding="utf-8")
    with pytest.raises(CatalogError, match="source"):
        load_rows((extra,))
    assert CASES_FILE.exists()
