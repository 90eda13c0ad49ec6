"""The training CLI end to end, in a real subprocess: output contracts and user errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

REQUIRED = {"total_flops", "step_time_s", "mfu", "tflops_per_device", "tokens_per_s", "days",
            "device_hours", "cost_usd", "memory_per_device_gb", "fits", "breakdown"}


def suanli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "suanli.cli.main", *args],
                          capture_output=True, text=True, timeout=120)


def test_estimate_json_has_the_documented_fields():
    r = suanli("train", "estimate", "--model", "gpt3-175b", "--hardware", "a100", "--tokens",
               "300B", "--tp", "8", "--pp", "8", "--dp", "16", "--interleave", "2",
               "--price", "$2/h", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out.keys() >= REQUIRED
    assert out["devices"] == 1024
    assert out["cost_usd"] == pytest.approx(out["device_hours"] * 2.0)
    assert out["breakdown"]["time_sum_s"] == pytest.approx(out["step_time_s"])


def test_plan_json_lists_plans_best_first():
    r = suanli("train", "plan", "--model", "llama2-7b", "--hardware", "h100", "--tokens", "2T",
               "--devices", "64-256", "--top", "5", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    plans = out["plans"]
    assert 1 <= len(plans) <= 5
    assert all(p.keys() >= REQUIRED and "plan" in p for p in plans)
    assert [p["days"] for p in plans] == sorted(p["days"] for p in plans)
    assert out["pareto"]


def test_plan_table_output():
    r = suanli("train", "plan", "--model", "gpt3-175b", "--hardware", "dgx-a100-80gb",
               "--devices", "1024")
    assert r.returncode == 0, r.stderr
    assert "best plans" in r.stdout and "MFU" in r.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "gtp3-175b"], "Did you mean: gpt3-175b"),
    (["--tp", "7"], "does not divide"),
    (["--tp", "0"], "--tp must be positive"),
    (["--tokens", "-5B"], "--tokens"),
    (["--tokens", "1M", "--global-batch", "1536"], "smaller than one global batch"),
    (["--hardware", "a1000"], "unknown hardware"),
    (["--tokens", "lots"], "cannot read 'lots'"),
    (["--recompute", "some"], "--recompute must be"),
    (["--stack", "megatron-2019"], "unknown stack 'megatron-2019'; choose one of"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    base = {"--model": "gpt3-175b", "--hardware": "a100", "--tokens": "300B"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    argv = [x for kv in base.items() for x in kv]
    r = suanli("train", "estimate", *argv, "--tp", "8") if "--tp" not in base else \
        suanli("train", "estimate", *argv)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_infeasible_plan_search_names_the_fix():
    r = suanli("train", "plan", "--model", "llama3.1-405b", "--hardware", "a100",
               "--devices", "8", "--tokens", "1T")
    assert r.returncode == 2
    assert "use >=" in r.stderr and "Traceback" not in r.stderr


def test_plan_on_100_gpus_adapts_the_batch_and_names_the_stack():
    r = suanli("train", "plan", "--model", "llama2-70b", "--hardware", "a100", "--devices",
               "100", "--stack", "megatron-lm-2022", "--top", "3", "--json")
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)["plans"][0]
    assert best["devices"] == 100 and best["stack"] == "megatron-lm-2022"
    used = best["breakdown"]["global_batch"]
    assert used % (best["plan"]["dp"] * best["plan"]["micro_batch"]) == 0
    assert (used == best["global_batch"]) == (not best["notes"])


def test_validate_json_reports_every_row():
    r = suanli("validate", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert {x["set"] for x in rows} == {"full", "budget", "flops"}
    assert all("published" in x and "predicted" in x and x["source"] for x in rows)
    held = [x for x in rows if x["set"] == "full" and not x["excluded"]]
    assert all(x["lopo_error"] is not None and x["publication"] for x in held)


def test_figures_reproduce_the_seed_numbers():
    r = suanli("figures", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    gpt3, palm = d["run_flops"]
    assert gpt3["six_nd_flops"] == pytest.approx(3.14e23, rel=0.01)
    assert gpt3["six_nd_pf_days"] == pytest.approx(3640, rel=0.01)
    assert palm["six_nd_flops"] == pytest.approx(2.5e24, rel=0.05)
    era_2021 = d["gpt3_on_a100"][0]
    assert 20 <= era_2021["days"] <= 40  # "~1000 A100 x ~30 days"
    assert d["llama65b"]["device_hours"] == pytest.approx(1.02e6, rel=0.3)  # "~1M A100-hours"
    assert d["rental"]["fleet_usd_per_month"] == pytest.approx(46e6, rel=0.01)
    rows = d["compute_optimal"]
    per_n2 = [row["cost_usd"] / row["params"] ** 2 for row in rows]
    assert max(per_n2) / min(per_n2) < 2.0  # cost grows with N^2 (within MFU differences)
    assert rows[-1]["cost_usd"] / rows[0]["cost_usd"] > 1e5  # 1000x params -> ~1e6x cost


def test_demo_runs():
    r = suanli("demo")
    assert r.returncode == 0, r.stderr
    assert "GPT-3 175B" in r.stdout and "step time breakdown" in r.stdout
