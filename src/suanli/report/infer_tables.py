"""Rich tables for serving plans and comparisons (``suanli infer plan|compare``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from suanli.units import format_money

if TYPE_CHECKING:
    from suanli.infer.capacity import CapacityOption


def option_row(o: CapacityOption) -> dict[str, Any]:
    """One plain row (CSV/JSON) of a capacity option."""
    a = o.attainment
    return {"system": o.system, "accelerator": o.accelerator, "precision": o.precision,
            "tp": o.tp, "layout": o.layout or f"tp={o.tp}", "batch": o.batch,
            "replicas": o.replicas, "devices": o.devices_total,
            "usd_per_hour": o.usd_per_hour, "usd_per_day": o.usd_per_day,
            "usd_per_million_output_tokens": o.usd_per_million_output_tokens,
            "ttft_p99_s": o.ttft_p99_s, "tpot_p99_s": o.tpot_p99_s,
            "checked": _checked(o),
            "slo_attainment": None if a is None else a.share,
            "attainment_ci95_low": None if a is None else a.low,
            "attainment_ci95_high": None if a is None else a.high,
            "sampled_requests": None if a is None else a.n,
            "simulated_replicas": o.simulated_replicas}


def _checked(o: CapacityOption) -> str:
    return "sim ok" if o.verified else ("sim FAIL" if o.ttft_p99_s is not None else "analytic")


def print_plan_options(options: list[CapacityOption], title: str,
                       console: Any | None = None) -> None:
    from rich import box
    from rich.table import Table

    from suanli.report.console import console as _console

    con = console or _console()
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
              collapse_padding=True)
    for col in ("system", "precision", "layout", "batch", "replicas", "devices", "$/h",
                "$/day", "$/M out", "TTFT p99", "TPOT p99", "checked"):
        t.add_column(col, no_wrap=True, justify="left" if col in ("system", "precision",
                                                                  "layout", "checked")
                     else "right")
    for o in options:
        t.add_row(o.system, o.precision, o.layout or f"tp={o.tp}", str(o.batch),
                  f"{o.replicas:,}", f"{o.devices_total:,}", format_money(o.usd_per_hour),
                  format_money(o.usd_per_day), format_money(o.usd_per_million_output_tokens),
                  "-" if o.ttft_p99_s is None else f"{o.ttft_p99_s:.2f} s",
                  "-" if o.tpot_p99_s is None else f"{1e3 * o.tpot_p99_s:.0f} ms", _checked(o))
    con.print(t)
    for o in options:
        if o.attainment is not None:
            k = o.simulated_replicas or o.replicas
            con.print(f"[dim]{o.system} {o.precision} {o.layout or f'TP{o.tp}'}: "
                      f"{o.attainment.text()}; "
                      f"{k:,} of {o.replicas:,} replicas simulated at their share of the "
                      "traffic.[/]")


def print_compare(model: str, rows: list[Any], best: list[Any], by: str, setting: str,
                  console: Any | None = None) -> None:
    """The best row per group, then the grid: compressions down, hardware (@ site) across."""
    from rich.table import Table

    from suanli.report.console import console as _console

    con = console or _console()
    t = Table(title=f"{model}: best per {by} ({setting})", title_justify="left")
    getters: dict[str, Any] = {
        "hardware": lambda r: r.accelerator, "site": lambda r: r.site,
        "compression": lambda r: r.compression, "TP": lambda r: _opt(r.tp),
        "batch": lambda r: _opt(r.batch),
        "TTFT": lambda r: "-" if r.ttft_s is None else f"{1e3 * r.ttft_s:,.0f} ms",
        "TPOT": lambda r: "-" if r.tpot_s is None else f"{1e3 * r.tpot_s:.1f} ms",
        "tok/s/dev": lambda r: "-" if r.output_tokens_per_s_per_device is None
        else f"{r.output_tokens_per_s_per_device:,.0f}",
        "$/h/dev": lambda r: "-" if r.usd_per_device_hour is None
        else format_money(r.usd_per_device_hour),
        "$/M out": lambda r: "-" if r.usd_per_million_output_tokens is None
        else format_money(r.usd_per_million_output_tokens),
        "devices": lambda r: _opt(r.devices), "note": lambda r: r.note}
    skip = {"site"} if all(r.site == "list price" for r in rows) else set()
    skip |= {"devices"} if all(r.devices is None for r in rows) else set()
    skip |= {"note"} if not any(r.note for r in best) else set()
    shown = [c for c in getters if c not in skip]
    for col in shown:
        t.add_column(col, overflow="fold", no_wrap=col not in ("note", "site"))
    for r in best:
        t.add_row(*[getters[c](r) for c in shown])
    con.print(t)
    cols = list(dict.fromkeys(f"{r.accelerator}" + ("" if r.site == "list price"
                                                     else f" @ {r.site}") for r in rows))
    grid = Table(title="$ per M output tokens (TP, batch), side by side", title_justify="left")
    grid.add_column("compression")
    for c in cols:
        grid.add_column(c, overflow="fold")
    cells: dict[tuple[str, str], str] = {}
    for r in rows:
        c = r.accelerator + ("" if r.site == "list price" else f" @ {r.site}")
        cells[(r.compression, c)] = (
            f"{format_money(r.usd_per_million_output_tokens)} (TP{r.tp}, b{r.batch})" if r.ok
            else (r.note or "no price"))
    for comp in dict.fromkeys(r.compression for r in rows):
        grid.add_row(comp, *[cells.get((comp, c), "") for c in cols])
    con.print(grid)


def _opt(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"
