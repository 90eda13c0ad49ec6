"""The N^2 table of `suanli figures` never lists a multi-year run as if it were a plan."""

from __future__ import annotations

from suanli.report.figures import compute_optimal_cost


def test_compute_optimal_rows_finish_in_time_or_are_marked() -> None:
    rows = compute_optimal_cost(sizes_b=(1, 1000), max_days=365)
    small, huge = rows
    assert small["within_max_days"] and 0 < small["days"] <= 365
    # 1T parameters on 20T tokens = 1.2e26 FLOP: > 1 year even on 8,192 H100 at a 4M batch
    assert not huge["within_max_days"] and huge["devices"] == 8192
    assert 365 < huge["days"] < 3 * 365  # the fastest plan, never the 17-year cheapest one


def test_figures_csv_has_every_table() -> None:
    import csv
    import io
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", "from suanli.cli.main import run; run()",
                        "figures", "--csv", "-"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {row["table"] for row in rows} == {"run_flops", "gpt3_on_a100", "llama65b", "rental",
                                              "compute_optimal", "units"}
    gpt3 = next(row for row in rows if row["table"] == "run_flops")
    assert 3500 < float(gpt3["six_nd_pf_days"]) < 3800
