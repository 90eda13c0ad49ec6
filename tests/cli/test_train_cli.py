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


# --- fine-tuning, currencies, what-if models, constraints (issue 11) -------------------------

def run_json(*args: str) -> dict:
    """Run a command with --json; it must succeed."""
    r = suanli(*args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_lora_7b_on_one_24gb_card_is_answered_by_one_command():
    out = run_json("train", "estimate", "--model", "llama2-7b", "--hardware", "rtx4090",
                   "--method", "lora", "--examples", "10k", "--seq-len", "2048")
    assert out["fits"] and out["memory_per_device_gb"] < 24
    assert sum(out["memory_gb"].values()) == pytest.approx(out["memory_per_device_gb"])
    assert sum(out["time_s"].values()) == pytest.approx(out["step_time_s"])
    assert out["dataset_tokens"] == 10_000 * 2048
    assert 0.5 < out["total_hours"] < 20  # 20M tokens at ~1-10k tokens/s
    from suanli.money import to_usd

    # costed at the public price list row (AutoDL, in yuan), and says so
    assert out["cost_usd"] == pytest.approx(out["device_hours"] * to_usd(1.98, "CNY"))
    assert "AutoDL" in out["price"] and "prices.csv" in out["price"]
    table = suanli("train", "estimate", "--model", "llama2-7b", "--hardware", "rtx4090",
                   "--method", "lora", "--examples", "10k")
    assert table.returncode == 0, table.stderr
    assert "fits" in table.stdout and "time per epoch" in table.stdout


def test_full_fine_tuning_of_7b_on_24gb_needs_offload():
    plans = run_json("train", "plan", "--model", "llama2-7b", "--hardware", "rtx4090",
                     "--method", "full", "--dataset-tokens", "10M", "--devices", "1")["plans"]
    assert plans and all(p["plan"]["offload"] != "none" for p in plans)
    assert all(p["host_memory_gb"] + p["nvme_gb"] > 50 for p in plans)  # 16 B x 6.7B offloaded


def test_yuan_price_and_cny_output():
    out = run_json("train", "estimate", "--model", "llama3-70b", "--hardware", "hgx-h800",
                   "--tokens", "1T", "--tp", "8", "--pp", "4", "--dp", "4", "--price", "¥15/h",
                   "--currency", "CNY")
    assert out["currency"] == "CNY"
    assert out["cost"] == pytest.approx(out["device_hours"] * 15.0, rel=1e-9)
    assert out["price"] == "your --price ¥15/h"
    table = suanli("train", "estimate", "--model", "llama3-70b", "--hardware", "hgx-h800",
                   "--tokens", "1T", "--tp", "8", "--pp", "4", "--dp", "4", "--price",
                   "CNY 15/h", "--currency", "CNY")
    assert table.returncode == 0, table.stderr
    assert "¥" in table.stdout and "1 CNY = $" in table.stdout


def test_plan_table_and_compare_show_costs_in_the_chosen_currency():
    r = suanli("train", "plan", "--model", "llama2-7b", "--hardware", "h800", "--tokens", "1T",
               "--devices", "64", "--top", "2", "--price", "¥15/h", "--currency", "CNY")
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.strip().startswith("64 ")]
    assert len(rows) == 2 and all("¥" in x and "$" not in x for x in rows)
    c = suanli("train", "compare", "--model", "llama2-7b", "-H", "h800,tpu-v4", "--tokens",
               "1T", "--devices", "64", "--currency", "CNY")
    assert c.returncode == 0, c.stderr
    assert "no price known for h800" in c.stdout and "1 CNY = $" in c.stdout


def test_tpu_v4_plans_show_a_cost_and_its_source():
    best = run_json("train", "plan", "--model", "llama2-7b", "--hardware", "tpu-v4-pod",
                    "--tokens", "100B", "--devices", "64", "--top", "1")["plans"][0]
    assert best["cost_usd"] == pytest.approx(best["device_hours"] * 3.22)
    assert "Google Cloud" in best["price"]


def test_cost_objective_with_a_deadline_is_not_the_fewest_devices():
    base = ["train", "plan", "--model", "gpt3-175b", "--hardware", "a100", "--objective",
            "cost"]
    free = run_json(*base, "--devices", "64-2048")
    assert free["plans"][0]["days"] > 30  # the cheapest plan alone misses the deadline
    assert run_json(*base, "--max-days", "30")["constrained"]["best"]["days"] <= 30
    binding = run_json(*base, "--max-days", "30", "--budget", "$1M")["constrained"]["binding"]
    assert any(line.startswith("the budget binds") for line in binding)


def test_constrained_table_says_what_binds():
    r = suanli("train", "plan", "--model", "gpt3-175b", "--hardware", "a100", "--max-days",
               "5", "--max-devices", "1024")
    assert r.returncode == 0, r.stderr
    assert "no plan meets the constraints" in r.stdout and "the deadline binds" in r.stdout
    assert "ranked by time" in r.stdout


def test_what_if_model_by_size_and_by_shape():
    out = run_json("train", "estimate", "--params", "500B", "--hardware", "dgx-h100",
                   "--tokens", "1T", "--tp", "8", "--pp", "16", "--dp", "8")
    assert out["model"].startswith("whatif-") and out["total_flops"] > 2.9e24  # ~6 x 500B x 1T
    moe = run_json("train", "plan", "--layers", "32", "--hidden", "4096", "--ffn", "14336",
                   "--vocab", "32000", "--experts", "8",
                   "--top-k", "2", "--hardware", "h100", "--tokens", "100B", "--devices", "64",
                   "--top", "1")
    assert moe["plans"][0]["model"].startswith("whatif-46.")


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "llama2-7b", "--params", "7B"], "give one of --model, --params"),
    (["--layers", "32"], "needs at least --layers and --hidden"),
    (["--model", "llama2-7b", "--method", "dora", "--examples", "1k"], "--method must be one"),
    (["--model", "llama2-7b", "--method", "lora"], "say how much data"),
    (["--model", "llama2-7b", "--method", "lora", "--examples", "1k", "--tp", "2"],
     "fine-tuning runs data parallel"),
    (["--model", "llama2-7b", "--price", "£3/h"], "unknown currency"),
    (["--model", "llama2-7b", "--currency", "XYZ", "--method", "lora", "--examples", "1k"],
     "unknown currency"),
])
def test_fine_tune_and_what_if_errors_exit_2(args, message):
    r = suanli("train", "estimate", "--hardware", "rtx4090", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr


def test_compare_gives_the_best_plan_per_group_side_by_side():
    out = run_json("train", "compare", "--model", "llama2-7b", "--hardware", "a100,h100",
                   "--devices", "8,64", "--tokens", "100B")
    rows = out["rows"]
    assert [(r["hardware"], r["devices"]) for r in rows] == [
        ("a100", 8), ("a100", 64), ("h100", 8), ("h100", 64)]
    by = {(r["hardware"], r["devices"]): r for r in rows}
    assert by[("h100", 64)]["days"] < by[("h100", 8)]["days"]  # more devices, less time
    assert by[("h100", 8)]["days"] < by[("a100", 8)]["days"]  # faster chip, less time
    # each row is its group's best: the same as `train plan` at that count
    single = run_json("train", "plan", "--model", "llama2-7b", "--hardware", "h100",
                      "--devices", "64", "--tokens", "100B", "--top", "1")
    assert by[("h100", 64)]["days"] == pytest.approx(single["plans"][0]["days"])


def test_compare_fine_tuning_methods_as_csv():
    import csv
    import io

    r = suanli("train", "compare", "--model", "llama2-7b", "--hardware", "rtx4090,a100",
               "--devices", "1", "--method", "lora,qlora", "--examples", "5k", "--csv",
               "--currency", "CNY")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {(x["hardware"], x["method"]) for x in rows} == {
        ("rtx4090", "lora"), ("rtx4090", "qlora"), ("a100", "lora"), ("a100", "qlora")}
    assert all(x["currency"] == "CNY" and float(x["cost"]) > 0 for x in rows)
    assert all(float(x["memory_gb"]) < 24 for x in rows if x["hardware"] == "rtx4090")


def test_plan_chart_is_written(tmp_path):
    path = tmp_path / "scaling.png"
    r = suanli("train", "plan", "--model", "llama2-7b", "--hardware", "a100", "--tokens",
               "100B", "--devices", "8-64", "--chart", str(path))
    assert r.returncode == 0, r.stderr
    assert path.stat().st_size > 10_000 and path.read_bytes()[:4] == b"\x89PNG"
    ft = tmp_path / "finetune.svg"
    r = suanli("train", "plan", "--model", "llama2-7b", "--hardware", "rtx4090", "--method",
               "qlora", "--examples", "1k", "--devices", "1-4", "--chart", str(ft))
    assert r.returncode == 0, r.stderr
    assert ft.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    r = suanli("train", "plan", "--model", "llama2-7b", "--hardware", "a100", "--tokens",
               "100B", "--devices", "8", "--chart", str(tmp_path / "x.jpg"))
    assert r.returncode == 2 and "must end in .png or .svg" in r.stderr


def test_plan_says_what_it_optimizes_and_which_price():
    r = suanli("train", "plan", "--model", "llama2-7b", "--hardware", "rtx4090", "--tokens",
               "10B", "--devices", "8", "--top", "1")
    assert r.returncode == 0, r.stderr
    assert "ranked by time (fastest first" in r.stdout
    assert "priced at AutoDL" in r.stdout


def test_compare_across_precisions_says_which_chip_lacks_one():
    rows = run_json("train", "compare", "--model", "llama2-7b", "--hardware", "a100,h100",
                    "--dtype", "bf16,fp8", "--devices", "64", "--tokens", "100B")["rows"]
    by = {(r["hardware"], r["dtype"]): r for r in rows}
    a100_fp8 = by[("a100", "fp8")]
    assert a100_fp8["note"] == "no dense fp8 peak" and a100_fp8["days"] is None
    assert by[("h100", "fp8")]["days"] < by[("h100", "bf16")]["days"]  # FP8 GEMMs are faster
