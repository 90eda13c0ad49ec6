"""docs/cookbook.md: fifteen questions, one command each. Every command in the page runs here
(with ``--json``) and its numbers are checked against ranges from physics and published
figures, never against the copied output. No command is skipped."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "cookbook.md"
EXE = [sys.executable, "-c", "from suanli.cli.main import run; run()"]
HOURS_PER_QUARTER = 8766 / 4


def commands() -> list[tuple[int, str]]:
    """(question number, command after 'suanli') in page order."""
    out, q = [], 0
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"## (\d+)\. ", line)
        if m:
            q = int(m.group(1))
        elif line.startswith("$ suanli "):
            out.append((q, line.removeprefix("$ suanli ")))
    return out


def test_the_page_has_fifteen_questions_each_with_a_command() -> None:
    text = DOC.read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", text, re.M)]
    assert numbers == list(range(1, 16))
    with_command = {q for q, _ in commands()}
    assert with_command >= set(range(1, 16)) - {4, 5}  # 4 and 5 point to question 1's output
    assert "pending" not in text.lower()  # every command runs on this branch
    used = {max((k for k in CHECKS if cmd.startswith(k)), key=len) for _, cmd in commands()}
    assert used == set(CHECKS)  # no check without its command


# --- checks: ranges from physics -------------------------------------------------------------

def _figures(d: dict[str, Any]) -> None:
    gpt3 = d["run_flops"][0]
    # 6 x 175e9 x 300e9 = 3.15e23 FLOP; / 8.64e19 FLOP per PF-day = 3,646
    assert 3500 < gpt3["six_nd_pf_days"] < 3800
    assert 0.6e6 < d["llama65b"]["device_hours"] < 1.6e6  # quoted 1,022,362 A100-hours
    assert d["rental"]["fleet_usd_per_month"] == pytest.approx(37_000 / 8 * 10_000)
    for row in d["compute_optimal"]:
        assert row["days"] <= 365 or not row["within_max_days"]


def _gpt3_on_1024(d: dict[str, Any]) -> None:
    best = d["plans"][0]
    # 3.2e23 FLOP / (1024 x 312e12 FLOP/s x MFU 0.3-0.75) = 11.6 to 29 days
    assert 0.3 < best["mfu"] < 0.75 and 10 < best["days"] < 40
    assert best["devices"] == 1024


def _llama65b(d: dict[str, Any]) -> None:
    best = d["plans"][0]
    # 6 x 65e9 x 1.4e12 = 5.5e23 FLOP at 40-65% of 312 TFLOP/s, 80% goodput: 0.9-1.5M hours
    assert 0.7e6 < best["device_hours"] < 1.6e6


# Published sizes and datasheet peaks the checks below start from.
LLAMA2_7B = 6.74e9  # parameters (Touvron et al. 2023, Llama 2)
LLAMA2_70B = 68.98e9
H100_BF16 = 989.5e12  # dense BF16 FLOP/s, NVIDIA H100 SXM datasheet
PEAK_BF16 = {  # dense BF16 FLOP/s per device (vendor datasheets / the catalog's sources)
    "a800": 312e12, "h800": 989.5e12, "h20": 148e12, "ascend-910b": 353.9e12,
    "tpu-v4": 275e12, "rtx4090": 165.2e12,
}


def _usd_per_unit(currency: str) -> float:
    """US dollars per unit, from the catalog's dated fx file (catalog/data/fx.csv)."""
    from suanli.catalog.loader import load_rates

    return load_rates()[currency].usd_per_unit


def _lora_trainable(r: int = 16, layers: int = 32, d: int = 4096, ffn: int = 11008) -> int:
    """LoRA adds r x (d_in + d_out) per adapted matrix: q, k, v, o (d x d), gate and up
    (d x ffn), down (ffn x d), in every layer (Hu et al. 2021)."""
    return r * layers * (4 * 2 * d + 3 * (d + ffn))


def _lora(d: dict[str, Any]) -> None:
    mem = d["memory_gb"]
    assert sum(mem.values()) == pytest.approx(d["memory_per_device_gb"])
    # frozen BF16 weights: 2 bytes x 6.74B = 13.5 GB; the whole run fits one 24 GB card
    assert mem["base weights (frozen)"] == pytest.approx(2 * LLAMA2_7B / 1e9, rel=0.02)
    assert 2 * LLAMA2_7B / 1e9 < d["memory_per_device_gb"] <= d["memory_usable_gb"] <= 24.0
    assert d["fits"] and d["plan"]["devices"] == 1
    assert d["trainable_params"] == _lora_trainable()  # 40M: 0.6% of the model
    # one epoch is the dataset at the modelled throughput
    assert d["epoch_hours"] * 3600 * d["tokens_per_s"] == pytest.approx(d["dataset_tokens"])
    # forward 2N + input gradients 2N (+ 2N recompute under checkpointing) FLOP per token,
    # at 10-100% of the card's 165 TFLOP/s
    flop_per_token = (6 if d["plan"]["checkpointing"] else 4) * LLAMA2_7B
    assert 0.1 < d["tokens_per_s"] * flop_per_token / PEAK_BF16["rtx4090"] < 1.0
    # a price quoted in yuan, converted at the catalog's rate
    quoted = re.search(r"¥([0-9.]+)/h", d["price"] or "")
    if quoted:
        yuan = float(quoted.group(1))
        assert d["cost_usd"] == pytest.approx(d["device_hours"] * yuan * _usd_per_unit("CNY"))


def _finetune_methods(d: dict[str, Any]) -> None:
    rows = {r["method"]: r for r in d["rows"]}
    assert set(rows) == {"lora", "qlora", "full"}
    for r in rows.values():
        assert r["devices"] == 1 and 0 < r["memory_gb"] <= 24.0  # one 24 GB card
        assert r["days"] * 86_400 * r["tokens_per_s"] == pytest.approx(100e6)  # one epoch
        assert r["tokens_per_s"] * 4 * LLAMA2_7B < PEAK_BF16["rtx4090"]  # >= 4N FLOP/token
    # NF4 base (~0.5 byte/parameter) under the BF16 base (2 bytes/parameter)
    assert 0.5 * LLAMA2_7B / 1e9 < rows["qlora"]["memory_gb"] < rows["lora"]["memory_gb"]
    assert rows["lora"]["memory_gb"] > 2 * LLAMA2_7B / 1e9
    # full fine-tuning keeps 16 B/parameter of weights, gradients and Adam state (108 GB):
    # on 24 GB only with the optimizer state offloaded to the host
    assert "offload" in rows["full"]["plan"]
    assert rows["full"]["tokens_per_s"] < rows["lora"]["tokens_per_s"]  # + weight gradients


def _params_500b(d: dict[str, Any]) -> None:
    best = d["plans"][0]
    n_params = best["breakdown"]["six_nd_flops"] / (6 * best["tokens"])
    assert n_params == pytest.approx(500e9, rel=0.03)  # the shape rounds to whole layers
    assert best["devices"] == 4096 and best["fits"]
    assert best["memory_per_device_gb"] <= best["memory_usable_gb"]
    # 6ND = 3e25 FLOP on 4096 H100 at 25-65% MFU: 134 to 349 days
    flops = best["breakdown"]["six_nd_flops"]
    lo, hi = (flops / (4096 * H100_BF16 * mfu) / 86_400 for mfu in (0.65, 0.25))
    assert lo < best["days"] < hi


def _doubling(d: dict[str, Any]) -> None:
    qs = d["quarters"]
    assert d["yearly_growth"] == pytest.approx(2 ** (12 / 3.4))  # x11.55
    assert qs[4]["devices"] / qs[0]["devices"] == pytest.approx(11.55, rel=0.05)
    for q in qs:
        assert 0.7e-3 < q["megawatts"] / q["devices"] < 2.5e-3  # ~0.7-1.5 kW x PUE per H100
        assert 1 < q["rent_usd"] / (q["devices"] * HOURS_PER_QUARTER) < 10  # $ per H100-hour
        assert 30_000 * q["new_devices"] == pytest.approx(q["capex_usd"])
    assert d["runout_months"] > 0


def _pipeline(d: dict[str, Any]) -> None:
    qs = d["quarters"]
    # 4 x 6 x 70e9 x 2e12 = 3.4e24 FLOP/year; an H100 at 30-60% MFU and 80% use does
    # 0.75-1.5e22 FLOP/year: 220-450 devices today
    assert 150 < qs[0]["devices"] < 600
    assert qs[-1]["growth"] == pytest.approx(4.0)  # x2 a year for 2 years


def _cny_compare(d: dict[str, Any]) -> None:
    assert d["currency"] == "CNY"
    rows = {r["hardware"]: r for r in d["rows"]}
    assert set(rows) == set(PEAK_BF16) - {"rtx4090"}
    for hw, r in rows.items():
        # 6ND FLOP per token of Llama 2 70B at 15-75% of each chip's BF16 peak
        mfu = r["tokens_per_s"] * 6 * LLAMA2_70B / (r["devices"] * PEAK_BF16[hw])
        assert 0.15 < mfu < 0.75, (hw, mfu)
        if r["cost_usd"] is not None:  # yuan = dollars / (dollars per yuan)
            assert r["cost"] == pytest.approx(r["cost_usd"] / _usd_per_unit("CNY"))
        else:
            assert r["cost"] is None and r["price"] is None
    assert rows["tpu-v4"]["cost_usd"] is not None  # TPU v4 is priced (Google Cloud list)
    assert min(rows.values(), key=lambda r: r["days"])["hardware"] == "h800"  # 989 TFLOP/s


def _yuan(d: dict[str, Any]) -> None:
    best = d["plans"][0]
    assert best["currency"] == "CNY" and "¥15/h" in best["price"]
    assert best["cost"] == pytest.approx(best["device_hours"] * 15.0)  # ¥15 per device-hour
    assert best["cost_usd"] == pytest.approx(best["cost"] * _usd_per_unit("CNY"))
    assert best["device_hours"] == pytest.approx(best["days"] * 24 * best["devices"])
    # 6ND of Llama 2 70B on 2T tokens on 1024 H800 (989 TFLOP/s) at 30-65% MFU: 14-31 days
    assert 0.3 < best["mfu"] < 0.65 and 10 < best["days"] < 35


def _constraints(d: dict[str, Any], max_days: float, budget: float, max_devices: int) -> None:
    def meets(p: dict[str, Any]) -> bool:
        return (p["days"] <= max_days and p["devices"] <= max_devices
                and p["cost_usd"] is not None and p["cost_usd"] <= budget)

    front = d["pareto"]
    assert front and all(p["mfu"] < 0.65 for p in front)
    for p in front:  # each plan's cost is its device-hours at one price
        assert p["cost_usd"] / p["device_hours"] == pytest.approx(
            front[0]["cost_usd"] / front[0]["device_hours"])
    best, binding = d["constrained"]["best"], d["constrained"]["binding"]
    feasible = [p for p in front if meets(p)]
    if best is None:  # then no plan on the front meets them, and the binding one is named
        assert not feasible and binding
        assert any(line.startswith("the budget binds") for line in binding)
    else:  # the cheapest plan that meets all three
        assert meets(best) and binding == []
        assert best["cost_usd"] <= min(p["cost_usd"] for p in feasible) + 1e-6


def _budget_binds(d: dict[str, Any]) -> None:
    _constraints(d, 60, 20e6, 8192)
    assert d["constrained"]["best"] is None
    # the cheapest plan meeting the deadline on <= 8,192 H100 costs more than $20M
    on_time = [p for p in d["pareto"] if p["days"] <= 60 and p["devices"] <= 8192]
    assert on_time and min(p["cost_usd"] for p in on_time) > 20e6


def _budget_met(d: dict[str, Any]) -> None:
    _constraints(d, 60, 40e6, 8192)
    assert d["constrained"]["best"] is not None


def _chatgpt_scale(d: dict[str, Any]) -> None:
    best = d["best"]
    # 10T tokens/day at 1024/256: 23M output tokens/s. A 70B decode at ~100 ms TPOT gives at
    # most a few thousand tokens/s per device: thousands to a million devices
    assert 1_000 < best["devices_total"] < 1_000_000
    assert 0.05 < best["usd_per_million_output_tokens"] < 50
    a = best["attainment"]
    assert best["verified"] and a["n"] <= 10_000 and a["low"] <= a["met"] / a["n"] <= a["high"]
    accs = {o["accelerator"] for o in d["options"]}
    assert any(a.startswith("A100") for a in accs) and any(a.startswith("H100") for a in accs)


def _a100_vs_h100(d: dict[str, Any]) -> None:
    best = {b["accelerator"]: b for b in d["best"]}
    assert best["A100-80GB"]["compression"] == "w8a8"  # A100 runs int8, not fp8
    assert best["H100-80GB"]["compression"] == "fp8"
    for b in best.values():
        assert 0.1 < b["usd_per_million_output_tokens"] < 20


def _one_replica(d: dict[str, Any]) -> None:
    # the default batch is the largest meeting the stated SLO; the KV-cache maximum is beside it
    assert "TTFT <= 2 s" in d["batch_basis"] and "TPOT <= 0.1 s" in d["batch_basis"]
    assert d["ttft_continuous_s"] <= 2.0 and d["tpot_continuous_s"] <= 0.1
    kv = d["kv_max_point"]
    assert kv["batch"] > d["batch"] and kv["tpot_continuous_s"] > 0.1  # why it is not chosen
    assert d["batch"] <= d["max_concurrent_seqs"] == kv["batch"]
    mem = d["memory"]
    assert mem["total_gb"] <= mem["capacity_gb"]
    # BF16 weights of 69B parameters split over TP4: 34.5 GB per H100
    assert mem["weights_gb"] == pytest.approx(2 * LLAMA2_70B / 4 / 1e9, rel=0.02)
    # decode streams the weights once per step: TPOT >= 34.5 GB / 3.35 TB/s = 10 ms
    assert d["tpot_s"] > mem["weights_gb"] / 3350
    # continuous batching: batch sequences each emit a token per TPOT
    assert d["output_tokens_per_s"] == pytest.approx(d["batch"] / d["tpot_continuous_s"],
                                                     rel=0.05)


def _compression(d: dict[str, Any]) -> None:
    usd = {(r["accelerator"], r["compression"]): r["usd_per_million_output_tokens"]
           for r in d["rows"]}
    for hw in ("A100-80GB", "H100-80GB"):
        assert usd[(hw, "int8")] < usd[(hw, "bf16")]  # half the bytes, twice the peak
        assert usd[(hw, "2:4")] < usd[(hw, "bf16")]
        assert usd[(hw, "unstructured")] >= 0.99 * usd[(hw, "bf16")]  # memory, not time


def _claims(d: dict[str, Any]) -> None:
    assert d["fast_vs_slow_cost_ratio"] == pytest.approx(2 / 8)
    lat = d["latency_claim"]
    assert lat["cost_ratio"] == pytest.approx(lat["fast_s"] / lat["slow_s"])
    assert 0.3 < lat["cost_ratio"] < 1.0  # fp8 halves weight bytes: faster, at most 2x+


def _waterfall(d: dict[str, Any]) -> None:
    steps = d["steps"]
    product = 1.0
    for s in steps[1:]:
        product *= s["factor"]
    assert product == pytest.approx(d["total_factor"], rel=1e-6)
    assert 10 < d["total_factor"] < 10_000  # the claimed 10,000x is not reached


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "figures": _figures,
    "train plan --model gpt3-175b": _gpt3_on_1024,
    "train plan --model llama-65b": _llama65b,
    "train estimate --model llama2-7b --hardware rtx4090 --method lora": _lora,
    "train compare --model llama2-7b -H rtx4090": _finetune_methods,
    "train plan --params 500B": _params_500b,
    "capacity --model llama3-70b --tokens-per-day": _doubling,
    "capacity --model llama3-70b --runs-per-year": _pipeline,
    "train compare --model llama2-70b -H a800,h800,h20,ascend-910b,tpu-v4": _cny_compare,
    "train plan --model llama2-70b --hardware h800": _yuan,
    "train plan --model llama3-70b --hardware h100 --tokens 15T --max-days 60 --budget '$20M'":
        _budget_binds,
    "train plan --model llama3-70b --hardware h100 --tokens 15T --max-days 60 --budget '$40M'":
        _budget_met,
    "infer plan --model llama3-70b --tokens-per-day 10T": _chatgpt_scale,
    "infer compare --model llama2-70b -H a100 -H h100": _a100_vs_h100,
    "infer estimate --model llama2-70b --hardware h100": _one_replica,
    "infer compare --model llama2-70b -H a100 -H h100 -c": _compression,
    "infer claims": _claims,
    "infer waterfall": _waterfall,
}


def _check_for(cmd: str) -> Callable[[dict[str, Any]], None]:
    key = max((k for k in CHECKS if cmd.startswith(k)), key=len)
    return CHECKS[key]


@pytest.mark.parametrize(("question", "cmd"), commands(),
                         ids=[f"q{q}" for q, _ in commands()])
def test_cookbook_command(question: int, cmd: str) -> None:
    check = _check_for(cmd)  # every command in the page has a check
    r = subprocess.run([*EXE, *shlex.split(cmd), "--json"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"question {question}: {r.stderr}"
    check(json.loads(r.stdout))
