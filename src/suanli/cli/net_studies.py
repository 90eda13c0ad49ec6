"""``suanli net east-west`` and ``suanli net cross-site``: two studies of the network (train in
the west on data from the east; data parallelism across sites over the WAN)."""

from __future__ import annotations

import typer

from suanli.cli.net import _JSON, _net, _table, app


@app.command("east-west")
def east_west_cmd(
    model: str = typer.Option("llama3-70b", "--model"),
    tokens: str = typer.Option("1T", "--tokens"),
    hardware: str = typer.Option("atlas-800t-a2", "--hardware", help="Owned hub hardware."),
    devices: int = typer.Option(1024, "--devices"),
    data_size: str = typer.Option("100TB", "--data-size"),
    data_site: str = typer.Option("cn-yrd-demo-zone", "--data-site", help="Eastern hub."),
    users: list[str] = typer.Option(None, "--users", help="Inference users (default shanghai)."),
    traffic: float = typer.Option(5000.0, "--traffic", help="Inference output tokens/s."),
    serve_model: str = typer.Option("llama3-8b", "--serve-model"),
    serve_hardware: str = typer.Option("hgx-h20", "--serve-hardware"),
    ttft_slo: list[float] = typer.Option(None, "--ttft-slo-ms", help="Repeatable; default "
                                         "50, 100, 200."),
    chart: str = typer.Option(None, "--chart", help="Write the cost chart (.png/.svg)."),
    as_json: bool = _JSON,
) -> None:
    """Train in the eastern hub holding the data, or ship the data west? Serve from where?"""
    from dataclasses import asdict

    from suanli.network.eastwest import report
    from suanli.units import format_duration, format_usd, parse_bytes, parse_count

    rep = report(_net(), model=model, tokens=parse_count(tokens), hardware=hardware,
                 devices=devices, data_bytes=parse_bytes(data_size), data_site=data_site,
                 users=tuple(users or ("shanghai",)), traffic=traffic,
                 ttft_slos_s=tuple(x / 1e3 for x in (ttft_slo or (50.0, 100.0, 200.0))),
                 serve_model=serve_model, serve_hardware=serve_hardware)
    if chart:
        from suanli.network.charts import east_west_chart

        east_west_chart(rep, chart)
    if as_json:
        from suanli.cli.common import print_json

        print_json(asdict(rep))
        return
    base = rep.train[0].total_usd
    _table(f"train {rep.model} ({tokens} tokens, {rep.devices} x {rep.hardware}); data "
           f"{data_size} in {rep.data_site}",
           ["site", "role", "$/kWh", "PUE", "$/dev-h", "energy $", "transfer", "total",
            "vs east", "time", "t CO2"],
           [[r.site, r.role, f"{r.electricity_usd_per_kwh:.4f}", r.pue,
             f"{r.usd_per_device_hour:.3f}", format_usd(r.energy_usd),
             format_duration(r.transfer_s) if r.transfer_s else "-", format_usd(r.total_usd),
             f"{(r.total_usd - base) / base:+.1%}", format_duration(r.total_s),
             "?" if r.co2_t is None else f"{r.co2_t:,.0f}"] for r in rep.train])
    _table(f"serve {serve_model} on {serve_hardware} ({traffic:g} tok/s) to "
           f"{', '.join(users or ['shanghai'])}",
           ["TTFT SLO", "site", "RTT ms", "left for model", "devices", "$/h", "note"],
           [[f"{r.ttft_slo_ms:.0f} ms", r.site, f"{r.rtt_ms:.0f}",
             f"{r.ttft_budget_ms:.0f} ms" if r.ttft_budget_ms is not None else "",
             r.devices or "-", "-" if r.usd_per_hour is None else f"{r.usd_per_hour:.2f}",
             r.note if r.feasible else "INFEASIBLE: " + r.note] for r in rep.serve])
    for note in rep.assumptions:
        typer.echo(f"assumption: {note}")


@app.command("cross-site")
def cross_site_cmd(
    model: str = typer.Option("llama3-70b", "--model"),
    hardware: str = typer.Option("dgx-h100", "--hardware"),
    devices: int = typer.Option(1024, "--devices", help="Total devices across all sites."),
    sites: int = typer.Option(2, "--sites"),
    latency_ms: float = typer.Option(20.0, "--latency-ms", help="One way, between sites."),
    tokens: str = typer.Option("1T", "--tokens"),
    chart: str = typer.Option(None, "--chart", help="Write speedup vs bandwidth (.png/.svg)."),
    as_json: bool = _JSON,
) -> None:
    """When does data parallelism across sites (over the WAN) pay? An honest table."""
    from dataclasses import asdict

    from suanli.network.crosssite import analyze
    from suanli.units import parse_count

    rep = analyze(model, hardware, devices, sites=sites, tokens=parse_count(tokens),
                  latency_ms=latency_ms)
    if chart:
        from suanli.network.charts import cross_site_chart

        cross_site_chart(rep, chart)
    if as_json:
        from suanli.cli.common import print_json

        print_json(asdict(rep))
        return
    _table(f"{model}: {devices} x {rep.hardware} over {sites} sites vs "
           f"{devices // sites} at one site ({rep.grad_gb:.0f} GB of gradients per sync)",
           ["Gb/s", "sync every", "WAN s/sync", "exposed s/step", "days span", "days one site",
            "speedup", "extra device-h", "faster?"],
           [[f"{r.bandwidth_gbps:g}", r.sync_every, f"{r.wan_s:.1f}",
             f"{r.exposed_s_per_step:.2f}", f"{r.days_span:.1f}", f"{r.days_one_site:.1f}",
             f"{r.speedup:.2f}", f"{r.extra_device_hours:+.0%}", "yes" if r.faster else "no"]
            for r in rep.rows])
    for h, bw in rep.break_even_gbps.items():
        typer.echo(f"break-even WAN bandwidth, sync every {h} step(s): "
                   + ("never (one site is faster)" if bw is None else f"{bw:,.0f} Gb/s"))
    typer.echo("sync every > 1 step is local SGD / DiLoCo: it changes the optimizer; check "
               "model quality before relying on it.")
