"""``suanli net``: the compute network: sites, links, joining, quotes, placement, east-west.

Every command prints a Rich table, or exactly one JSON object with ``--json``. Nothing heavy is
imported at module level (``suanli --help`` stays instant).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from suanli.network.jobs import Filters

app = typer.Typer(help="The compute network: sites, prices, links, quotes and placement.",
                  no_args_is_help=True)

_JSON = typer.Option(False, "--json", help="Print one JSON object instead of a table.")
_PROVIDER = typer.Option(None, "--provider", help="Only these providers (repeat the flag).")
_COUNTRY = typer.Option(None, "--country", help="Only these countries (repeat the flag).")
_HARDWARE = typer.Option(None, "--hardware", help="Only these systems or accelerators.")
_SITE = typer.Option(None, "--site", help="Only these site ids (repeat the flag).")
_KIND = typer.Option(None, "--kind", help="cloud_region, ai_centre, enterprise, edge, ...")
_EXTRA = typer.Option(None, "--site-file", help="Extra site descriptor files to include.")
_EXAMPLES = typer.Option(False, "--include-examples", help="Also offer fictional example "
                         "sites (marked 'example'; left out by default).")
_EXAMPLE_NOTE = "sites marked (example) are fictional illustrations, not real facilities"


def _net(extra: list[str] | None = None) -> Any:
    from suanli.network.sites import load_network

    net = load_network(extra or [])
    for line in net.skipped:  # a bad registered file is skipped, never fatal
        typer.echo(f"warning: {line}", err=True)
    return net


def _site_label(net: Any, site_id: str) -> str:
    site = net.sites.get(site_id)
    return f"{site_id} (example)" if site is not None and site.example else site_id


def _filters(provider: list[str] | None, country: list[str] | None,
             hardware: list[str] | None, site: list[str] | None, kind: list[str] | None,
             spot: bool = True, max_price: str | None = None,
             carbon_cap: float | None = None, include_examples: bool = False) -> Filters:
    from suanli.network.jobs import Filters
    from suanli.units import parse_price

    return Filters(providers=tuple(provider or ()), countries=tuple(country or ()),
                   hardware=tuple(hardware or ()), sites=tuple(site or ()),
                   kinds=tuple(kind or ()), spot=spot,
                   max_price_usd_per_device_hour=None if max_price is None
                   else parse_price(max_price), carbon_cap_kg=carbon_cap,
                   include_examples=include_examples)


def _busy(quiet: bool, text: str) -> Any:
    """A spinner on stderr while the perf model prices the network (none with --json)."""
    import contextlib

    if quiet:
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(text)


def _compact_plan(plan: str) -> str:
    """``256x hgx-b200 (tp=2 pp=2 dp=64 zero=1)`` -> two short lines for narrow tables."""
    import re

    head, _, rest = plan.partition(" (")
    short = re.sub(r"(tp|pp|dp|ep|zero)=(\d+)", lambda m: {"zero": "Z"}.get(m.group(1),
                   m.group(1).upper()) + m.group(2), rest.rstrip(")"))
    return f"{head}\n{short}" if rest else head


def _table(title: str, columns: list[str], rows: list[list[Any]], caption: str = "") -> None:
    from rich import box
    from rich.table import Table

    from suanli.cli.common import console

    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for c in columns:  # text columns fold; numbers never wrap
        text = c in ("site", "offer", "basis", "from", "to", "job", "why", "hardware")
        width = (12 if c == "site" else 10) if text else None
        t.add_column(c, overflow="fold", no_wrap=not text, min_width=width)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    console().print(t)
    if caption:  # below the table, wrapped at words (a table caption is cut to its width)
        console().print(caption, highlight=False, markup=False)


@app.command("sites")
def sites_cmd(provider: list[str] = _PROVIDER, country: list[str] = _COUNTRY,
              hardware: list[str] = _HARDWARE, kind: list[str] = _KIND,
              site_file: list[str] = _EXTRA, as_json: bool = _JSON) -> None:
    """List sites: kind, place, PUE, carbon, and devices by hardware with prices."""
    from suanli.network.pricing import device_hour_price
    from suanli.network.resources import hardware_matcher

    net = _net(site_file)
    f = _filters(provider, country, hardware, None, kind)
    ok_hw = hardware_matcher(f.hardware)
    out = []
    for s in net.sites.values():
        if not f.accepts_site(s.provider, s.country, s.id, s.kind):
            continue
        inv = [{"hardware": i.hardware, "count": i.count, "example_count": i.example,
                "usd_per_device_hour": round(device_hour_price(i, s).usd_per_device_hour, 4),
                "spot_usd_per_device_hour": i.spot_usd_per_device_hour,
                "spot_preemptions_per_node_hour": i.spot_preemptions_per_hour,
                "priced_as": "owned" if i.owned else "rented"}
               for i in s.inventory if ok_hw(i.hardware)]
        if inv:
            out.append({"id": s.id, "provider": s.provider, "kind": s.kind,
                        "country": s.country, "lat": s.location.lat, "lon": s.location.lon,
                        "pue": s.pue, "carbon_g_per_kwh": s.carbon_g_per_kwh,
                        "electricity_usd_per_kwh": s.electricity_usd_per_kwh,
                        "role": s.role, "example_site": s.example, "inventory": inv})
    if as_json:
        from suanli.cli.common import print_json

        print_json({"sites": out, "count": len(out)})
        return
    rows = [[_site_label(net, s["id"]), s["kind"], s["country"], s["pue"], s["carbon_g_per_kwh"],
             "; ".join(f"{i['count']}{'*' if i['example_count'] else ''} {i['hardware']} "
                       f"${i['usd_per_device_hour']:.2f}" for i in s["inventory"])]
            for s in out]
    _table(f"{len(out)} sites", ["site", "kind", "country", "PUE", "gCO2/kWh",
                                 "devices, $/device-h"], rows,
           "* = example count (not published by the operator); " + _EXAMPLE_NOTE)


@app.command("links")
def links_cmd(places: list[str] = typer.Argument(None, help="Sites or cities; default: the "
                                                  "Chinese hubs."),
              as_json: bool = _JSON) -> None:
    """Bandwidth, latency and egress between places (known links, else distance defaults)."""
    from suanli.network.links import link

    net = _net()
    names = places or [s.id for s in net.sites.values() if s.role in ("east", "west")]
    out = [link(net, a, b).__dict__ for a in names for b in names if a < b]
    if as_json:
        from suanli.cli.common import print_json

        print_json({"links": out})
        return
    _table("links", ["from", "to", "km", "Gb/s", "ms (one way)", "$/GB", "basis"],
           [[r["a"], r["b"], f"{r['distance_km']:.0f}", f"{r['bandwidth_gbps']:g}",
             f"{r['latency_ms']:.1f}", r["egress_usd_per_gb"], r["basis"][:28]] for r in out])


@app.command("schema")
def schema_cmd(out: str = typer.Option(None, "--out", help="Write to this file.")) -> None:
    """Print the site descriptor JSON Schema (versioned)."""
    import json
    from pathlib import Path

    from suanli.network.descriptor import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)


@app.command("join")
def join_cmd(site_file: str = typer.Argument(..., help="YAML or JSON site descriptor."),
             replace: bool = typer.Option(False, "--replace", help="Update a registered site."),
             dry_run: bool = typer.Option(False, "--dry-run", help="Validate only."),
             bench: str = typer.Option(None, "--bench", help="A `suanli bench -o` file: its "
                                       "figures become the site's `measured` section."),
             bench_hardware: str = typer.Option(None, "--bench-hardware", help="The inventory "
                                                "line the bench ran on (when it has several)."),
             as_json: bool = _JSON) -> None:
    """Validate a site descriptor and register it (with --bench: what it measured)."""
    from suanli.network.descriptor import read_descriptor
    from suanli.network.sites import check_hardware, join_site

    site = read_descriptor(site_file)
    if bench is not None:
        site = _with_bench(site, bench, bench_hardware or "")
    elif bench_hardware is not None:
        from suanli.errors import InputError

        raise InputError("--bench-hardware names the line of a --bench file; give --bench too")
    if dry_run:
        site, where = check_hardware(site), None
    else:
        site, path = join_site(site, replace=replace)
        where = str(path)
    m = site.measured
    msg = {"site": site.id, "valid": True, "registered": where,
           "devices": sum(i.count for i in site.inventory),
           "measured": None if m is None else {"hardware": m.hardware, "date": m.date,
                                               "gemm_tflops": m.gemm_tflops,
                                               "memory_bw_gbs": m.memory_bw_gbs}}
    if as_json:
        from suanli.cli.common import print_json

        print_json(msg)
        return
    typer.echo(f"site {site.id} is valid ({msg['devices']} devices)"
               + (f"; registered at {where}" if where else "; not registered (--dry-run)"))
    if m is not None:
        gemm = ", ".join(f"{d} {v:,.3g} TFLOP/s" for d, v in m.gemm_tflops.items())
        typer.echo(f"measured on {m.hardware} ({m.date}): GEMM {gemm or 'none'}; memory "
                   f"{m.memory_bw_gbs or 0:,.1f} GB/s; quotes use it where it is the same "
                   "quantity as a declared figure (docs/network.md)")


def _with_bench(site: Any, bench: str, hardware: str) -> Any:
    """``site`` with the bench file's figures as its ``measured`` section (re-validated)."""
    from suanli.bench.profile import load_profile
    from suanli.network.descriptor import parse_descriptor
    from suanli.network.measured import from_profile

    measured = from_profile(load_profile(bench), hardware)
    raw = {**site.model_dump(mode="json"), "measured": measured.model_dump(mode="json")}
    return parse_descriptor(raw, file=f"{site.id} + {bench}")


@app.command("export")
def export_cmd(site_id: str = typer.Argument(...),
               fmt: str = typer.Option("yaml", "--format", help="yaml or json"),
               out: str = typer.Option(None, "--out", help="Write to this file.")) -> None:
    """Export one site as a descriptor (import it elsewhere with `suanli net join`)."""
    from pathlib import Path

    from suanli.errors import InputError
    from suanli.network.descriptor import dump_descriptor

    if fmt not in ("yaml", "json"):
        raise InputError(f"--format must be yaml or json, got '{fmt}'")
    text = dump_descriptor(_net().site(site_id), fmt)
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)


@app.command("quote")
def quote_cmd(
    model: str = typer.Option(None, "--model", help="Model id (suanli models)."),
    tokens: str = typer.Option(None, "--tokens", help="Training tokens, e.g. 300B."),
    deadline: str = typer.Option(None, "--deadline", help="e.g. 30d (includes data transfer)."),
    budget: str = typer.Option(None, "--budget", help="USD, e.g. 2M."),
    data_size: str = typer.Option(None, "--data-size", help="e.g. 50TB."),
    data_location: str = typer.Option(None, "--data-location", help="Site or city."),
    spot: bool = typer.Option(False, "--spot", help="The job accepts spot capacity."),
    traffic: str = typer.Option(None, "--traffic", help="Inference: output tokens/s."),
    ttft_slo: str = typer.Option(None, "--ttft-slo", help="Inference: e.g. 300ms (end to end)."),
    tpot_slo: str = typer.Option(None, "--tpot-slo", help="Inference: e.g. 50ms."),
    users: list[str] = typer.Option(None, "--users", help="Inference: user regions (cities)."),
    hours: float = typer.Option(720.0, "--hours", help="Inference: service hours priced."),
    jobs: str = typer.Option(None, "--jobs", help="Take the job from this jobs.yaml."),
    job: str = typer.Option(None, "--job", help="Job id in --jobs (default: the first)."),
    provider: list[str] = _PROVIDER, country: list[str] = _COUNTRY,
    hardware: list[str] = _HARDWARE, site: list[str] = _SITE, kind: list[str] = _KIND,
    no_spot: bool = typer.Option(False, "--no-spot", help="Exclude spot offers."),
    max_price: str = typer.Option(None, "--max-price", help="Max $/device-hour."),
    carbon_cap: float = typer.Option(None, "--carbon-cap", help="Max kg CO2 for the job."),
    rank: str = typer.Option("cost", "--rank", help="cost, time or carbon."),
    top: int = typer.Option(15, "--top", help="Offers to show."),
    include_examples: bool = _EXAMPLES,
    as_json: bool = _JSON,
) -> None:
    """Ranked offers for one job across the whole network."""
    from dataclasses import asdict

    from suanli.network.jobs import job_from_fields
    from suanli.network.quote import quote
    from suanli.units import format_duration, format_usd

    the_job = job_from_fields(locals())
    f = _filters(provider, country, hardware, site, kind, not no_spot, max_price, carbon_cap,
                 include_examples)
    with _busy(as_json, "pricing the job on every site (perf model per hardware type)..."):
        offers = quote(_net(), the_job, filters=f, rank=rank, top=top)
    if as_json:
        from suanli.cli.common import print_json

        print_json({"job": the_job.model_dump(), "rank": rank,
                    "offers": [asdict(o) for o in offers]})
        return
    train = the_job.kind == "train"
    rows = [[i + 1, o.site + (" (example)" if o.example_site else ""),
             _compact_plan(o.plan) + (" spot" if o.spot else "") + f" ({o.capability})",
             f"{o.usd_per_device_hour:.2f}",
             f"{o.total_s / 86_400:.1f}" if train else f"{o.transfer_s * 1e3:.0f} ms RTT",
             format_duration(o.transfer_s) if train else "",
             format_usd(o.cost_usd), f"{o.energy_kwh / 1e3:,.1f}",
             "?" if o.co2_kg is None else f"{o.co2_kg / 1e3:,.1f}"]
            for i, o in enumerate(offers)]
    _table(f"offers for {the_job.id} ({the_job.model}), ranked by {rank}",
           ["#", "site", "offer", "$/dev-h", "days" if train else "latency", "transfer",
            "cost", "MWh", "t CO2"],
           rows, "; ".join(x for x in (
               "(measured): priced from the site's `suanli bench` figures, (declared): from "
               "catalog peaks x fitted efficiency",
               "" if train else f"cost covers {getattr(the_job, 'hours', hours):g} h of service"
                                " on whole rented machines",
               _EXAMPLE_NOTE if any(o.example_site for o in offers) else "") if x))


@app.command("map")
def map_cmd(out: str = typer.Option("network-map.png", "--out", help=".png or .svg"),
            site_file: list[str] = _EXTRA) -> None:
    """Draw the sites on a longitude/latitude map."""
    from suanli.network.charts import site_map

    typer.echo(f"wrote {site_map(_net(site_file), out)}")


from suanli.cli import net_place, net_studies  # noqa: E402, F401  (register `net place`,
# `net east-west` and `net cross-site` on this app)
