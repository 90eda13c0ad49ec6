"""``suanli train``: estimate one training plan, or search for the best ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from suanli.cli.train_options import (
    Budget,
    Currency,
    DatasetTokens,
    Epochs,
    Examples,
    Experts,
    Ffn,
    Heads,
    Hidden,
    KvHeads,
    Layers,
    LoraRank,
    LoraTargets,
    MaxDays,
    MaxDevices,
    Method,
    Offload,
    Params,
    Shape,
    TopK,
    Vocab,
)

if TYPE_CHECKING:
    from suanli.catalog.schema import ModelSpec
    from suanli.perf.training import Estimate, TrainingJob
    from suanli.plan.constraints import Constraints

app = typer.Typer(help="Training compute: estimate one plan, search plans.", no_args_is_help=True)

Model = Annotated[str | None, typer.Option(
    "--model", "-m", help="catalog id/name, or a HF config.json (or --params / a shape)")]
Hardware = Annotated[str, typer.Option("--hardware", "-H",
                                       help="system or accelerator, e.g. dgx-h100, A100")]
Tokens = Annotated[str | None, typer.Option(help="training tokens, e.g. 300B, 2T (default 300B)")]
SeqLen = Annotated[str | None, typer.Option("--seq-len", help="sequence length (default: the "
                                                              "model's context, at most 4096)")]
GlobalBatch = Annotated[str | None, typer.Option(
    "--global-batch", help="sequences per step (default ~4M tokens), e.g. 1536")]
Dtype = Annotated[str, typer.Option(help="matmul precision: bf16, fp16, fp8, tf32")]
Price = Annotated[str | None, typer.Option(help="price per device-hour, e.g. '$2.5/h', '¥15/h', "
                                                "'€2/h' (default: the catalog's price)")]
Json = Annotated[bool, typer.Option("--json", help="print one JSON object")]
Flash = Annotated[bool | None, typer.Option("--flash/--no-flash",
                                            help="fused (Flash) attention (default: the stack's)")]
Stack = Annotated[str | None, typer.Option(
    help="software stack: kernels, overlaps, allocator (`perf/data/stacks.yaml`; default "
         "megatron-core-2024), e.g. megatron-lm-2022, llm-foundry-2023")]
Pue = Annotated[float, typer.Option(help="data-centre PUE applied to energy")]
Carbon = Annotated[float | None, typer.Option(help="grid intensity, gCO2/kWh")]
Goodput = Annotated[float, typer.Option(help="share of wall time spent on useful steps "
                                             "(real runs: ~0.9)")]


def _job(model: str | ModelSpec, hardware: str, tokens: str | None, seq_len: str | None,
         global_batch: str | None, dtype: str, price: str | None, flash: bool | None,
         pue: float, carbon: float | None, goodput: float,
         stack: str | None = None) -> TrainingJob:
    from dataclasses import replace

    from suanli.cli.common import require_positive
    from suanli.errors import InputError
    from suanli.plan.api import make_job
    from suanli.units import parse_count, parse_int, parse_price

    n_tokens = parse_count(tokens or "300B", what="--tokens")
    require_positive(n_tokens, "--tokens")
    seq = parse_int(seq_len, what="--seq-len") if seq_len else None
    require_positive(seq, "--seq-len")
    if not 0 < goodput <= 1:
        raise InputError(f"--goodput must be in (0, 1], got {goodput}")
    if pue < 1:
        raise InputError(f"--pue must be >= 1 (1.0 = no overhead), got {pue}")
    usd = parse_price(price) if price else None
    require_positive(usd, "--price")
    gb = parse_int(global_batch, what="--global-batch") if global_batch else None
    require_positive(gb, "--global-batch")
    job = make_job(model, hardware, n_tokens, seq_len=seq, dtype=dtype,
                   price_usd_per_device_hour=usd, pue=pue, carbon_g_per_kwh=carbon,
                   goodput=goodput, global_batch=gb)
    job.accelerator.peak_flops(dtype)  # fails early with the dtypes this part has
    if usd is None:  # no catalog USD price: a public price list row, if any (prices.csv)
        from suanli.money import price_for

        choice = price_for(job.system, job.accelerator)
        usd = choice.usd_per_hour if choice else None
    job = replace(job, flash_attention=flash, price_usd_per_device_hour=usd, stack=stack)
    job.software_stack  # noqa: B018 - an unknown stack fails here, with the list of known ones
    return job


def price_line(job: TrainingJob, price: str | None, cost_usd: float | None,
               currency: str) -> str:
    """Which price the cost uses, and the cost in ``currency`` (said under every plan)."""
    from suanli.money import format_money, price_for, rate_note

    choice = price_for(job.system, job.accelerator,
                       job.price_usd_per_device_hour if price else None, price)
    if choice is None:
        return "no price is known for this hardware: give --price (e.g. '$2/h' or '¥15/h')"
    line = f"priced at {choice.label}"
    if currency.upper() != "USD" and cost_usd is not None:
        line += f"; cost {format_money(cost_usd, currency)} ({rate_note(currency)})"
    return line


def estimate_json(est: Estimate, currency: str = "USD",
                  price: str | None = None) -> dict[str, Any]:
    """The documented JSON object of one estimate (see docs/cli.md)."""
    from dataclasses import asdict

    from suanli.money import currency_code, from_usd, price_for

    choice = price_for(est.job.system, est.job.accelerator,
                       est.job.price_usd_per_device_hour if price else None, price)
    return {
        "currency": currency_code(currency), "price": choice.label if choice else None,
        "cost": None if est.cost_usd is None else from_usd(est.cost_usd, currency),
        "model": est.job.model.id, "hardware": est.job.system.id,
        "accelerator": est.job.accelerator.id, "devices": est.plan.devices,
        "plan": asdict(est.plan), "tokens": est.job.tokens, "seq_len": est.job.seq_len,
        "global_batch": est.job.global_batch, "dtype": est.job.dtype,
        "total_flops": est.total_flops, "hardware_flops": est.hardware_flops,
        "step_time_s": est.step_time_s, "steps": est.steps, "mfu": est.mfu, "hfu": est.hfu,
        "tflops_per_device": est.tflops_per_device, "tokens_per_s": est.tokens_per_s,
        "days": est.days, "device_hours": est.device_hours, "cost_usd": est.cost_usd,
        "energy_kwh": est.energy_kwh, "co2_kg": est.co2_kg,
        "memory_per_device_gb": est.memory_per_device_gb,
        "memory_usable_gb": est.memory_usable_gb, "fits": est.fits,
        "serial_fraction": est.serial_fraction, "breakdown": est.breakdown,
        "stack": est.job.software_stack.id, "notes": list(est.notes),
    }


@app.command("estimate")
def estimate_cmd(
    hardware: Hardware, model: Model = None, tokens: Tokens = None,
    devices: Annotated[int | None, typer.Option(help="device count (default tp*pp*dp*cp)")] = None,
    tp: Annotated[int, typer.Option(help="tensor parallel degree")] = 1,
    pp: Annotated[int, typer.Option(help="pipeline parallel degree")] = 1,
    dp: Annotated[int | None, typer.Option(help="data parallel degree (default: the rest)")] = None,
    ep: Annotated[int, typer.Option(help="expert parallel degree (MoE; divides dp)")] = 1,
    cp: Annotated[int, typer.Option(help="context parallel degree")] = 1,
    micro_batch: Annotated[int, typer.Option("--micro-batch", help="sequences")] = 1,
    interleave: Annotated[int, typer.Option(help="virtual pipeline chunks per stage")] = 1,
    zero: Annotated[int, typer.Option(help="ZeRO stage 0-3 (3 = FSDP full shard)")] = 1,
    recompute: Annotated[str, typer.Option(help="none | selective | full")] = "selective",
    sp: Annotated[bool, typer.Option("--sp/--no-sp", help="sequence parallel")] = True,
    seq_len: SeqLen = None, global_batch: GlobalBatch = None, dtype: Dtype = "bf16",
    price: Price = None, flash: Flash = None, pue: Pue = 1.0, carbon: Carbon = None,
    goodput: Goodput = 1.0, stack: Stack = None, json_out: Json = False, currency: Currency = "USD",
    method: Method = None, lora_rank: LoraRank = 16, lora_targets: LoraTargets = "all",
    dataset_tokens: DatasetTokens = None, examples: Examples = None, epochs: Epochs = 1.0,
    offload: Offload = "none", params: Params = None, layers: Layers = None,
    hidden: Hidden = None, heads: Heads = None, kv_heads: KvHeads = None, ffn: Ffn = None,
    vocab: Vocab = None, experts: Experts = None, top_k: TopK = None,
) -> None:
    """Estimate one parallel plan: FLOPs, memory, step time, MFU, days, cost, energy.

    With --method full|lora|qlora (or --dataset-tokens / --examples / --offload) it estimates a
    fine-tuning run instead: memory by term, time and cost per epoch."""
    from suanli.cli.common import print_json, require_positive
    from suanli.errors import InputError
    from suanli.perf.training import Plan, estimate

    for flag, val in (("--tp", tp), ("--pp", pp), ("--ep", ep), ("--cp", cp),
                      ("--micro-batch", micro_batch), ("--interleave", interleave),
                      ("--devices", devices), ("--dp", dp)):
        require_positive(val, flag)
    if zero not in (0, 1, 2, 3):
        raise InputError(f"--zero must be 0, 1, 2 or 3, got {zero}")
    if recompute not in ("none", "selective", "full"):
        raise InputError(f"--recompute must be none, selective or full, got '{recompute}'")
    from suanli.cli.train_options import is_finetune, resolve_model

    spec = resolve_model(model, Shape(params, layers, hidden, heads, kv_heads, ffn, vocab,
                                      experts, top_k))
    if is_finetune(method, dataset_tokens, examples, offload):
        from suanli.cli.train_finetune import FinetuneArgs, run_estimate

        if max(tp, pp, ep, cp, interleave) > 1:
            raise InputError("fine-tuning runs data parallel over --devices (sharded with "
                             "--zero 3); drop --tp/--pp/--ep/--cp/--interleave")

        args = FinetuneArgs(method or "full", lora_rank, lora_targets, dataset_tokens or tokens,
                            examples, epochs, seq_len, global_batch, dtype, price, pue, currency)
        run_estimate(spec, hardware, args, devices or dp or 1, micro_batch, recompute, zero,
                     offload, json_out)
        return
    if dp is None:
        n = devices or tp * pp * cp
        if n % (tp * pp * cp):
            raise InputError(f"--devices {n} is not divisible by tp x pp x cp = {tp * pp * cp}")
        dp = n // (tp * pp * cp)
    elif devices is not None and devices != tp * pp * dp * cp:
        raise InputError(f"--devices {devices} != tp x pp x dp x cp = {tp * pp * dp * cp}; "
                         "drop --devices or fix the degrees")
    job = _job(spec, hardware, tokens, seq_len, global_batch, dtype, price, flash, pue,
               carbon, goodput, stack)
    plan = Plan(tp=tp, pp=pp, dp=dp, ep=ep, cp=cp, micro_batch=micro_batch,
                interleave=interleave, zero=zero, recompute=recompute, sp=sp and tp > 1)
    est = estimate(job, plan)
    if json_out:
        print_json(estimate_json(est, currency, price))
        return
    from suanli.cli.common import console
    from suanli.report.training import print_estimate

    print_estimate(est, currency=currency)
    console().print(f"[dim]{price_line(job, price, est.cost_usd, currency)}[/]")


def parse_devices(text: str) -> list[int]:
    """``"1024"``, ``"256,512,1024"`` or ``"64-1024"`` (powers of two in the range)."""
    from suanli.errors import InputError
    from suanli.units import parse_int

    text = text.strip()
    if "-" in text[1:]:
        lo_s, hi_s = text.split("-", 1)
        lo, hi = parse_int(lo_s, what="--devices"), parse_int(hi_s, what="--devices")
        if lo <= 0 or hi < lo:
            raise InputError(f"--devices range '{text}' must be 'low-high' with 0 < low <= high")
        out, k = [], 1
        while k <= hi:
            if k >= lo:
                out.append(k)
            k *= 2
        return out or [lo]
    counts = [parse_int(part, what="--devices") for part in text.split(",") if part.strip()]
    if not counts or any(c <= 0 for c in counts):
        raise InputError(f"--devices must be positive counts, got '{text}'")
    return counts


@app.command("plan")
def plan_cmd(
    hardware: Hardware, model: Model = None, tokens: Tokens = None,
    devices: Annotated[str | None, typer.Option(
        help="a count, a list '256,512' or a range '64-1024' (default 1024; fine-tuning 1-8; "
             "with constraints 8 up to 4x --max-devices)")] = None,
    objective: Annotated[str, typer.Option(
        help="rank by: time (fastest first) | cost (cheapest first)")] = "time",
    top: Annotated[int, typer.Option(help="how many plans to show")] = 10,
    tp: Annotated[int | None, typer.Option(help="fix tensor parallel")] = None,
    pp: Annotated[int | None, typer.Option(help="fix pipeline parallel")] = None,
    dp: Annotated[int | None, typer.Option(help="fix data parallel")] = None,
    micro_batch: Annotated[int | None, typer.Option("--micro-batch", help="fix")] = None,
    zero: Annotated[int | None, typer.Option(help="fix the ZeRO stage")] = None,
    recompute: Annotated[str | None, typer.Option(help="fix: none | selective | full")] = None,
    seq_len: SeqLen = None, global_batch: GlobalBatch = None, dtype: Dtype = "bf16",
    price: Price = None, flash: Flash = None, pue: Pue = 1.0, carbon: Carbon = None,
    goodput: Goodput = 1.0, stack: Stack = None, json_out: Json = False, currency: Currency = "USD",
    max_days: MaxDays = None, budget: Budget = None, max_devices: MaxDevices = None,
    method: Method = None, lora_rank: LoraRank = 16, lora_targets: LoraTargets = "all",
    dataset_tokens: DatasetTokens = None, examples: Examples = None, epochs: Epochs = 1.0,
    offload: Offload = "none", params: Params = None, layers: Layers = None,
    hidden: Hidden = None, heads: Heads = None, kv_heads: KvHeads = None, ffn: Ffn = None,
    vocab: Vocab = None, experts: Experts = None, top_k: TopK = None,
    chart: Annotated[str | None, typer.Option(
        "--chart", help="write the scaling curve and the time-vs-cost Pareto front (.png/.svg)")]
    = None,
) -> None:
    """Search every valid plan; show the best ones and the Pareto front (devices, time, cost).

    --max-days / --budget / --max-devices: the best plan (by --objective) that meets them all,
    or which constraint binds and by how much."""
    from suanli.cli.common import print_json, require_positive
    from suanli.cli.train_options import is_finetune, resolve_model
    from suanli.errors import InputError
    from suanli.money import parse_amount
    from suanli.plan.constraints import Constraints
    from suanli.plan.search import SearchSpace, search

    for flag, val in (("--top", top), ("--tp", tp), ("--pp", pp), ("--dp", dp),
                      ("--micro-batch", micro_batch), ("--max-days", max_days),
                      ("--max-devices", max_devices)):
        require_positive(val, flag)
    if zero is not None and zero not in (0, 1, 2, 3):
        raise InputError(f"--zero must be 0, 1, 2 or 3, got {zero}")
    if recompute is not None and recompute not in ("none", "selective", "full"):
        raise InputError(f"--recompute must be none, selective or full, got '{recompute}'")
    if objective not in ("time", "cost"):
        raise InputError(f"--objective must be time or cost, got '{objective}'")
    cons = Constraints(max_days=max_days, budget_usd=parse_amount(budget) if budget else None,
                       max_devices=max_devices)
    spec = resolve_model(model, Shape(params, layers, hidden, heads, kv_heads, ffn, vocab,
                                      experts, top_k))
    finetune = is_finetune(method, dataset_tokens, examples, offload)
    counts = parse_devices(devices or default_devices(cons, finetune))
    if finetune:
        from suanli.cli.train_finetune import FinetuneArgs, run_plan

        args = FinetuneArgs(method or "full", lora_rank, lora_targets, dataset_tokens or tokens,
                            examples, epochs, seq_len, global_batch, dtype, price, pue, currency)
        run_plan(spec, hardware, args, counts, objective, top, cons,
                 offload if offload != "none" else None, json_out, chart)
        return
    job = _job(spec, hardware, tokens, seq_len, global_batch, dtype, price, flash, pue,
               carbon, goodput, stack)
    base = SearchSpace()
    space = SearchSpace(
        tp=[tp] if tp else None, pp=[pp] if pp else None, dp=[dp] if dp else None,
        micro_batch=[micro_batch] if micro_batch else base.micro_batch,
        zero=[zero] if zero is not None else base.zero,
        recompute=[recompute] if recompute else base.recompute)
    if json_out:
        res = search(job, counts, space, objective=objective, top=top)
        out = {"objective": objective, "evaluated": res.evaluated, "valid": res.valid,
               "fitting": res.fitting,
               "plans": [estimate_json(e, currency, price) for e in res.best],
               "pareto": [estimate_json(e, currency, price) for e in res.pareto]}
        if cons.any:
            from suanli.cli.train_constrained import constrained

            choice = constrained(res, cons, objective, currency)
            out["constrained"] = {
                "best": estimate_json(choice.best.item, currency, price) if choice.best
                else None, "binding": choice.binding}
        print_json(out)
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"searching plans for {job.model.name}", total=None)
        res = search(job, counts, space, objective=objective, top=top,
                     progress=lambda done, total: bar.update(task, total=total, completed=done))
    from suanli.cli.common import console
    from suanli.report.training import print_search

    if cons.any:
        from suanli.cli.train_constrained import print_constrained

        print_constrained(res, cons, objective, currency)
    else:
        print_search(res, currency=currency)
    if chart:
        from suanli.cli.train_compare import write_chart

        console().print(f"chart: {write_chart(job, counts, chart, currency, space)}")
    order = "cheapest" if objective == "cost" else "fastest"
    console().print(f"[dim]ranked by {objective} ({order} first; --objective time|cost); "
                    f"{price_line(job, price, res.best[0].cost_usd, currency)}[/]")


def default_devices(cons: Constraints, finetune: bool) -> str:
    """Device counts to search when --devices is not given."""
    if cons.max_devices is not None:
        return f"1-{4 * cons.max_devices}" if finetune else f"8-{4 * cons.max_devices}"
    if finetune:
        return "1-8"
    return "8-16384" if cons.any else "1024"


from suanli.cli import train_compare as _train_compare  # noqa: E402,F401  registers "train compare"
