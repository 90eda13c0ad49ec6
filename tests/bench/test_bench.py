"""``suanli bench``: a real (reduced) measurement run, the profile round trip, and the measured
machine as a catalog accelerator that plans like any other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from suanli.bench.measure import run_bench
from suanli.bench.profile import load_profile
from suanli.catalog.schema import Accelerator
from suanli.errors import InputError

SMALL_GRID = ((16, 256), (64, 256), (32, 256))


@pytest.fixture(scope="module")
def profile():
    return run_bench(1, SMALL_GRID)


def test_measurements_are_physical(profile):
    assert len(profile.gemm["fp32"]) == 8
    assert 1e8 < profile.peak_gemm_flops < 1e13  # 0.1 GFLOP/s .. 10 TFLOP/s on one thread
    assert 1e8 < profile.memory_bw < 1e12
    # a large square GEMM runs at a higher rate than a skinny one
    assert profile.gemm_rate(256, 256, 256) > profile.gemm_rate(16, 64, 32)
    assert profile.op_overhead_s > 0 and profile.hardware["threads"] == 1
    if "torch" in profile.versions:
        o = profile.step_overhead["train"]
        assert o["fixed"] + o["per_layer"] > profile.op_overhead_s  # a step is many ops


def test_profile_round_trip_and_catalog_row(profile, tmp_path: Path):
    path = tmp_path / "p.json"
    profile.save(path)
    back = load_profile(path)
    assert back.gemm_rate(100, 100, 100) == pytest.approx(profile.gemm_rate(100, 100, 100))
    row = profile.to_accelerator_row("local-test", 16.0)
    acc = Accelerator.model_validate({k: v for k, v in row.items() if v != ""})
    assert acc.peak_flops("fp32") == pytest.approx(profile.peak_gemm_flops, rel=1e-3)
    assert "measured by" in acc.source


def test_bad_profiles_are_refused(tmp_path: Path):
    with pytest.raises(InputError, match="suanli bench"):
        load_profile(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"measured": {"tool": 1}}')
    with pytest.raises(InputError, match="not a suanli bench profile"):
        load_profile(bad)


def test_cli_rejects_bad_flags():
    p = subprocess.run([sys.executable, "-m", "suanli.cli.main", "bench", "--dtype", "fp8"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "fp32 or bf16" in p.stderr


def test_a_second_run_in_the_same_process_measures_everything_again():
    first, second = run_bench(1, SMALL_GRID), run_bench(1, SMALL_GRID)
    assert len(second.elementwise) == len(first.elementwise) > 3
    assert len(second.gemm["fp32"]) == len(first.gemm["fp32"])
