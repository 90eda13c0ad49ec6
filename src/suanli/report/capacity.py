"""Print, export and chart a capacity plan (``suanli capacity``)."""

from __future__ import annotations

from typing import Any

from suanli.capacity.plan import CapacityPlan, runout_text
from suanli.units import format_count, format_money, format_number


def rows(plan: CapacityPlan) -> list[dict[str, Any]]:
    """One plain row per quarter (the CSV and JSON body)."""
    out = []
    for q in plan.quarters:
        out.append({"quarter": q.quarter, "months": q.months, "demand": q.demand,
                    "demand_unit": plan.demand.unit, "growth": q.growth, "devices": q.devices,
                    "new_devices": q.new_devices, "megawatts": q.megawatts,
                    "rent_usd": q.rent_usd, "buy_usd": q.buy_usd, "capex_usd": q.capex_usd,
                    "depreciation_usd": q.depreciation_usd, "power_usd": q.power_usd,
                    "fleet_ok": q.fleet_ok})
    return out


def _money(v: float | None) -> str:
    return "-" if v is None else format_money(v)


def print_plan(plan: CapacityPlan, console: Any | None = None) -> None:
    from rich.table import Table

    from suanli.report.console import console as _console

    con = console or _console()
    a = plan.assumptions
    t = Table(title=f"{plan.demand.source}, growing x{plan.yearly_growth:.4g} a year, on "
                    f"{plan.unit.hardware}", title_justify="left")
    for col in ("quarter", "demand", "x today", "devices", "new", "MW", "rent $/q",
                "buy $/q", "capex $", "fleet"):
        t.add_column(col, justify="left" if col in ("quarter", "fleet") else "right",
                     no_wrap=True)
    for q in plan.quarters:
        label = "today" if q.quarter == 0 else f"+{q.months:g} mo"
        fleet = "" if q.fleet_ok is None else ("ok" if q.fleet_ok else "[red]short[/]")
        t.add_row(label, format_count(q.demand), format_number(q.growth),
                  f"{q.devices:,}", f"{q.new_devices:,}", format_number(q.megawatts),
                  _money(q.rent_usd), _money(q.buy_usd), _money(q.capex_usd), fleet)
    con.print(t)
    tot = plan.totals()
    years = (len(plan.quarters) - 1) // 4
    mw = format_number(tot["peak_megawatts"] or 0.0)
    con.print(f"next {years} year(s): rent {_money(tot['rent_usd'])}; buy "
              f"{_money(tot['buy_usd'])} (depreciation over {a['depreciation_years']:g} y + "
              f"power; capex {_money(tot['capex_usd'])} in cash, today's included); peak "
              f"{mw} MW at PUE {a['pue']:g}")
    if plan.runout_months is not None:
        con.print(f"{plan.fleet:,} x {plan.fleet_hardware}: {runout_text(plan.runout_months)}")
    con.print(f"[dim]one device: {format_count(plan.unit.throughput)} {plan.demand.unit} at "
              f"{a['target_utilization']:.0%} target utilization, peak/mean "
              f"{a['peak_to_mean']:g}; {plan.unit.power_w:,.0f} W before PUE; power at "
              f"${a['usd_per_kwh']:g}/kWh. Rent includes power; buy = depreciation + power."
              + ("" if plan.unit.buy_price is not None else " No --buy-price: buy columns "
                 "empty.") + "[/]")


def plot_plan(plan: CapacityPlan, path: str) -> None:
    """Devices and MW (left, log) and rent vs buy $ per quarter (right) over months."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qs = plan.quarters
    x = [q.months for q in qs]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax.plot(x, [q.devices for q in qs], "o-", label="devices")
    ax.set_yscale("log")
    ax.set_xlabel("months from today")
    ax.set_ylabel("devices")
    mw = ax.twinx()
    mw.plot(x, [q.megawatts for q in qs], "s--", color="#c60", label="MW")
    mw.set_yscale("log")
    mw.set_ylabel("MW (PUE included)")
    if plan.fleet is not None and plan.fleet_hardware == plan.unit.hardware:
        ax.axhline(plan.fleet, color="grey", lw=1, ls=":", label="today's fleet")
    ax.legend(loc="upper left")
    for key, label in (("rent_usd", "rent"), ("buy_usd", "buy (depreciation + power)")):
        vals = [getattr(q, key) for q in qs]
        if all(v is not None for v in vals):
            bx.plot(x, vals, "o-", label=label)
    if bx.lines:
        bx.set_yscale("log")
        bx.legend(loc="upper left")
    bx.set_xlabel("months from today")
    bx.set_ylabel("$ per quarter")
    fig.suptitle(f"{plan.demand.source}, x{plan.yearly_growth:.3g}/year")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
