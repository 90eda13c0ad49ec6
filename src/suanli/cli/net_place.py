"""``suanli net place``: a batch of jobs placed on the network (site, hardware, count, plan),
each placement marked with the capability that priced it (measured or declared)."""

from __future__ import annotations

from typing import Any

import typer

from suanli.cli.net import (
    _COUNTRY,
    _EXAMPLE_NOTE,
    _EXAMPLES,
    _HARDWARE,
    _JSON,
    _KIND,
    _PROVIDER,
    _SITE,
    _busy,
    _filters,
    _net,
    _site_label,
    _table,
    app,
)


def _with_capability(net: Any, jobs: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """A placement row with ``capability``: measured when the site's bench figures priced a
    training job's line (:mod:`suanli.network.measured`), else declared."""
    from suanli.network.measured import capability
    from suanli.network.options import perf_run, pricing_key

    if not row.get("placed"):
        return row
    return {**row, "capability": capability(pricing_key(
        net.site(str(row["site"])), str(row["hardware"]), perf_run, jobs[row["job"]]))}


@app.command("place")
def place_cmd(
    jobs_file: str = typer.Argument(..., help="jobs.yaml (see examples/jobs.yaml)."),
    objective: str = typer.Option("cost", "--objective", help="cost, makespan or carbon."),
    method: str = typer.Option("auto", "--method", help="auto, milp, heuristic or both."),
    budget: str = typer.Option(None, "--budget", help="Total budget for the batch, USD."),
    time_limit: float = typer.Option(None, "--time-limit", help="Solver budget in seconds "
                                     "after the option table (default: 5 s up to 1,000 jobs, "
                                     "+2.5 s per 1,000 more, at most 30 s)."),
    prune_to: int = typer.Option(3, "--prune", help="Options per job the MILP polish sees "
                                 "(best by reduced cost; the best answer's are always kept)."),
    provider: list[str] = _PROVIDER, country: list[str] = _COUNTRY,
    hardware: list[str] = _HARDWARE, site: list[str] = _SITE, kind: list[str] = _KIND,
    no_spot: bool = typer.Option(False, "--no-spot", help="Exclude spot offers."),
    chart: str = typer.Option(None, "--chart", help="Write a map of placements (.png/.svg)."),
    include_examples: bool = _EXAMPLES,
    as_json: bool = _JSON,
) -> None:
    """Place a batch of jobs: site, hardware, count and plan per job (MILP / heuristic)."""
    from suanli.network.jobs import TrainJob, parse_money, read_jobs
    from suanli.network.links import place_coords
    from suanli.network.place import place
    from suanli.units import format_duration, format_usd

    jobs = read_jobs(jobs_file)
    net = _net()
    money = None if budget is None else float(parse_money(budget))
    with _busy(as_json, f"pricing {len(jobs)} jobs and solving the placement..."):
        res = place(net, jobs, objective=objective, method=method, budget_usd=money,
                    filters=_filters(provider, country, hardware, site, kind, not no_spot,
                                     include_examples=include_examples),
                    prune_to=prune_to, time_limit_s=time_limit)
    by_id = {j.id: j for j in jobs}
    rows = [_with_capability(net, by_id, r) for r in res.best.rows(res.table)]
    totals = res.best.totals(res.table)
    summary = {"objective": objective, "method": res.best.method, "status": res.best.status,
               "value": res.best.value, "lower_bound": res.bound,
               "lower_bound_basis": res.bound_basis, "gap": res.gap,
               "heuristic_value": None if res.heuristic is None else res.heuristic.value,
               "heuristic_gap": res.heuristic_gap,
               "milp_value": None if res.milp is None else res.milp.value,
               "milp_subtable_gap": None if res.milp is None else res.milp.mip_gap,
               "answers": res.candidates, "stage_s": res.stage_s,
               "solve_s": sum(res.stage_s.values()), "options": res.options_before_prune,
               "options_milp": res.milp_options, **totals}
    if chart:
        from suanli.network.charts import site_map

        src = {j.id: place_coords(net, j.data_location) for j in jobs
               if isinstance(j, TrainJob) and j.data_location}
        site_map(net, chart, placements=rows, sources=src, title=f"placement ({objective})")
    if as_json:
        from suanli.cli.common import print_json

        print_json({"summary": summary, "placements": rows})
        return
    def num(r: dict[str, Any], key: str) -> float:
        return float(r[key])

    _table(f"placement of {len(jobs)} jobs, objective {objective}",
           ["job", "site", "plan", "capability", "time", "cost", "t CO2"],
           [[r["job"], _site_label(net, str(r.get("site"))),
             str(r.get("plan", "")) + (" spot" if r.get("spot") else ""),
             str(r.get("capability", "")),
             format_duration(num(r, "time_s")) if r.get("time_s") else "service",
             format_usd(num(r, "cost_usd")),
             "?" if r.get("co2_kg") is None else f"{num(r, 'co2_kg') / 1e3:,.1f}"]
            if r["placed"] else [r["job"], "NOT PLACED", "", "", "", "", ""] for r in rows],
           _EXAMPLE_NOTE if any(r.get("placed") and net.site(str(r["site"])).example
                                for r in rows) else "")
    typer.echo(_place_line(res, objective, totals) + (f"; chart: {chart}" if chart else ""))


def _fmt_value(objective: str, value: float) -> str:
    from suanli.units import format_duration, format_usd

    if objective == "cost":
        return format_usd(value)
    if objective == "makespan":
        return format_duration(value)
    return f"{value / 1e3:,.1f} t CO2"


def _place_line(res: Any, objective: str, totals: dict[str, float]) -> str:
    """The summary line: answer, lower bound of the full problem and signed gap, and the
    heuristic's own value and gap (printed for every method)."""
    from suanli.units import format_duration, format_usd

    bound = ("no lower bound" if res.bound is None else
             f"lower bound {_fmt_value(objective, res.bound)} ({res.bound_basis}), gap "
             f"{res.gap:+.2%}")
    heur = ""
    if res.heuristic is not None and res.best.method != "heuristic":
        heur = (f"; heuristic alone {_fmt_value(objective, res.heuristic.value)}"
                + ("" if res.heuristic_gap is None else f" (gap {res.heuristic_gap:+.2%})"))
    return (f"{res.best.method} ({res.best.status}): total {format_usd(totals['cost_usd'])}, "
            f"makespan {format_duration(totals['makespan_s'])}, "
            f"{totals['co2_kg'] / 1e3:,.1f} t CO2; {bound}{heur}; "
            f"{res.options_before_prune:,} options, solved in "
            f"{sum(res.stage_s.values()):.2f} s")


