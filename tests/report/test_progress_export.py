"""report.progress (a bar only after the delay) and report.export (CSV of plain rows)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from suanli.report.export import write_csv
from suanli.report.progress import delayed_progress


def test_progress_stays_silent_before_the_delay(capsys: pytest.CaptureFixture[str]) -> None:
    with delayed_progress("work", delay_s=60.0) as update:
        update(1, 2, "half")
    assert capsys.readouterr().err == ""


def test_progress_starts_after_the_delay_and_stops() -> None:
    with delayed_progress("work", delay_s=0.0) as update:
        update(1, 2, "half")
        update(2, 2, "done")  # no exception, bar stopped on exit


def test_write_csv_union_of_keys_and_blanks(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    n = write_csv([{"a": 1, "b": None}, {"a": 2.123456789, "c": "x"}], str(p))
    rows = list(csv.DictReader(p.open()))
    assert n == 2 and list(rows[0]) == ["a", "b", "c"]
    assert rows[0]["b"] == "" and rows[1]["a"] == "2.12346" and rows[1]["c"] == "x"
