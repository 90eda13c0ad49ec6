"""``suanli infer waterfall``: cost per million tokens from a naive baseline to an optimized
deployment, layer by layer. Kept apart from ``cli/infer.py`` so the command module stays
short; heavy imports happen inside the command."""

from __future__ import annotations

from typing import Annotated

import typer

from suanli.cli.common import console, print_json
from suanli.cli.infer_options import Hardware, Json, Model, Plot, Precision


def waterfall(
    model: Model,
    prompt_len: int = 1024, output_len: int = 256,
    baseline_hardware: str = "dgx-a100-80gb",
    hardware: Hardware = "dgx-h100",
    precision: Precision = "fp8",
    sparsity: str = "none",
    quality_loss: Annotated[str | None, typer.Option(help="your measured quality loss, "
                                                          "carried into the table")] = None,
    ttft_slo: float = 2.0, tpot_slo: float = 0.1,
    utilization_baseline: float = 0.25, utilization: float = 0.75,
    site_price: Annotated[str | None, typer.Option(help="$ per device-hour at the site, or "
                                                        "'market' (cheapest in the shared "
                                                        "SkyPilot snapshot)")] = None,
    electricity: Annotated[float, typer.Option(help="$ per kWh if the site price excludes "
                                                    "power")] = 0.0,
    pue: float = 1.0,
    csv: Annotated[str | None, typer.Option("--csv", help="write the steps as CSV "
                                                          "(- for stdout)")] = None,
    as_json: Json = False,
    plot: Plot = None,
) -> None:
    """Cost per million tokens from a naive baseline to an optimized deployment, per layer."""
    from suanli.errors import InputError
    from suanli.infer import waterfall as wf
    from suanli.infer.validate import shared_dir
    from suanli.units import format_money

    price: float | None = None
    note = ""
    if site_price == "market":
        from suanli.catalog import load_catalog

        cat = load_catalog()
        acc = cat.system(hardware).accelerator
        found = wf.cheapest_market_price(acc, shared_dir() / "data" / "catalogs" / "skypilot")
        if found is None:
            raise InputError(f"no market price for {acc} in the shared SkyPilot snapshot; "
                             "give --site-price as a number")
        price, note = found
    elif site_price is not None:
        from suanli.units import parse_price

        price = parse_price(site_price)
    w = wf.cost_waterfall(model, prompt_len=prompt_len, output_len=output_len,
                          baseline_hardware=baseline_hardware, hardware=hardware,
                          precision=precision, sparsity=sparsity, quality_loss=quality_loss,
                          ttft_slo_s=ttft_slo, tpot_slo_s=tpot_slo,
                          utilization_baseline=utilization_baseline, utilization=utilization,
                          site_price_usd_per_device_hour=price,
                          electricity_usd_per_kwh=electricity, pue=pue)
    if plot:
        wf.plot_waterfall(w, plot)
    if csv:
        from suanli.report.export import write_csv

        write_csv([s.__dict__ for s in w.steps], csv)
        if csv == "-":
            return
    if as_json:
        print_json({"model": w.model, "steps": w.steps, "total_factor": w.total_factor,
                    "per_layer_geomean": w.per_layer_geomean, "site_price_source": note})
        return
    from rich.table import Table

    t = Table(title=f"{model}: cost waterfall ({prompt_len}/{output_len} tokens)")
    for col in ("layer", "setting", "$/M out", "factor", "cumulative", "note"):
        t.add_column(col, overflow="fold", no_wrap=col in ("$/M out", "factor", "cumulative"))
    for s in w.steps:
        t.add_row(s.layer, s.setting, format_money(s.usd_per_million_output_tokens),
                  f"{s.factor:.2f}x", f"{s.cumulative:,.1f}x", s.note)
    console().print(t)
    console().print(f"total {w.total_factor:,.0f}x; geometric mean {w.per_layer_geomean:.2f}x "
                    f"per layer (the claim: ~10x per layer, 10,000x in total)")
