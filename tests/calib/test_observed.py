"""Corrections learned from observed runs: the fit's laws, and the CLI on real log excerpts."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.calib.observed import Observation, fit_corrections, load_corrections, write_corrections
from suanli.errors import InputError

LOGS = Path(__file__).parent / "data" / "logs"


def test_a_constant_bias_is_removed_and_leave_one_out_sees_it():
    obs = [Observation(f"r{i}", "site/cpu", p, 1.3 * p * (1 + 0.02 * (-1) ** i))
           for i, p in enumerate([0.1, 0.2, 0.5, 1.0, 2.0, 3.0])]
    rep = fit_corrections(obs)
    assert rep.corrections["site/cpu"].time_scale == pytest.approx(1.3, rel=0.01)
    s = rep.summary()
    assert s["median_abs_before"] > 0.2 and s["median_abs_after"] < 0.03
    assert s["median_abs_loo"] < 0.05


@given(st.lists(st.tuples(st.floats(1e-3, 1e3), st.floats(0.2, 5.0)), min_size=1, max_size=12))
def test_fit_never_worsens_the_log_error(rows):
    obs = [Observation(str(i), "g", p, p * r) for i, (p, r) in enumerate(rows)]
    rep = fit_corrections(obs)

    def sq(d):
        return sum(math.log1p(v) ** 2 for v in d.values())

    assert sq(rep.after) <= sq(rep.before) + 1e-9  # least squares in log space


def test_groups_are_fitted_apart_and_written_as_data(tmp_path):
    obs = [Observation("a1", "A", 1.0, 2.0), Observation("a2", "A", 2.0, 4.0),
           Observation("b1", "B", 1.0, 0.5)]
    rep = fit_corrections(obs)
    path = tmp_path / "corr.yaml"
    write_corrections(rep, path, source="test")
    back = load_corrections(path)
    assert back["A"].time_scale == pytest.approx(2.0) and back["B"].time_scale == 0.5
    assert back["A"].rows == ("a1", "a2")
    assert "b1" not in rep.loo  # one row in its group: no leave-one-out figure


def test_bad_observations_are_refused(tmp_path):
    with pytest.raises(InputError, match="no observations"):
        fit_corrections([])
    with pytest.raises(InputError, match="positive, finite"):
        fit_corrections([Observation("x", "g", 0.0, 1.0)])
    bad = tmp_path / "c.yaml"
    bad.write_text("groups: 3")
    with pytest.raises(InputError, match="not a corrections profile"):
        load_corrections(bad)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "suanli.cli.main", *args], capture_output=True,
                          text=True, timeout=120)


def test_calibrate_from_log_on_a_real_megatron_log(tmp_path):
    out = tmp_path / "corr.yaml"
    p = _cli("calibrate", "--from-log", str(LOGS / "runs.yaml"), "--out", str(out), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    row = doc["rows"][0]
    assert row["measured_s"] == pytest.approx(5.7186)  # the log's last (post-warm-up) step
    assert 0.5 < row["predicted_s"] / row["measured_s"] < 2.0  # the model is in the right range
    assert abs(row["error_after"]) < 1e-9
    assert "dgx-h100/megatron-core-2024" in load_corrections(out)


def test_calibrate_from_log_bad_inputs(tmp_path):
    runs = tmp_path / "runs.yaml"
    runs.write_text("- {log: x.log, model: llama2-7b}\n")
    p = _cli("calibrate", "--from-log", str(runs))
    assert p.returncode == 2 and "missing" in p.stderr and "Traceback" not in p.stderr
    runs.write_text("- {log: x.log, model: llama2-7b, hardware: dgx-h100, seq_len: 4096, "
                    "global_batch: 8}\n")
    p = _cli("calibrate", "--from-log", str(runs))
    assert p.returncode == 2 and "cannot read" in p.stderr
    runs.write_text(": : :")
    p = _cli("calibrate", "--from-log", str(runs))
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_a_missing_per_step_overhead_is_fitted_as_an_offset(tmp_path):
    # measured = 2 x predicted + 10 ms: a profile that halves the rates and omits the overhead
    obs = [Observation(f"r{i}", "g", p, 2.0 * p + 0.01) for i, p in
           enumerate([0.001, 0.003, 0.01, 0.03, 0.1])]
    rep = fit_corrections(obs)
    c = rep.corrections["g"]
    assert c.time_scale == pytest.approx(2.0, rel=1e-6) and c.offset_s == pytest.approx(0.01)
    assert max(abs(v) for v in rep.after.values()) < 1e-9
    assert max(abs(v) for v in rep.loo.values()) < 1e-6  # the law holds without each row
    scale_only = math.exp(sum(math.log(o.measured_s / o.predicted_s) for o in obs) / len(obs))
    assert max(abs(scale_only * o.predicted_s / o.measured_s - 1) for o in obs) > 0.5
    path = tmp_path / "c.yaml"
    write_corrections(rep, path, source="test")
    assert load_corrections(path)["g"].apply(0.05) == pytest.approx(0.11)
