"""``suanli infer claims``: check cost claims with the user's own numbers (tokens, latencies,
models, hardware, baseline and optimized settings, utilizations, price). Heavy imports happen
inside the command."""

from __future__ import annotations

from typing import Annotated

import typer

from suanli.cli.common import console, print_json, require_positive

Json = Annotated[bool, typer.Option("--json", help="print one JSON object")]
Price = Annotated[str | None, typer.Option("--price",
                                           help="$ per device-hour, e.g. 2.5 or '$2.5/h'")]


def claims(
    api_usd_per_1k: Annotated[float, typer.Option(help="API price, $ per 1k tokens")] = 0.05,
    tokens: Annotated[int, typer.Option(help="your generated tokens per request")] = 200,
    slow: Annotated[float, typer.Option(help="your baseline latency, s")] = 5.0,
    fast: Annotated[float, typer.Option(help="your optimized latency, s")] = 3.0,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="models for the model check and the API table (repeat)")] = None,
    hardware: Annotated[list[str] | None, typer.Option(
        "--hardware", "-H", help="hardware for the model check and the API table (repeat)")]
    = None,
    prompt_len: Annotated[int, typer.Option(help="input tokens per request")] = 100,
    baseline_precision: Annotated[str, typer.Option(help="baseline setting")] = "fp16",
    precision: Annotated[str, typer.Option(help="optimized setting")] = "fp8",
    batch: Annotated[int, typer.Option(help="batch of the model check")] = 1,
    tp: Annotated[int | None, typer.Option(help="TP of the model check (default: the fewest "
                                                "devices that hold the model)")] = None,
    tpot_slo: Annotated[float, typer.Option(help="TPOT limit of the API table, s")] = 0.1,
    utilization: Annotated[list[float] | None, typer.Option(
        help="utilizations of the API table (repeat; default 1, 0.5, 0.1)")] = None,
    price_text: Price = None,
    csv: Annotated[str | None, typer.Option("--csv", help="write the API table as CSV "
                                                          "(- for stdout)")] = None,
    as_json: Json = False,
) -> None:
    """Check cost claims with your numbers: latency vs cost (your tokens and latencies, then
    the model's baseline vs optimized setting), and an API price vs self-hosting."""
    from suanli.infer.claims import api_vs_selfhosted, latency_cost_claim, usd_per_token
    from suanli.units import parse_price

    for flag, v in (("--api-usd-per-1k", api_usd_per_1k), ("--tokens", tokens),
                    ("--slow", slow), ("--fast", fast), ("--prompt-len", prompt_len),
                    ("--batch", batch), ("--tpot-slo", tpot_slo)):
        require_positive(v, flag)
    utils = tuple(utilization or (1.0, 0.5, 0.1))
    if any(not 0 < u <= 1 for u in utils):
        from suanli.errors import InputError

        raise InputError(f"--utilization takes values in (0, 1], got {list(utils)}")
    models = tuple(model or ("llama2-7b", "llama2-70b"))
    hws = tuple(hardware or ("dgx-a100-80gb", "dgx-h100"))
    lat = latency_cost_claim(models[0], hws[-1], output_len=tokens, prompt_len=prompt_len,
                             baseline_precision=baseline_precision, precision=precision,
                             batch=batch, tp=tp)
    rows = api_vs_selfhosted(api_usd_per_1k, models=models, hardware=hws,
                             output_len=tokens, prompt_len=prompt_len, tpot_slo_s=tpot_slo,
                             utilizations=utils,
                             price_usd_per_device_hour=parse_price(price_text) if price_text
                             else None)
    identity = usd_per_token(fast, tokens, 1, 1.0) / usd_per_token(slow, tokens, 1, 1.0)
    if csv:
        from suanli.report.export import write_csv

        write_csv([r.__dict__ for r in rows], csv)
        if csv == "-":
            return
    if as_json:
        print_json({"latency_claim": lat, "fast_vs_slow_cost_ratio": identity,
                    "your_numbers": {"tokens": tokens, "slow_s": slow, "fast_s": fast},
                    "api_vs_selfhosted": rows})
        return
    console().print(f"{tokens} tokens in {fast:g} s vs {slow:g} s at the same price and devices:"
                    f" cost ratio {identity:.2f} ({1 - identity:.0%} less). Model check "
                    f"({models[0]}, {hws[-1]}, batch {batch}, {baseline_precision} -> "
                    f"{precision}): {lat.slow_s:.2f} s -> {lat.fast_s:.2f} s, cost ratio "
                    f"{lat.cost_ratio:.3f} = time ratio")
    from rich.table import Table

    t = Table(title=f"self-hosted vs an API at ${api_usd_per_1k}/1k tokens "
                    f"({'given price' if price_text else 'list prices'})")
    for col in ("model", "hardware", "tp", "batch", "utilization", "$/1k out", "orders below"):
        t.add_column(col)
    for r in rows:
        t.add_row(r.model, r.hardware, str(r.tp), str(r.batch), f"{r.utilization:.0%}",
                  f"{r.usd_per_1k_tokens:.3g}", f"{r.orders_of_magnitude_below_api:.2f}")
    console().print(t)
