"""Rich tables for fine-tuning estimates and plan searches (``suanli train ... --method``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from suanli.units import format_count, format_duration, format_si

if TYPE_CHECKING:
    from rich.console import Console

    from suanli.perf.finetune import FinetuneEstimate


def plan_text(est: FinetuneEstimate) -> str:
    """``1x mb2 ckpt offload:optimizer`` / ``8x FSDP mb1 no-ckpt``."""
    p = est.plan
    parts = [f"{p.devices}x", *(["FSDP"] if p.shard and p.devices > 1 else []),
             f"mb{p.micro_batch}", "ckpt" if p.checkpointing else "no-ckpt"]
    if p.offload != "none":
        parts.append(f"offload:{p.offload}")
    return " ".join(parts)


def method_text(est: FinetuneEstimate) -> str:
    j = est.job
    if j.method == "full":
        return "full fine-tuning (every weight trains)"
    base = "NF4 base (QLoRA)" if j.method == "qlora" else f"{j.dtype} base"
    name = "LoRA" if j.method == "lora" else "QLoRA"
    return (f"{name} rank {j.lora_rank} on "
            f"{j.targets}, {base}, {j.adapter_dtype} adapters")


def print_finetune(est: FinetuneEstimate, currency: str = "USD",
                   console: Console | None = None) -> None:
    from suanli.cli.common import console as _console
    from suanli.money import format_money, rate_note

    con = console or _console()
    j = est.job
    t = Table(title=f"fine-tuning {j.model.name} on {est.plan.devices} x {j.accelerator.name}",
              show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    fits = "[green]fits[/]" if est.fits else (
        f"[red]does not fit (+{est.memory_per_device_gb - est.memory_usable_gb:.1f} GB)[/]")
    cost = "no price known: give --price" if est.cost_usd is None else (
        f"{format_money(est.cost_usd, currency)} at {est.price_label}")
    rows = [
        ("method", method_text(est)),
        ("plan", plan_text(est)),
        ("trainable", f"{format_count(est.trainable_params)} params "
                      f"({est.trainable_params / (est.trainable_params + est.frozen_params):.2%})"),
        ("data", f"{format_count(j.dataset_tokens)} tokens x {j.epochs:g} epoch(s), seq "
                 f"{j.seq_len}, batch {j.global_batch} seqs"),
        ("memory", f"{est.memory_per_device_gb:.1f} GB of {est.memory_usable_gb:.1f} GB usable "
                   f"per device {fits}"),
        ("throughput", f"{format_si(est.tokens_per_s, 'tokens/s')} "
                       f"(HFU {est.hfu:.0%}; step {est.step_time_s:.3g} s)"),
        ("time per epoch", format_duration(est.epoch_hours * 3600.0)),
        ("time in total", format_duration(est.total_hours * 3600.0)),
        ("device-hours", f"{est.device_hours:,.1f}"),
        ("cost", cost),
        ("energy", f"{est.energy_kwh:,.1f} kWh (PUE {j.pue})"),
    ]
    if est.host_memory_gb > 0:
        nvme = f"; NVMe {est.nvme_gb:,.0f} GB" if est.nvme_gb > 0 else ""
        rows.insert(5, ("offloaded", f"host RAM {est.host_memory_gb:,.0f} GB per node{nvme}"))
    for label, text in rows:
        t.add_row(label, text)
    con.print(t)
    m = Table(title="memory per device (GB)", title_justify="left")
    m.add_column("term")
    m.add_column("GB", justify="right")
    for term, gb in est.memory_gb.items():
        m.add_row(term, f"{gb:.2f}")
    m.add_row("[bold]total", f"[bold]{est.memory_per_device_gb:.2f}")
    s = Table(title="step time (seconds per optimizer step)", title_justify="left")
    s.add_column("term")
    s.add_column("seconds", justify="right")
    s.add_column("share", justify="right")
    for term, sec in est.time_s.items():
        if sec > 0:
            s.add_row(term, f"{sec:.4g}", f"{sec / est.step_time_s:.1%}")
    s.add_row("[bold]sum", f"[bold]{est.step_time_s:.4g}", "100%")
    con.print(m)
    con.print(s)
    for note in est.notes:
        con.print(f"[yellow]note:[/] {note}")
    if currency != "USD":
        con.print(f"[dim]{rate_note(currency)}[/]")


def finetune_table(plans: list[FinetuneEstimate], title: str, currency: str = "USD") -> Table:
    from rich import box

    from suanli.money import format_money

    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("plan", "GB/dev", "tokens/s", "epoch", "total", "device-h", "cost"):
        t.add_column(col, justify="left" if col == "plan" else "right", no_wrap=True)
    for e in plans:
        t.add_row(plan_text(e), f"{e.memory_per_device_gb:.1f}", format_si(e.tokens_per_s),
                  format_duration(e.epoch_hours * 3600.0),
                  format_duration(e.total_hours * 3600.0), f"{e.device_hours:,.1f}",
                  format_money(e.cost_usd, currency) if e.cost_usd is not None else "-")
    return t
