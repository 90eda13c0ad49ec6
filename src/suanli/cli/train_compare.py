"""``suanli train compare``: the best plan of every group (hardware x device count x method),
side by side, as a table, JSON or CSV; and the training chart (``train plan --chart``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from suanli.cli.train import (
    GlobalBatch,
    Json,
    Model,
    Price,
    SeqLen,
    Tokens,
    _job,
    app,
    parse_devices,
)
from suanli.cli.train_options import (
    Currency,
    DatasetTokens,
    Epochs,
    Examples,
    LoraRank,
    LoraTargets,
    Params,
    Shape,
)

if TYPE_CHECKING:
    from suanli.perf.training import Estimate, TrainingJob
    from suanli.plan.search import SearchSpace

COLUMNS = ("hardware", "dtype", "devices", "method", "plan", "days", "device_hours", "cost",
           "currency", "memory_gb", "tokens_per_s", "price")


@dataclass(frozen=True)
class Row:
    hardware: str
    dtype: str
    devices: int
    method: str
    plan: str
    days: float
    device_hours: float
    cost_usd: float | None
    memory_gb: float
    tokens_per_s: float
    price: str | None
    note: str = ""  # why a group has no plan


def best_per_count(job: TrainingJob, counts: list[int], objective: str = "time",
                   space: SearchSpace | None = None) -> list[Estimate]:
    """The best plan at each device count (counts where nothing fits are skipped)."""
    from suanli.errors import InfeasibleError
    from suanli.plan.search import search

    out = []
    for n in counts:
        try:
            out.append(search(job, n, space, objective=objective, top=1).best[0])
        except InfeasibleError:
            continue
    return out


def write_chart(job: TrainingJob, counts: list[int], path: str, currency: str,
                space: SearchSpace | None = None) -> Path:
    from suanli.report.training import _plan_text
    from suanli.report.training_charts import Point, scaling_and_pareto_chart

    pts = [Point(e.plan.devices, e.days, e.cost_usd, _plan_text(e))
           for e in best_per_count(job, counts, "time", space)]
    return scaling_and_pareto_chart(pts, path, f"{job.model.name} on {job.accelerator.name}",
                                    currency)


def _empty(hw: str, dtype: str, n: int, method: str, why: str) -> Row:
    nan = float("nan")
    return Row(hw, dtype, n, method, "-", nan, nan, None, nan, nan, None, why)


def _pretrain_rows(spec: Any, hw: str, dtype: str, counts: list[int], objective: str,
                   a: dict[str, Any]) -> list[Row]:
    from suanli.money import price_for
    from suanli.report.training import _plan_text

    job = _job(spec, hw, a["tokens"], a["seq_len"], a["global_batch"], dtype, a["price"], True,
               1.0, None, 1.0)
    found = {e.plan.devices: e for e in best_per_count(job, counts, objective)}
    choice = price_for(job.system, job.accelerator,
                       job.price_usd_per_device_hour if a["price"] else None, a["price"])
    rows = []
    for n in counts:
        e = found.get(n)
        rows.append(_empty(hw, dtype, n, "pretrain", "no plan fits") if e is None else Row(
            hw, dtype, n, "pretrain", _plan_text(e), e.days, e.device_hours, e.cost_usd,
            e.memory_per_device_gb, e.tokens_per_s, choice.label if choice else None))
    return rows


def _finetune_rows(spec: Any, hw: str, dtype: str, counts: list[int], method: str,
                   objective: str, a: dict[str, Any]) -> list[Row]:
    from suanli.cli.train_finetune import FinetuneArgs, make_finetune_job
    from suanli.errors import InfeasibleError
    from suanli.plan.finetune import search_finetune
    from suanli.report.finetune import plan_text

    args = FinetuneArgs(method, a["lora_rank"], a["lora_targets"], a["dataset_tokens"],
                        a["examples"], a["epochs"], a["seq_len"], a["global_batch"], dtype,
                        a["price"], 1.0, a["currency"])
    job = make_finetune_job(spec, hw, args, 1)
    rows = []
    for n in counts:
        try:
            best = search_finetune(job, [n], objective).choice.best
        except InfeasibleError:
            best = None
        if best is None:
            rows.append(_empty(hw, dtype, n, method, "no plan fits"))
            continue
        e = best.item
        rows.append(Row(hw, dtype, n, method, plan_text(e), e.days, e.device_hours, e.cost_usd,
                        e.memory_per_device_gb, e.tokens_per_s, e.price_label))
    return rows


def compare_rows(spec: Any, hardware: list[str], dtypes: list[str], counts: list[int],
                 methods: list[str], objective: str, args: dict[str, Any]) -> list[Row]:
    """One row per (hardware, dtype, devices, method): the group's best plan by ``objective``;
    a hardware without a peak for ``dtype`` gets a row saying so."""
    from suanli.catalog import load_catalog

    cat = load_catalog()
    rows: list[Row] = []
    for hw, dtype, method in itertools.product(hardware, dtypes, methods):
        acc = cat.accelerator(cat.system(hw).accelerator)
        if (dtype == "int8" and acc.int8_tops is None) or (
                dtype != "int8" and getattr(acc, f"{dtype}_tflops", None) is None):
            rows += [_empty(hw, dtype, n, method, f"no dense {dtype} peak") for n in counts]
        elif method == "pretrain":
            rows += _pretrain_rows(spec, hw, dtype, counts, objective, args)
        else:
            rows += _finetune_rows(spec, hw, dtype, counts, method, objective, args)
    return rows


def _csv(rows: list[Row], currency: str) -> str:
    import csv
    import io

    from suanli.money import from_usd

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        cost = "" if r.cost_usd is None else f"{from_usd(r.cost_usd, currency):.6g}"
        w.writerow([r.hardware, r.dtype, r.devices, r.method, r.plan.replace("\n", " "),
                    f"{r.days:.6g}", f"{r.device_hours:.6g}", cost, currency,
                    f"{r.memory_gb:.4g}", f"{r.tokens_per_s:.6g}", r.price or r.note])
    return buf.getvalue()


@app.command("compare")
def compare_cmd(
    hardware: Annotated[str, typer.Option("--hardware", "-H",
                                          help="systems or accelerators, e.g. a100,h100,rtx4090")],
    model: Model = None, params: Params = None, tokens: Tokens = None,
    devices: Annotated[str, typer.Option(help="counts: '8,64' or a range '8-512'")] = "8",
    method: Annotated[str, typer.Option(
        help="pretrain, or fine-tuning methods: 'lora,qlora,full'")] = "pretrain",
    objective: Annotated[str, typer.Option(help="best per group by: time | cost")] = "time",
    lora_rank: LoraRank = 16, lora_targets: LoraTargets = "all",
    dataset_tokens: DatasetTokens = None, examples: Examples = None, epochs: Epochs = 1.0,
    seq_len: SeqLen = None, global_batch: GlobalBatch = None,
    dtype: Annotated[str, typer.Option(help="precisions to compare, e.g. 'bf16,fp8'")] = "bf16",
    price: Price = None, currency: Currency = "USD", json_out: Json = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="print CSV (one row per group)")] = False,
) -> None:
    """Compare hardware x precision x device count x method: the best plan of each group."""
    from suanli.cli.common import console, print_json
    from suanli.cli.train_options import resolve_model
    from suanli.errors import InputError
    from suanli.money import currency_code

    currency = currency_code(currency)
    methods = [m.strip() for m in method.split(",") if m.strip()]
    bad = [m for m in methods if m not in ("pretrain", "full", "lora", "qlora")]
    if bad or not methods:
        raise InputError(f"--method takes pretrain, full, lora, qlora; got '{method}'")
    if objective not in ("time", "cost"):
        raise InputError(f"--objective must be time or cost, got '{objective}'")
    spec = resolve_model(model, Shape(params=params))
    hws = [h.strip() for h in hardware.split(",") if h.strip()]
    args = {"lora_rank": lora_rank, "lora_targets": lora_targets, "tokens": tokens,
            "dataset_tokens": dataset_tokens, "examples": examples, "epochs": epochs,
            "seq_len": seq_len, "global_batch": global_batch, "price": price,
            "currency": currency}
    dtypes = [d.strip() for d in dtype.split(",") if d.strip()]
    rows = compare_rows(spec, hws, dtypes, parse_devices(devices), methods, objective, args)
    if csv_out:
        import sys

        sys.stdout.write(_csv(rows, currency))
        return
    if json_out:
        from suanli.money import from_usd

        print_json({"objective": objective, "currency": currency,
                    "rows": [{**vars(r), "cost": None if r.cost_usd is None
                              else from_usd(r.cost_usd, currency)} for r in rows]})
        return
    print_compare(rows, objective, currency, console())


def print_compare(rows: list[Row], objective: str, currency: str, con: Any) -> None:
    import math

    from rich import box
    from rich.table import Table

    from suanli.money import format_money
    from suanli.units import format_duration, format_si

    ok = [r for r in rows if not math.isnan(r.days)]
    key = (lambda r: r.cost_usd or math.inf) if objective == "cost" else (lambda r: r.days)
    winner = min(ok, key=key) if ok else None
    t = Table(title=f"best plan per group (by {objective}); * = best overall",
              title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("hardware", "dtype", "N", "method", "plan", "time", "device-h", "cost",
                "GB/dev", "tokens/s"):
        t.add_column(col, justify="left" if col in ("hardware", "dtype", "method", "plan")
                     else "right")
    for r in rows:
        if math.isnan(r.days):
            t.add_row(r.hardware, r.dtype, str(r.devices), r.method, f"[red]{r.note}[/]", "-",
                      "-", "-", "-", "-")
            continue
        star = "*" if r is winner else ""
        t.add_row(f"{star}{r.hardware}", r.dtype, f"{r.devices:,}", r.method,
                  r.plan.replace("\n", " "),
                  format_duration(r.days * 86_400.0), f"{r.device_hours:,.0f}",
                  format_money(r.cost_usd, currency) if r.cost_usd is not None else "-",
                  f"{r.memory_gb:.1f}", format_si(r.tokens_per_s))
    con.print(t)
    prices = sorted({f"{r.hardware}: {r.price}" for r in ok if r.price})
    if prices:
        con.print("[dim]priced at " + "; ".join(prices) + "[/]")
    unpriced = sorted({r.hardware for r in ok if r.cost_usd is None})
    if unpriced:
        con.print(f"[dim]no price known for {', '.join(unpriced)} (catalog or prices.csv): "
                  "give --price, e.g. '¥15/h'[/]")
    if currency != "USD" and any(r.cost_usd is not None for r in ok):
        from suanli.money import rate_note

        con.print(f"[dim]costs in {currency}: {rate_note(currency)}[/]")
