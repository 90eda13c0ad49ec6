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


def test_plan_gives_each_chip_its_fast_precision_and_shows_every_hardware() -> None:
    """A100 gets int8 (w8a8) and H100 fp8 by default, from the catalog's peaks; the table keeps
    the best row of each hardware even when the global top-N would hide it."""
    r = cli("infer", "plan", "-m", "llama2-70b", "--rps", "20", "-H", "dgx-a100-80gb",
            "-H", "dgx-h100", "--verify", "0", "--top", "1", "--csv", "-")
    assert r.returncode == 0, r.stderr
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    by_acc = {row["accelerator"]: row for row in rows}
    assert set(by_acc) == {"A100-80GB", "H100-80GB"}  # top 1 + the other hardware's best
    r = cli("infer", "plan", "-m", "llama2-70b", "--rps", "20", "-H", "dgx-a100-80gb",
            "-H", "dgx-h100", "--verify", "0", "--top", "50", "--json")
    opts = json.loads(r.stdout)["options"]
    precs = {(o["accelerator"], o["precision"]) for o in opts}
    assert ("A100-80GB", "w8a8") in precs and ("H100-80GB", "fp8") in precs
    assert ("A100-80GB", "fp8") not in precs


def test_plan_sparsity_and_sampled_verification() -> None:
    r = cli("infer", "plan", "-m", "llama2-7b", "--rps", "5", "-H", "dgx-h100",
            "--precision", "fp8", "--sparsity", "2:4", "--verify", "1", "--sample", "500",
            "--json")
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)["best"]
    assert best["precision"].endswith("+2:4") and best["verified"]
    a = best["attainment"]
    # ~500 requests in a 100 s window at 5/s, the first 20% (warm-up) not counted
    assert 300 <= a["n"] <= 500 and a["low"] <= a["met"] / a["n"] <= a["high"]


def test_compare_compression_what_ifs_in_one_command() -> None:
    r = cli("infer", "compare", "-m", "llama2-70b", "-H", "a100", "-H", "h100",
            "-c", "bf16", "-c", "int8", "-c", "int4", "-c", "2:4", "-c", "unstructured",
            "-c", "fp8", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    rows = {(x["accelerator"], x["compression"]): x for x in out["rows"]}
    assert len(rows) == 12
    a100, h100 = "A100-80GB", "H100-80GB"
    usd = {k: v["usd_per_million_output_tokens"] for k, v in rows.items()}
    # fp8 does not run on an A100 (no fp8 peak): a note, no number
    assert usd[(a100, "fp8")] is None and "fp8" in rows[(a100, "fp8")]["note"]
    for hw in (a100, h100):
        # int8 GEMMs and 2:4 raise the peak and halve the bytes moved: cheaper than bf16;
        # unstructured sparsity saves memory, not time (no kernel): never cheaper than bf16
        assert usd[(hw, "int8")] < usd[(hw, "bf16")]
        assert usd[(hw, "2:4")] < usd[(hw, "bf16")]
        assert usd[(hw, "unstructured")] >= usd[(hw, "bf16")] * 0.99
    # the best per hardware is its cheapest row, one per hardware
    best = out["best"]
    assert {b["accelerator"] for b in best} == {a100, h100}
    for b in best:
        assert b["usd_per_million_output_tokens"] == min(
            v for (hw, _), v in usd.items() if hw == b["accelerator"] and v is not None)


def test_compare_bad_compression_exits_2() -> None:
    r = cli("infer", "compare", "-m", "llama2-7b", "-H", "h100", "-c", "int3")
    assert r.returncode == 2 and "unknown compression 'int3'" in r.stderr


def test_estimate_default_batch_meets_the_stated_slo_and_shows_kv_max() -> None:
    r = cli("infer", "estimate", "-m", "llama3-70b", "-H", "H100", "--tp", "4", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "TTFT <= 2 s and TPOT <= 0.1 s" in out["batch_basis"]
    assert out["ttft_continuous_s"] <= 2.0 and out["tpot_continuous_s"] <= 0.1
    kv = out["kv_max_point"]
    assert kv["batch"] == out["max_concurrent_seqs"] >= out["batch"]
    assert kv["tpot_continuous_s"] >= out["tpot_continuous_s"]
    r = cli("infer", "estimate", "-m", "llama3-70b", "-H", "H100", "--tp", "4", "--batch", "8",
            "--json")
    out = json.loads(r.stdout)
    assert out["batch"] == 8 and out["kv_max_point"] is None


def test_claims_take_the_users_numbers() -> None:
    r = cli("infer", "claims", "--tokens", "500", "--slow", "8", "--fast", "2", "-m",
            "llama2-70b", "-H", "dgx-h100", "--baseline-precision", "bf16", "--precision",
            "fp8", "--batch", "8", "--utilization", "0.3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["fast_vs_slow_cost_ratio"] == pytest.approx(2 / 8)
    lat = out["latency_claim"]
    # fp8 moves half the weight bytes: faster, so cheaper, by the time ratio exactly
    assert lat["fast_s"] < lat["slow_s"]
    assert lat["cost_ratio"] == pytest.approx(lat["fast_s"] / lat["slow_s"], rel=1e-9)
    rows = out["api_vs_selfhosted"]
    assert [(x["model"], x["hardware"], x["utilization"]) for x in rows] == [
        ("llama2-70b", "dgx-h100", 0.3)]
    r = cli("infer", "claims", "--utilization", "1.5")
    assert r.returncode == 2 and "--utilization" in r.stderr


def test_waterfall_csv_to_stdout() -> None:
    r = cli("infer", "waterfall", "-m", "llama2-7b", "--site-price", "2.0", "--csv", "-")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("layer,setting,usd_per_million_output_tokens") and len(lines) == 7


def test_compare_prices_at_a_site() -> None:
    r = cli("infer", "compare", "-m", "llama2-7b", "-H", "h100", "-c", "bf16", "--site",
            "aws:us-east-1", "--json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)["rows"]
    assert row["site"] == "aws:us-east-1" and row["usd_per_device_hour"] > 0
    # $ per M output tokens = price / (3600 x tokens/s per device) x 1e6
    assert row["usd_per_million_output_tokens"] == pytest.approx(
        row["usd_per_device_hour"] / (3600 * row["output_tokens_per_s_per_device"]) * 1e6,
        rel=1e-6)


def test_stack_option_changes_the_step_and_unknown_stacks_exit_2() -> None:
    """--stack on estimate | curve | plan: trtllm-0.9 exposes the host time between steps,
    per step and per decoder layer (data/stacks.yaml), and has no counted kernels (its fitted
    host time holds them); current runtimes hide the host time and charge their counted
    kernels (``infer.kernels``): batch-1 decode differs by exactly those two terms. A name
    that is not a stack is refused up front, with the known ones listed, by each command."""
    from suanli.infer.efficiency import efficiency_for

    base = ["infer", "estimate", "-m", "llama3.1-8b", "-H", "dgx-h100", "--precision", "fp8",
            "--batch", "1", "--prompt-len", "1024", "--output-len", "128", "--json"]
    tpot = {st: json.loads(cli(*base, "--stack", st).stdout)["tpot_s"]
            for st in ("default", "trtllm-0.9")}
    eff = efficiency_for("hopper")
    host = eff.step_overhead_s + 32 * eff.layer_overhead_s  # llama3.1-8b: 32 decoder layers
    assert eff.kernel_s > 0 and host > 0
    kernels = 32 * 5 * eff.kernel_s  # 32 layers x 5 counted kernels (stacks.yaml)
    assert tpot["trtllm-0.9"] - tpot["default"] == pytest.approx(
        host - kernels, rel=0.01, abs=2e-5)
    for cmd in (["estimate", "-m", "llama3.1-8b", "-H", "dgx-h100"],
                ["curve", "-m", "llama3.1-8b", "-H", "dgx-h100"],
                ["plan", "-m", "llama3.1-8b", "--rps", "1"]):
        r = cli("infer", *cmd, "--stack", "vllm-0.1")
        assert r.returncode == 2, (cmd, r.stderr)
        assert "unknown serving stack 'vllm-0.1'" in r.stderr and "trtllm-0.9" in r.stderr
