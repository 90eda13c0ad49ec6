"""``suanli capacity``: devices, $ and MW per quarter for a growing serving or training demand.
Heavy imports happen inside the command."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("capacity")(capacity)


def capacity(
    model: Annotated[str, typer.Option("--model", "-m", help="catalog id/name, or a HF "
                                                            "config.json")],
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="system or accelerator")]
    = "H100",
    tokens_per_day: Annotated[str | None, typer.Option(
        help="serving demand today, prompt + output tokens/day, e.g. 10B")] = None,
    users: Annotated[str | None, typer.Option(help="daily users (with --queries)")] = None,
    queries: Annotated[float, typer.Option(help="queries per user per day")] = 10.0,
    runs_per_year: Annotated[float | None, typer.Option(
        help="training demand: runs of --model on --tokens per year")] = None,
    tokens: Annotated[str | None, typer.Option(help="training tokens per run, e.g. 2T")] = None,
    run_devices: Annotated[int, typer.Option(help="devices per training run")] = 1024,
    prompt_len: Annotated[int, typer.Option(help="input tokens per query")] = 1024,
    output_len: Annotated[int, typer.Option(help="generated tokens per query")] = 256,
    precision: Annotated[str, typer.Option(help="serving precision, e.g. bf16, fp8, w8a8")]
    = "bf16",
    ttft_slo: Annotated[float, typer.Option(help="TTFT limit, s")] = 2.0,
    tpot_slo: Annotated[float, typer.Option(help="TPOT limit, s")] = 0.1,
    doubling: Annotated[str | None, typer.Option(help="demand doubling time, e.g. 3.4mo")]
    = None,
    yearly: Annotated[str | None, typer.Option(help="yearly growth factor, e.g. 2x")] = None,
    years: Annotated[int, typer.Option(help="horizon, 1-3 years (quarters shown)")] = 2,
    fleet: Annotated[str | None, typer.Option(help="today's fleet, e.g. 1000xH100")] = None,
    price: Annotated[str | None, typer.Option(help="rent, per device-hour (default: catalog)")]
    = None,
    buy_price: Annotated[str | None, typer.Option(help="purchase price per device, e.g. "
                                                       "30000")] = None,
    life: Annotated[float, typer.Option(help="depreciation life, years")] = 4.0,
    electricity: Annotated[float, typer.Option(help="$ per kWh for owned devices")] = 0.08,
    pue: Annotated[float, typer.Option(help="facility power / IT power")] = 1.2,
    utilization: Annotated[float, typer.Option(help="target utilization of the fleet")] = 0.8,
    peak: Annotated[float, typer.Option(help="peak-to-mean demand ratio")] = 1.0,
    csv: Annotated[str | None, typer.Option("--csv", help="write the quarters as CSV "
                                                          "(- for stdout)")] = None,
    plot: Annotated[str | None, typer.Option("--plot", help="write a chart (.png/.svg)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """How many devices, dollars (rent vs buy) and megawatts a growing demand needs, per
    quarter, and when today's fleet runs out."""
    from suanli.capacity import growth, plan
    from suanli.errors import InputError
    from suanli.units import parse_count, parse_price

    if sum(x is not None for x in (tokens_per_day, users, runs_per_year)) != 1:
        raise InputError("give exactly one demand: --tokens-per-day, --users (x --queries x "
                         "tokens per query) or --runs-per-year (with --tokens)")
    if (doubling is None) == (yearly is None):
        raise InputError("give the growth as one of --doubling (e.g. 3.4mo) or --yearly "
                         "(e.g. 2x)")
    if not 1 <= years <= 3:
        raise InputError(f"--years must be 1, 2 or 3, got {years}")
    g = growth.yearly_factor(growth.parse_doubling(doubling)) if doubling else \
        growth.parse_factor(str(yearly))
    rent = parse_price(price) if price else None
    buy = parse_count(buy_price.lstrip("$"), what="a purchase price") if buy_price else None
    n_fleet, fleet_hw = plan.parse_fleet(fleet) if fleet else (None, None)

    def unit(hw: str) -> growth.Unit:
        if runs_per_year is not None:
            if tokens is None:
                raise InputError("--runs-per-year needs --tokens (training tokens per run)")
            return plan.training_unit(model, hw, tokens=parse_count(tokens, what="tokens"),
                                      run_devices=run_devices, price=rent, buy_price=buy)
        return plan.serving_unit(model, hw, prompt_len=prompt_len, output_len=output_len,
                                 ttft_slo_s=ttft_slo, tpot_slo_s=tpot_slo, precision=precision,
                                 price=rent, buy_price=buy)

    if runs_per_year is not None:
        demand = plan.demand_from_runs(runs_per_year, model,
                                       parse_count(tokens or "0", what="tokens"))
    elif users is not None:
        demand = plan.demand_from_users(parse_count(users, what="users"), queries,
                                        prompt_len + output_len)
    else:
        demand = plan.demand_from_tokens(parse_count(str(tokens_per_day), what="tokens/day"))
    u = unit(hardware)
    fu = unit(fleet_hw) if fleet_hw and fleet_hw.lower() != hardware.lower() else None
    p = plan.plan_capacity(demand, g, u, years=years, peak=peak, rho=utilization, pue=pue,
                           usd_per_kwh=electricity, life_years=life, fleet=n_fleet,
                           fleet_unit=fu)
    from suanli.report import capacity as rep

    if csv:
        from suanli.report.export import write_csv

        write_csv(rep.rows(p), csv)
        if csv == "-":
            return
    if plot:
        rep.plot_plan(p, plot)
    if as_json:
        from suanli.cli.common import print_json

        print_json({"demand": p.demand, "yearly_growth": p.yearly_growth, "unit": p.unit,
                    "fleet": p.fleet, "fleet_hardware": p.fleet_hardware,
                    "runout_months": p.runout_months, "assumptions": p.assumptions,
                    "totals": p.totals(), "quarters": rep.rows(p)})
        return
    rep.print_plan(p)
