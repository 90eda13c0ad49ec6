"""``suanli train estimate|plan --method full|lora|qlora``: the fine-tuning side of ``train``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from suanli.catalog.schema import ModelSpec
    from suanli.perf.finetune import FinetuneEstimate, FinetuneJob
    from suanli.plan.constraints import Constraints


@dataclass(frozen=True)
class FinetuneArgs:
    method: str
    lora_rank: int
    lora_targets: str
    dataset_tokens: str | None
    examples: str | None
    epochs: float
    seq_len: str | None
    global_batch: str | None
    dtype: str
    price: str | None
    pue: float
    currency: str


def make_finetune_job(model: str | ModelSpec, hardware: str, a: FinetuneArgs,
                      batch_unit: int) -> FinetuneJob:
    """Resolve names, parse quantities; ``batch_unit`` = devices x micro-batch (the default
    global batch is the smallest multiple of it that is >= 16 sequences)."""
    from suanli.catalog import load_catalog
    from suanli.cli.common import require_positive
    from suanli.errors import InputError
    from suanli.money import currency_code
    from suanli.perf.finetune import FinetuneJob
    from suanli.units import parse_count, parse_int, parse_price

    cat = load_catalog()
    spec = model if not isinstance(model, str) else cat.model(model)
    system = cat.system(hardware)
    acc = cat.accelerator(system.accelerator)
    seq = parse_int(a.seq_len, what="--seq-len") if a.seq_len else min(spec.max_seq_len, 2048)
    require_positive(seq, "--seq-len")
    if a.dataset_tokens and a.examples:
        raise InputError("give --dataset-tokens or --examples (x --seq-len), not both")
    if a.dataset_tokens:
        tokens = parse_count(a.dataset_tokens, what="--dataset-tokens")
    elif a.examples:
        tokens = parse_count(a.examples, what="--examples") * seq
    else:
        raise InputError("say how much data: --dataset-tokens 50M, or --examples 10k with "
                         "--seq-len 2048")
    require_positive(tokens, "--dataset-tokens / --examples")
    require_positive(a.epochs, "--epochs")
    usd = parse_price(a.price) if a.price else None
    require_positive(usd, "--price")
    gb = parse_int(a.global_batch, what="--global-batch") if a.global_batch else \
        batch_unit * -(-16 // batch_unit)
    require_positive(gb, "--global-batch")
    currency_code(a.currency)
    acc.peak_flops(a.dtype)  # fails early with the dtypes this part has
    return FinetuneJob(model=spec, system=system, accelerator=acc, method=a.method or "full",
                       lora_rank=a.lora_rank, targets=a.lora_targets, dataset_tokens=tokens,
                       epochs=a.epochs, seq_len=seq, global_batch=gb, dtype=a.dtype,
                       price_usd_per_device_hour=usd, price_text=a.price, pue=a.pue)


def finetune_json(est: FinetuneEstimate, currency: str = "USD") -> dict[str, Any]:
    """The JSON object of one fine-tuning estimate (see docs/finetuning.md)."""
    from dataclasses import asdict

    from suanli.money import currency_code, from_usd

    j = est.job
    return {
        "model": j.model.id, "hardware": j.system.id, "accelerator": j.accelerator.id,
        "method": j.method, "lora_rank": j.lora_rank if j.method != "full" else None,
        "lora_targets": j.targets if j.method != "full" else None, "plan": asdict(est.plan),
        "dataset_tokens": j.dataset_tokens, "epochs": j.epochs, "seq_len": j.seq_len,
        "global_batch": j.global_batch, "trainable_params": est.trainable_params,
        "memory_gb": est.memory_gb, "memory_per_device_gb": est.memory_per_device_gb,
        "memory_usable_gb": est.memory_usable_gb, "fits": est.fits,
        "host_memory_gb": est.host_memory_gb, "nvme_gb": est.nvme_gb, "time_s": est.time_s,
        "step_time_s": est.step_time_s, "tokens_per_s": est.tokens_per_s,
        "epoch_hours": est.epoch_hours, "total_hours": est.total_hours, "days": est.days,
        "device_hours": est.device_hours, "cost_usd": est.cost_usd,
        "currency": currency_code(currency),
        "cost": None if est.cost_usd is None else from_usd(est.cost_usd, currency),
        "price": est.price_label, "energy_kwh": est.energy_kwh, "hfu": est.hfu,
        "notes": est.notes,
    }


def run_estimate(model: str | ModelSpec, hardware: str, a: FinetuneArgs, devices: int,
                 micro_batch: int, recompute: str, zero: int, offload: str,
                 json_out: bool) -> None:
    from suanli.cli.common import print_json
    from suanli.perf.finetune import FinetunePlan, estimate_finetune

    job = make_finetune_job(model, hardware, a, devices * micro_batch)
    plan = FinetunePlan(devices=devices, micro_batch=micro_batch,
                        checkpointing=recompute != "none", offload=offload, shard=zero >= 3)
    est = estimate_finetune(job, plan)
    if json_out:
        print_json(finetune_json(est, a.currency))
        return
    from suanli.report.finetune import print_finetune

    print_finetune(est, a.currency)


def run_plan(model: str | ModelSpec, hardware: str, a: FinetuneArgs, counts: list[int],
             objective: str, top: int, constraints: Constraints, offload: str | None,
             json_out: bool, chart: str | None = None) -> None:
    from suanli.cli.common import console, print_json
    from suanli.money import format_money
    from suanli.plan.finetune import search_finetune

    job = make_finetune_job(model, hardware, a, 1)
    res = search_finetune(job, counts, objective, constraints, a.currency,
                          offloads=[offload] if offload else None)
    if chart:
        console().print(f"chart: {finetune_chart(job, counts, chart, a.currency, offload)}")
    best = [c.item for c in res.choice.feasible[:top]]
    if json_out:
        print_json({"objective": objective, "evaluated": res.evaluated,
                    "fitting": res.fitting, "binding": res.choice.binding,
                    "plans": [finetune_json(e, a.currency) for e in best]})
        return
    from suanli.report.finetune import finetune_table, print_finetune

    con = console()
    order = "cheapest first" if objective == "cost" else "fastest first"
    cons = constraints.describe(lambda usd: format_money(usd, a.currency))
    con.print(f"[dim]{method_text_of(job)}; ranked by {objective} ({order}; --objective "
              f"time|cost); constraints: {cons}.[/]")
    if not best:
        con.print("[red]no plan meets the constraints:[/]")
        for line in res.choice.binding:
            con.print(f"  - {line}")
        return
    con.print(finetune_table(best, f"best fine-tuning plans for {job.model.name} on "
                                   f"{job.accelerator.name}", a.currency))
    con.print(f"[dim]{res.evaluated} plans, {res.fitting} fit. The best one in full:[/]")
    print_finetune(best[0], a.currency, con)


def method_text_of(job: FinetuneJob) -> str:
    if job.method == "full":
        return "full fine-tuning"
    return f"{job.method} rank {job.lora_rank} on {job.targets}"


def finetune_chart(job: FinetuneJob, counts: list[int], path: str, currency: str,
                   offload: str | None) -> Any:
    """The scaling curve and Pareto front of the fastest fitting plan at each device count."""
    from suanli.errors import InfeasibleError
    from suanli.plan.finetune import search_finetune
    from suanli.report.finetune import plan_text
    from suanli.report.training_charts import Point, scaling_and_pareto_chart

    pts = []
    for n in counts:
        try:
            best = search_finetune(job, [n], "time",
                                   offloads=[offload] if offload else None).choice.best
        except InfeasibleError:
            continue
        if best is not None:
            e = best.item
            pts.append(Point(n, e.days, e.cost_usd, plan_text(e)))
    return scaling_and_pareto_chart(pts, path, f"fine-tuning {job.model.name} ({job.method}) "
                                    f"on {job.accelerator.name}", currency)
