"""Rich tables for training estimates, plan searches and validation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from suanli.report.console import console as _console
from suanli.units import (
    flops_to_pf_days,
    format_count,
    format_duration,
    format_number,
    format_si,
    format_usd,
)

if TYPE_CHECKING:
    from suanli.calib.published import Result
    from suanli.perf.training import Estimate
    from suanli.plan.search import SearchResult


def _plan_text(est: Estimate, sep: str = " ") -> str:
    """``TP8 PP8x2 DP16 mb1 ZeRO-1 recompute:selective SP`` (``sep`` between the two halves)."""
    p = est.plan
    parts = [f"TP{p.tp}", f"PP{p.pp}" + (f"x{p.interleave}" if p.interleave > 1 else ""),
             f"DP{p.dp}"]
    rest = [f"EP{p.ep}"] if p.ep > 1 else []
    if p.cp > 1:
        rest.append(f"CP{p.cp}")
    rest += [f"mb{p.micro_batch}", f"Z{p.zero}", {"none": "no-rc", "selective": "sel-rc",
                                                 "full": "full-rc"}[p.recompute]]
    if p.sp:
        rest.append("SP")
    return " ".join(parts) + sep + " ".join(rest)


PLAN_LEGEND = ("plan: TP tensor-parallel x PP pipeline stages (xV interleaved chunks) x DP "
               "data-parallel replicas; EP expert-, CP context-parallel; mb micro-batch "
               "(sequences); Z ZeRO stage; no-rc / sel-rc / full-rc activation recompute "
               "none / selective / full; SP sequence parallel")


def print_estimate(est: Estimate, console: Console | None = None,
                   currency: str = "USD") -> None:
    con = console or _console()
    job = est.job
    head = Table(title=f"{job.model.name} on {est.plan.devices} x {job.accelerator.name}",
                 show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    rows = [
        ("plan", _plan_text(est)),
        ("tokens", f"{format_count(job.tokens)} at seq {job.seq_len}, "
                   f"batch {job.global_batch} seqs ({format_count(job.global_batch_tokens)} tok)"),
        ("model FLOPs", f"{est.total_flops:.3g} ({format_number(flops_to_pf_days(est.total_flops))}"
                        f" PF-days); 6ND check {est.breakdown['six_nd_flops']:.3g}"),
        ("step time", f"{est.step_time_s:.3g} s x {est.steps:,.0f} steps"),
        ("MFU / HFU", f"{est.mfu:.1%} / {est.hfu:.1%} ({est.tflops_per_device:.0f} TFLOP/s "
                      "per device)"),
        ("throughput", f"{format_si(est.tokens_per_s, 'tokens/s')}"),
        ("time to train", format_duration(est.days * 86_400)),
        ("device-hours", format_number(est.device_hours)),
        ("cost", _money(est.cost_usd, currency) if est.cost_usd is not None
         else "no price: --price"),
        ("energy", f"{format_number(est.energy_kwh)} kWh (PUE {job.pue})"
         + (f", {format_number(est.co2_kg / 1000)} t CO2" if est.co2_kg is not None else "")),
        ("memory", f"{est.memory_per_device_gb:.1f} GB of {est.memory_usable_gb:.1f} GB usable "
                   + ("[green]fits[/]" if est.fits else
                      f"[red]does not fit (+{est.memory_per_device_gb - est.memory_usable_gb:.1f}"
                      " GB)[/]")),
        ("Amdahl", f"serial fraction {est.serial_fraction:.1%} "
                   f"(max speedup x{est.amdahl_max_speedup:.0f} at this batch)"),
    ]
    for k, v in rows:
        head.add_row(k, v)
    con.print(head)
    con.print(f"[dim]{PLAN_LEGEND}[/]")
    bd = est.breakdown
    t = Table(title="step time breakdown (seconds per step)", title_justify="left")
    t.add_column("term")
    t.add_column("seconds", justify="right")
    t.add_column("share", justify="right")
    for k, v in bd["time_s"].items():
        if v > 0:
            t.add_row(k, f"{v:.4g}", f"{v / est.step_time_s:.1%}")
    t.add_row("[bold]sum", f"[bold]{est.step_time_s:.4g}", "100%")
    m = Table(title="memory per device (GB)", title_justify="left")
    m.add_column("term")
    m.add_column("GB", justify="right")
    mem = bd["memory_gb"]
    for label, key in (("weights + grads + optimizer", "weights_grads_optimizer"),
                       ("  of which weights", "weights"), ("activations", "activations"),
                       ("buffers and reserved", "buffers_and_reserved")):
        m.add_row(label, f"{mem[key]:.2f}")
    m.add_row("[bold]total", f"[bold]{est.memory_per_device_gb:.2f}")
    con.print(t)
    con.print(m)
    con.print(f"[dim]FLOPs convention: {bd['flops_convention']}. Efficiency: "
              f"{bd['efficiency']['family']} family"
              + ("" if bd["efficiency"]["fitted"] else " (no published runs: default curve)")
              + f". Software stack: {bd.get('stack', '-')}.[/]")
    for note in est.notes:
        con.print(f"[yellow]note:[/] {note}")


def _money(usd: float, currency: str) -> str:
    """``'$1.59M'``, or in ``currency`` at the catalog's dated rate (``'¥7.9M'``)."""
    if currency.upper() == "USD":
        return format_usd(usd)
    from suanli.money import format_money

    return format_money(usd, currency)


def plan_table(plans: list[Estimate], title: str, currency: str = "USD") -> Table:
    from rich import box

    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("N", "plan", "step s", "MFU", "days", "device-h", "cost", "GB"):
        t.add_column(col, justify="left" if col == "plan" else "right", no_wrap=True,
                     min_width=len(col) if col != "GB" else 4)
    for e in plans:
        t.add_row(str(e.plan.devices), _plan_text(e, "\n"), f"{e.step_time_s:.3g}",
                  f"{e.mfu:.1%}", format_number(e.days), format_count(e.device_hours),
                  _money(e.cost_usd, currency) if e.cost_usd is not None else "-",
                  f"{e.memory_per_device_gb:.1f}")
    return t


def print_search(res: SearchResult, console: Console | None = None,
                 currency: str = "USD") -> None:
    con = console or _console()
    job = res.best[0].job
    con.print(plan_table(res.best, f"best plans for {job.model.name} on {job.accelerator.name}"
                                   f" (by {res.objective})", currency))
    if len({e.plan.devices for e in res.pareto}) > 1:
        con.print(plan_table(res.pareto, "Pareto front: devices vs time vs cost", currency))
    con.print(f"[dim]{res.evaluated:,} candidate plans, {res.valid:,} valid, {res.fitting:,} fit "
              f"in memory. Software stack: {job.software_stack.id}.[/]")
    for note in res.best[0].notes:
        con.print(f"[yellow]note (best plan):[/] {note}")
    con.print(f"[dim]{PLAN_LEGEND}[/]")


def print_validation(results: list[Result], console: Console | None = None,
                     lopo: dict[str, float] | None = None,
                     by_publication: dict[str, dict[str, float]] | None = None) -> None:
    """Predicted vs published per row; for the fitted rows also the leave-one-publication-out
    error (``lopo``: the headline out-of-sample figure) and a table per publication."""
    import numpy as np

    con = console or _console()
    lopo = lopo or {}
    for name, title in (("full", "runs with a stated parallel config (metric as published)"),
                        ("budget", "real trainings: planner's best plan vs published budget"),
                        ("flops", "total training compute")):
        rows = [r for r in results if r.case.set == name]
        if not rows:
            continue
        t = Table(title=title, title_justify="left")
        show_lopo = name == "full" and bool(lopo)
        cols = ("id", "model", "metric", "published", "predicted", "error") + (
            ("LOPO",) if show_lopo else ()) + ("note",)
        for col in cols:
            t.add_column(col, justify="right" if col in ("published", "predicted", "error",
                                                           "LOPO") else "left", overflow="fold")
        for r in rows:
            err = "-" if r.error is None else f"{r.error:+.1%}"
            style = "" if r.error is None or abs(r.error) <= 0.1 else (
                "yellow" if abs(r.error) <= 0.3 else "red")
            note = "; ".join(x for x in (
                "EXCLUDED: " + r.case.exclude if r.case.exclude else "",
                "recalled figure" if r.case.quality == "recalled" else "", r.note) if x)
            cells = [r.case.id, r.case.model, r.case.metric.split("_seq")[0],
                     f"{r.case.published:.4g}", "-" if r.predicted is None
                     else f"{r.predicted:.4g}", f"[{style}]{err}[/]" if style else err]
            if show_lopo:
                cells.append(f"{lopo[r.case.id]:+.1%}" if r.case.id in lopo else "-")
            t.add_row(*cells, note)
        con.print(t)
        held = [abs(r.error) for r in rows if r.error is not None and not r.case.exclude]
        if show_lopo:
            out = [abs(lopo[r.case.id]) for r in rows if r.case.id in lopo]
            if out:
                con.print(f"  {name}: leave-one-publication-out (headline): median |error| "
                          f"{np.median(out):.1%}, max {max(out):.1%} over {len(out)} rows")
        if held:
            con.print(f"  {name}: {len(held)} rows held to the bound: "
                      f"{'in-sample ' if show_lopo else ''}median |error| "
                      f"{np.median(held):.1%}, max {max(held):.1%}")
        unfit = [r.case.id for r in rows if r.note.startswith("does not fit")]
        if name == "full":
            con.print(f"  {name}: published runs the memory model calls 'does not fit': "
                      f"{', '.join(unfit) if unfit else 'none'}")
    if by_publication:
        t = Table(title="leave-one-publication-out, per publication", title_justify="left")
        for col in ("publication", "rows", "median |error|", "max |error|"):
            t.add_column(col, justify="left" if col == "publication" else "right")
        for pub, st in sorted(by_publication.items()):
            t.add_row(pub, str(int(st["rows"])), f"{st['median_abs_error']:.1%}",
                      f"{st['max_abs_error']:.1%}")
        con.print(t)
