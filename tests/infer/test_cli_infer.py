"""The `suanli infer` commands, run as a user would (subprocess: real exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-c", "from suanli.cli.main import run; run()"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=120)


def test_estimate_json_keys(tmp_path: Path) -> None:
    png = tmp_path / "curve.png"
    r = cli("infer", "estimate", "-m", "llama3-70b", "-H", "H100", "--tp", "4",
            "--precision", "fp8", "--json", "--plot", str(png))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("ttft_s", "tpot_s", "output_tokens_per_s", "total_tokens_per_s",
                "max_concurrent_seqs", "memory_per_device_gb", "fits",
                "usd_per_million_output_tokens", "usd_per_million_input_tokens", "breakdown"):
        assert key in out
    assert {row["bound"] for row in out["breakdown"]["decode_step"]} >= {"memory"}
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_does_not_fit_exits_2_with_one_line() -> None:
    r = cli("infer", "estimate", "-m", "llama3-70b", "-H", "H100")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs >= 2 x" in lines[0] and "--tp 2" in lines[0]


def test_bad_precision_exits_2() -> None:
    r = cli("infer", "estimate", "-m", "llama2-7b", "-H", "A100", "--precision", "fp8")
    assert r.returncode == 2 and "w8a8" in r.stderr


def test_simulate_json(conv_trace: Path) -> None:
    r = cli("infer", "simulate", "-m", "llama2-7b", "--trace", str(conv_trace), "-H", "H100",
            "--limit", "400", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["requests"] == 400 and out["ttft_p99_s"] >= out["ttft_p50_s"] > 0


def test_waterfall_and_plan_json() -> None:
    r = cli("infer", "waterfall", "-m", "llama2-7b", "--site-price", "2.0", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["steps"]) == 6 and out["total_factor"] > 10
    r = cli("infer", "plan", "-m", "llama2-7b", "--rps", "5", "--prompt-len", "500", "--output-len",
            "100", "-H", "dgx-h100", "--precision", "fp8", "--verify", "1", "--duration", "60",
            "--json")
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)["best"]
    assert best["verified"] and best["ttft_p99_s"] <= 2.0


def test_plan_needs_one_traffic_source() -> None:
    r = cli("infer", "plan", "-m", "llama2-7b")
    assert r.returncode == 2 and "exactly one" in r.stderr


@pytest.mark.slow
def test_validate_json(validation_csv: Path) -> None:
    r = cli("infer", "validate", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["summary"]["median_abs_error"] <= 0.08
    assert out["lopo_current"] and out["lopo_summary"]["median_abs_error"] <= 0.15


def test_deepseek_v3_on_h800_is_plannable_with_cost_per_day() -> None:
    r = cli("infer", "plan", "-m", "deepseek-v3", "-H", "hgx-h800", "--precision", "fp8",
            "--tokens-per-day", "100B", "--prompt-len", "2000", "--output-len", "550",
            "--price", "$2/h", "--ttft-slo", "5", "--json")
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)["best"]
    assert best["nodes"] >= 2 and best["ep"] >= 16 and best["attn_dp"]
    assert best["usd_per_hour"] == pytest.approx(best["devices_total"] * 2.0)


def test_disaggregated_estimate_and_plan() -> None:
    args = ["-m", "deepseek-v3", "-H", "hgx-h800", "--precision", "fp8-kv16", "--attn-dp",
            "--disagg", "4P:18D", "--prompt-len", "2000", "--output-len", "550",
            "--prefix-hit", "0.5", "--tokens-per-user", "20", "--price", "$2/h", "--json"]
    r = cli("infer", "estimate", *args)
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)
    assert e["tokens_per_user_per_s"] >= 20 and e["decode_layout"].startswith("attn-dp=144")
    r = cli("infer", "plan", "--tokens-per-day", "600B", *args)
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)["plan"]
    assert p["usd_per_day"] == pytest.approx(p["nodes"] * 8 * 2.0 * 24)
    r = cli("infer", "curve", *args[:-9], "--json")
    assert r.returncode == 0, r.stderr


def test_tp_that_does_not_divide_heads_is_rejected_with_the_valid_ones() -> None:
    for cmd in ("estimate", "curve"):
        r = cli("infer", cmd, "-m", "llama3-8b", "--tp", "3")
        assert r.returncode == 2 and "valid --tp: 1, 2, 4, 8" in r.stderr, r.stderr
    r = cli("infer", "estimate", "-m", "llama3-8b", "--disagg", "4x")
    assert r.returncode == 2 and "4P:18D" in r.stderr


def test_curve_json() -> None:
    r = cli("infer", "curve", "-m", "llama2-7b", "-H", "H100", "--precision", "fp8", "--tpot-slo",
            "0.03", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["best_under_slo"]["tpot_continuous_s"] <= 0.03
    assert out["max_load"]["output_tokens_per_s"] >= out["best_under_slo"]["output_tokens_per_s"]
    batches = [p["batch"] for p in out["points"]]
    assert batches == sorted(batches) and batches[0] == 1
