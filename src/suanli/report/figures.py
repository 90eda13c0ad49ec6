"""The field's headline figures, recomputed by Suanli's own model (issue: "the seeds' figures").

Each function returns plain rows (dicts) so the CLI can print them and tests can check them.
"""

from __future__ import annotations

from typing import Any

from suanli.units import PF_DAY

COMPUTE_UNITS = (  # name, FLOP (or OP)
    ("OP / FLOP", 1.0), ("GFLOP", 1e9), ("TFLOP", 1e12), ("PFLOP", 1e15), ("EFLOP", 1e18),
    ("PF-day (1e15 FLOP/s x 1 day)", PF_DAY), ("ZFLOP", 1e21), ("YFLOP", 1e24),
)


def run_flops() -> list[dict[str, Any]]:
    """GPT-3 175B on 300B tokens and PaLM 540B on 780B tokens: per-layer count vs 6ND."""
    from suanli.catalog import load_catalog
    from suanli.perf import ops

    cat = load_catalog()
    rows = []
    for mid, tokens, quoted in (("gpt3-175b", 300e9, "3.14e23 FLOPs = 3640 PF-days"),
                                ("palm-540b", 780e9, "~2.5e24 FLOPs")):
        m = cat.model(mid)
        six = ops.six_nd(m, tokens)
        full = ops.training_flops(m, tokens, 2048)
        rows.append({"model": m.name, "tokens": tokens, "params": ops.param_count(m),
                     "six_nd_flops": six, "six_nd_pf_days": six / PF_DAY,
                     "per_layer_flops": full, "per_layer_pf_days": full / PF_DAY,
                     "quoted": quoted})
    return rows


def gpt3_on_a100() -> list[dict[str, Any]]:
    """A GPT-3-class run on ~1000 A100: days for the best plan, 2021 kernels and today's."""
    from dataclasses import replace

    from suanli.plan.api import make_job
    from suanli.plan.search import SearchSpace, search

    rows = []
    megatron_2021 = SearchSpace(recompute=("full",), sp=(False,), zero=(0,))
    for flash, space, label in (
            (False, megatron_2021, "2021: unfused attention, full recompute, no SP/ZeRO"),
            (False, SearchSpace(), "2022: + selective recompute, SP, distributed optimizer"),
            (True, SearchSpace(), "today: + fused (Flash) attention")):
        job = make_job("gpt3-175b", "dgx-a100-80gb", 300e9, seq_len=2048,
                       global_batch_tokens=1536 * 2048)
        job = replace(job, flash_attention=flash)
        best = search(job, 1024, space, top=1).best[0]
        rows.append({"setting": label, "devices": 1024, "days": best.days, "mfu": best.mfu,
                     "tflops_per_device": best.tflops_per_device,
                     "device_hours": best.device_hours, "plan": best.plan.__dict__,
                     "quoted": "~1000 A100 x ~30 days (Narayanan et al. 2021: 34 days at "
                               "140 TFLOP/s)"})
    return rows


def llama65b_hours() -> dict[str, Any]:
    """LLaMA-65B: 1.4T tokens on 2048 A100-80GB (Touvron et al. 2023: 1,022,362 GPU-hours)."""
    from suanli.calib.published import REAL_RUN_GOODPUT
    from suanli.plan.api import make_job
    from suanli.plan.search import search

    job = make_job("llama-65b", "dgx-a100-80gb", 1.4e12, seq_len=2048,
                   global_batch_tokens=4 * 2**20, goodput=REAL_RUN_GOODPUT)
    best = search(job, 2048, top=1).best[0]
    return {"model": "LLaMA-65B", "devices": 2048, "device_hours": best.device_hours,
            "days": best.days, "mfu": best.mfu, "goodput": REAL_RUN_GOODPUT,
            "quoted": "~1M A100-hours (1,022,362)"}


def rental_scaling(node_usd_per_month: float = 37_000.0, gpus_per_node: int = 8,
                   fleet: int = 10_000) -> dict[str, Any]:
    """8 x A100 rented at $37,000/month -> the monthly bill of a 10,000-A100 fleet."""
    per_gpu_month = node_usd_per_month / gpus_per_node
    return {"node_usd_per_month": node_usd_per_month, "per_gpu_month": per_gpu_month,
            "per_gpu_hour": per_gpu_month / 730.0, "fleet": fleet,
            "fleet_usd_per_month": per_gpu_month * fleet, "quoted": "~$46M/month"}


def compute_optimal_cost(sizes_b: tuple[float, ...] = (1, 10, 100, 1000),
                         tokens_per_param: float = 20.0, hardware: str = "dgx-h100",
                         max_devices: int = 8192, max_days: float = 365.0
                         ) -> list[dict[str, Any]]:
    """Compute-optimal training (Hoffmann et al. 2022: ~20 tokens per parameter) makes
    training FLOPs grow with N^2; the planner prices each size at its cheapest device count
    (8 to ``max_devices``) on the same hardware **that finishes within ``max_days``** (the
    cheapest count overall is the fewest devices, a run of years). A size that no count
    finishes in time gets the fastest plan, marked ``within_max_days = False``."""
    from suanli.catalog.schema import ModelSpec
    from suanli.errors import InfeasibleError
    from suanli.plan.api import make_job
    from suanli.plan.search import search

    rows = []
    for n_b in sizes_b:
        # a GPT-style shape with ~n_b billion parameters: 12 L h^2, aspect ratio h / L ~ 128
        hidden = int(round((n_b * 1e9 * 128 / 12) ** (1 / 3) / 128) * 128)
        layers = max(2, round(n_b * 1e9 / (12 * hidden**2)))
        spec = ModelSpec(id=f"dense-{n_b:g}b", name=f"dense {n_b:g}B", family="synthetic",
                         params_b=n_b, layers=layers, hidden=hidden, heads=hidden // 128,
                         ffn_hidden=4 * hidden, vocab=50_000, max_seq_len=2048,
                         source="synthetic GPT-style shape")
        from suanli.perf.ops import param_count

        n = param_count(spec)
        tokens = tokens_per_param * n
        job = make_job(spec, hardware, tokens, seq_len=2048, global_batch_tokens=4 * 2**20)
        per_count = []
        for count in (8 * 2**k for k in range(16) if 8 * 2**k <= max_devices):
            try:
                per_count.append(search(job, count, objective="cost", top=1).best[0])
            except InfeasibleError:
                continue  # does not fit on so few devices
        within = [e for e in per_count if e.days <= max_days]
        best = min(within, key=lambda e: e.cost_usd or 0.0) if within else \
            min(per_count, key=lambda e: e.days)
        rows.append({"params": n, "tokens": tokens, "flops": best.total_flops,
                     "devices": best.plan.devices, "days": best.days,
                     "within_max_days": bool(within), "max_days": max_days,
                     "device_hours": best.device_hours, "cost_usd": best.cost_usd,
                     "mfu": best.mfu})
    return rows
