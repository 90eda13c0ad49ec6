"""`suanli capacity`, run as a user would (subprocess: real exit codes)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-c", "from suanli.cli.main import run; run()"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, "capacity", *args], capture_output=True, text=True, timeout=120)


def test_doubling_every_3_4_months_devices_dollars_megawatts(tmp_path: Path) -> None:
    png = tmp_path / "cap.png"
    r = cli("-m", "llama3-70b", "--tokens-per-day", "10B", "--doubling", "3.4mo",
            "--years", "2", "--fleet", "1000xH100", "--buy-price", "30000", "--json",
            "--plot", str(png))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    qs = out["quarters"]
    assert len(qs) == 9
    assert qs[4]["growth"] == pytest.approx(2 ** (12 / 3.4), rel=1e-6)
    assert qs[8]["growth"] == pytest.approx(2 ** (24 / 3.4), rel=1e-6)
    # devices follow demand (ceil): the ratio after a year is the yearly factor within rounding
    assert qs[4]["devices"] / qs[0]["devices"] == pytest.approx(11.55, rel=0.05)
    for q in qs:
        # an H100 + host share draws 0.7-2 kW; MW = devices x W x PUE
        assert 0.7e-3 * 1.2 < q["megawatts"] / q["devices"] < 2e-3 * 1.2
        # rent per device-hour between $1 and $10
        assert 1 < q["rent_usd"] / (q["devices"] * 8766 / 4) < 10
    t = out["runout_months"]
    # run-out is where the quarters switch from ok to short
    first_short = next(q["months"] for q in qs if not q["fleet_ok"])
    assert first_short - 3 < t <= first_short
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_csv_to_stdout_and_training_pipeline() -> None:
    r = cli("-m", "llama3-70b", "--runs-per-year", "4", "--tokens", "2T", "--yearly", "2x",
            "--years", "1", "--csv", "-")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 5 and rows[0]["demand_unit"] == "runs/year"
    # 4 runs of 6 x 70B x 2T = 3.4e24 FLOP a year at 30-60% of ~1e15 FLOP/s per H100 at 80%
    # utilization: between ~150 and ~600 devices today
    assert 150 < int(rows[0]["devices"]) < 600
    assert float(rows[4]["growth"]) == pytest.approx(2.0)


def test_users_x_queries_and_table_output() -> None:
    r = cli("-m", "llama2-7b", "--users", "10M", "--queries", "5", "--doubling", "6mo",
            "--years", "1")
    assert r.returncode == 0, r.stderr
    assert "10M users x 5 queries x 1280 tokens = 64B tokens/day" in " ".join(r.stdout.split())
    assert "+12 mo" in r.stdout and "rent $" in r.stdout


@pytest.mark.parametrize(("args", "msg"), [
    (("-m", "llama2-7b", "--doubling", "3mo"), "exactly one demand"),
    (("-m", "llama2-7b", "--tokens-per-day", "1B"), "--doubling"),
    (("-m", "llama2-7b", "--tokens-per-day", "1B", "--doubling", "soon"), "3.4mo"),
    (("-m", "llama2-7b", "--tokens-per-day", "1B", "--yearly", "2", "--years", "5"), "--years"),
    (("-m", "llama2-7b", "--tokens-per-day", "1B", "--yearly", "2", "--fleet", "lots"),
     "1000xH100"),
])
def test_bad_input_one_line_exit_2(args: tuple[str, ...], msg: str) -> None:
    r = cli(*args)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr


def test_totals_add_up_the_quarters() -> None:
    r = cli("-m", "llama2-7b", "--tokens-per-day", "50B", "--yearly", "3x", "--years", "1",
            "--buy-price", "25000", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    qs, tot = out["quarters"], out["totals"]
    assert tot["rent_usd"] == pytest.approx(sum(q["rent_usd"] for q in qs[1:]))
    assert tot["buy_usd"] == pytest.approx(sum(q["buy_usd"] for q in qs[1:]))
    # every device is paid for once, today's included
    assert tot["capex_usd"] == pytest.approx(25_000 * qs[-1]["devices"])
