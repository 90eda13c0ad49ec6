"""``suanli infer``: serving estimates, capacity plans, trace simulation, the cost waterfall
and the validation against published runs. Heavy imports happen inside the commands."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from suanli.cli.common import console, print_json, require_positive

app = typer.Typer(help="Inference serving: TTFT/TPOT, tokens/s, $ per token, capacity, "
                       "simulation, cost waterfall.", no_args_is_help=True)

Model = Annotated[str, typer.Option("--model", "-m", help="catalog id/name, or a HF config.json")]
Hardware = Annotated[str, typer.Option("--hardware", "-H", help="system or accelerator name")]
Price = Annotated[str | None, typer.Option("--price",
                                           help="$ per device-hour, e.g. 2.5 or '$2.5/h'")]
Precision = Annotated[str, typer.Option(help="bf16, fp16, fp8, fp8-kv16, w8a8, w8a16, w4a16")]
Json = Annotated[bool, typer.Option("--json", help="print one JSON object")]
Plot = Annotated[str | None, typer.Option("--plot", help="write a chart (.png or .svg)")]
# expert-parallel / multi-node / disaggregated serving (docs/inference.md "MoE and wide EP")
Ep = Annotated[int, typer.Option("--ep", help="expert-parallel ways (MoE; divides the ranks)")]
AttnDp = Annotated[bool, typer.Option("--attn-dp", help="attention, dense layers and shared "
                                                        "experts data-parallel over the ranks")]
Nodes = Annotated[int | None, typer.Option("--nodes", help="nodes per replica (sets the ranks; "
                                                           "with --attn-dp, ep = all ranks)")]
Disagg = Annotated[str | None, typer.Option("--disagg", help="separate prefill/decode pools, "
                                                             "nodes per unit, e.g. 4P:18D")]
PerUser = Annotated[float | None, typer.Option("--tokens-per-user",
                                               help="per-user decode speed target, tokens/s")]
PrefixHit = Annotated[float, typer.Option("--prefix-hit", help="share of prompt tokens served "
                                                               "from a prefix cache, [0, 1)")]


def _seconds(x: float | None, flag: str) -> float | None:
    require_positive(x, flag)
    return x


def _price(text: str | None) -> float | None:
    from suanli.units import parse_price

    return parse_price(text) if text else None


def _table(title: str, rows: list[tuple[str, Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, show_header=False)
    for k, v in rows:
        t.add_row(k, v if isinstance(v, str) else f"{v:,.4g}")
    console().print(t)


@app.command()
def estimate(
    model: Model,
    hardware: Hardware = "H100",
    prompt_len: Annotated[int, typer.Option(help="input tokens per request")] = 1024,
    output_len: Annotated[int, typer.Option(help="generated tokens per request")] = 256,
    batch: Annotated[int | None, typer.Option(help="sequences in flight (default: the largest "
                                                    "batch meeting --ttft-slo/--tpot-slo; the "
                                                    "KV-cache maximum is shown beside it)")]
    = None,
    ttft_slo: Annotated[float, typer.Option(help="TTFT limit for the default batch, s")] = 2.0,
    tpot_slo: Annotated[float, typer.Option(help="TPOT limit for the default batch, s")] = 0.1,
    tp: int = 1, pp: int = 1, ep: Ep = 1,
    precision: Precision = "bf16",
    kv: Annotated[str | None, typer.Option(help="KV-cache dtype: bf16, fp8, int8")] = None,
    sparsity: Annotated[str, typer.Option(help="none, 2:4, unstructured50")] = "none",
    attn_dp: AttnDp = False,
    nodes: Nodes = None,
    disagg: Disagg = None,
    tokens_per_user: PerUser = None,
    prefix_hit: PrefixHit = 0.0,
    kv_mem_fraction: float = 0.9,
    price_text: Price = None,
    as_json: Json = False,
    plot: Plot = None,
) -> None:
    """TTFT, TPOT, tokens/s, memory, $ per million tokens for one deployment."""
    from suanli.infer.curves import best_under_slo, plot_curve, sweep
    from suanli.infer.estimate import deployment
    from suanli.infer.estimate import estimate as run_estimate

    price = _price(price_text)
    for flag, v in (("--prompt-len", prompt_len), ("--output-len", output_len),
                    ("--batch", batch), ("--price", price),
                    ("--tokens-per-user", tokens_per_user)):
        require_positive(v, flag)
    if disagg:
        from suanli.cli.infer_disagg import disagg_report

        disagg_report(model, hardware, disagg, precision=precision, kv=kv, attn_dp=attn_dp,
                       prompt_len=prompt_len, output_len=output_len, prefix_hit=prefix_hit,
                       tokens_per_user=tokens_per_user, price=price, as_json=as_json)
        return
    dep = deployment(model, hardware, tp=tp, pp=pp, ep=ep, precision=precision, kv=kv,
                     sparsity=sparsity, kv_mem_fraction=kv_mem_fraction, attn_dp=attn_dp,
                     nodes=nodes, prefix_hit=prefix_hit)
    basis, kv_max = "given (--batch)", None
    if tokens_per_user is not None and batch is None:
        from suanli.infer.curves import best_under_slo

        per_user = best_under_slo(dep, prompt_len=prompt_len, output_len=output_len,
                                  tpot_slo_s=1.0 / tokens_per_user,
                                  price_usd_per_device_hour=price, max_batch=512 * dep.devices)
        if per_user is None:
            from suanli.errors import InfeasibleError

            raise InfeasibleError(f"no batch of {dep.model.id} ({dep.layout()}) decodes at "
                                  f"{tokens_per_user:g} tokens/s per user",
                                  fixes=["lower --tokens-per-user", "more --tp / --nodes",
                                         "--precision fp8"])
        e = per_user
        basis = f"largest batch decoding at >= {tokens_per_user:g} tokens/s per user"
    else:
        e = run_estimate(dep, prompt_len=prompt_len, output_len=output_len, batch=batch,
                         price_usd_per_device_hour=price)
    if batch is None and tokens_per_user is None:
        from suanli.infer.curves import best_under_slo

        _seconds(ttft_slo, "--ttft-slo")
        _seconds(tpot_slo, "--tpot-slo")
        kv_max = e  # the estimate at as many sequences as the KV cache holds
        best = best_under_slo(dep, prompt_len=prompt_len, output_len=output_len,
                              ttft_slo_s=ttft_slo, tpot_slo_s=tpot_slo,
                              price_usd_per_device_hour=price) if e.fits else None
        limits = f"TTFT <= {ttft_slo:g} s and TPOT <= {tpot_slo:g} s (continuous batching)"
        e = best or kv_max
        basis = f"largest batch meeting {limits}" if best else \
            f"KV-cache maximum: no batch meets {limits}"
    if plot:
        plot_curve(sweep(dep, prompt_len=prompt_len, output_len=output_len,
                         price_usd_per_device_hour=price), plot,
                   title=f"{e.model} on {e.tp}x {e.accelerator} {e.precision}, "
                         f"{prompt_len}/{output_len} tokens")
    if as_json:
        from suanli.jsonable import to_jsonable

        print_json({**to_jsonable(e), "batch_basis": basis,
                    "kv_max_point": None if kv_max is None else {
                        k: getattr(kv_max, k) for k in (
                            "batch", "ttft_continuous_s", "tpot_continuous_s",
                            "output_tokens_per_s", "usd_per_million_output_tokens")}})
        return
    from suanli.units import format_money

    usd = "n/a (no price)" if e.usd_per_million_output_tokens is None else \
        f"{format_money(e.usd_per_million_input_tokens or 0.0)} in / " \
        f"{format_money(e.usd_per_million_output_tokens)} out"
    _table(f"{e.model} on {e.devices_per_replica}x {e.accelerator} ({e.precision}, "
           f"{dep.layout()}), batch {e.batch}", [
               ("batch", f"{e.batch:,}: {basis}"),
               *([] if kv_max is None or kv_max.batch == e.batch else [
                   ("KV-cache maximum (beside it)",
                    f"batch {kv_max.batch:,}: TTFT {1e3 * kv_max.ttft_continuous_s:,.0f} ms, "
                    f"TPOT {1e3 * kv_max.tpot_continuous_s:,.1f} ms, "
                    f"{kv_max.output_tokens_per_s:,.0f} output tok/s")]),
               ("TTFT (batch prefill)", f"{1e3 * e.ttft_s:,.1f} ms"),
               ("TPOT (per token after the first)", f"{1e3 * e.tpot_s:,.2f} ms"),
               ("end-to-end latency", f"{e.e2e_s:,.2f} s"),
               ("TTFT / TPOT, continuous batching", f"{1e3 * e.ttft_continuous_s:,.1f} ms / "
                                                    f"{1e3 * e.tpot_continuous_s:,.2f} ms"),
               ("output tokens/s (replica / device)",
                f"{e.output_tokens_per_s:,.0f} / {e.output_tokens_per_s_per_device:,.0f}"),
               ("total tokens/s (replica / device)",
                f"{e.total_tokens_per_s:,.0f} / {e.total_tokens_per_s_per_device:,.0f}"),
               ("max concurrent sequences", f"{e.max_concurrent_seqs:,}"),
               ("memory per device", f"{e.memory_per_device_gb:.1f} GB of "
                                     f"{e.memory['capacity_gb']:.0f} (weights "
                                     f"{e.memory['weights_gb']:.1f}, KV "
                                     f"{e.memory['kv_cache_gb']:.1f})"),
               ("fits", str(e.fits)),
               ("$ per million tokens", usd),
               ("energy per 1k output tokens", f"{1e3 * e.energy_kwh_per_1k_output_tokens:.3f} Wh"),
           ])
    from rich.table import Table

    t = Table(title="decode step: per-op roofline (per replica)")
    for col in ("op", "time ms", "FLOP/B", "bound"):
        t.add_column(col)
    for r in e.breakdown["decode_step"]:
        inten = r["intensity_flop_per_byte"]
        t.add_row(r["op"], f"{1e3 * r['time_s']:.3f}", "-" if inten is None else f"{inten:.1f}",
                  r["bound"])
    console().print(t)
    for n in e.notes:
        console().print(f"[yellow]note:[/yellow] {n}")


@app.command()
def curve(
    model: Model,
    hardware: Hardware = "H100",
    prompt_len: int = 1024, output_len: int = 256,
    tp: int = 1, pp: int = 1, ep: Ep = 1,
    precision: Precision = "bf16",
    kv: Annotated[str | None, typer.Option(help="KV-cache dtype: bf16, fp8, int8")] = None,
    attn_dp: AttnDp = False,
    nodes: Nodes = None,
    disagg: Disagg = None,
    tokens_per_user: PerUser = None,
    prefix_hit: PrefixHit = 0.0,
    ttft_slo: Annotated[float | None, typer.Option(help="TTFT limit, s")] = None,
    tpot_slo: Annotated[float | None, typer.Option(help="TPOT limit, s")] = None,
    price_text: Price = None,
    as_json: Json = False,
    plot: Plot = None,
) -> None:
    """Throughput-latency curve over batch sizes, max-load point, best point under the SLOs.
    With --disagg: the decode pool's throughput per node over per-user speed targets."""
    from suanli.infer.curves import best_under_slo, max_load, plot_curve, sweep
    from suanli.infer.estimate import deployment

    price = _price(price_text)
    for flag, v in (("--ttft-slo", ttft_slo), ("--tpot-slo", tpot_slo), ("--price", price),
                    ("--tokens-per-user", tokens_per_user)):
        require_positive(v, flag)
    if disagg:
        from suanli.cli.infer_disagg import disagg_curve

        disagg_curve(model, hardware, disagg, precision=precision, kv=kv, attn_dp=attn_dp,
                      prompt_len=prompt_len, output_len=output_len, as_json=as_json)
        return
    if tokens_per_user is not None:
        tpot_slo = min(tpot_slo or math.inf, 1.0 / tokens_per_user)
    dep = deployment(model, hardware, tp=tp, pp=pp, ep=ep, precision=precision, kv=kv,
                     attn_dp=attn_dp, nodes=nodes, prefix_hit=prefix_hit)
    mb = 512 * dep.devices if dep.attn_dp else 4096
    pts = sweep(dep, prompt_len=prompt_len, output_len=output_len,
                price_usd_per_device_hour=price, max_batch=mb)
    top = max_load(dep, prompt_len=prompt_len, output_len=output_len,
                   price_usd_per_device_hour=price, max_batch=mb)
    best = best_under_slo(dep, prompt_len=prompt_len, output_len=output_len,
                          ttft_slo_s=ttft_slo, tpot_slo_s=tpot_slo,
                          price_usd_per_device_hour=price, max_batch=mb)
    if plot:
        plot_curve(pts, plot, title=f"{dep.model.id} on {dep.devices}x {dep.accelerator.id} "
                                    f"{dep.compression.name}, {prompt_len}/{output_len}")
    keys = ("batch", "ttft_continuous_s", "tpot_continuous_s", "output_tokens_per_s",
            "output_tokens_per_s_per_device", "usd_per_million_output_tokens", "fits")

    def row(e: Any) -> dict[str, Any]:
        return {k: getattr(e, k) for k in keys}

    if as_json:
        print_json({"points": [row(e) for e in pts], "max_load": row(top),
                    "best_under_slo": None if best is None else row(best)})
        return
    from rich.table import Table

    t = Table(title=f"{dep.model.id} on {dep.devices}x {dep.accelerator.id} "
                    f"({dep.compression.name}, {dep.layout()}), {prompt_len}/{output_len} "
                    "tokens, continuous batching")
    for col in ("batch", "TTFT ms", "TPOT ms", "out tok/s", "per device", "$/M out"):
        t.add_column(col)
    for e in pts:
        usd = e.usd_per_million_output_tokens
        t.add_row(str(e.batch), f"{1e3 * e.ttft_continuous_s:,.1f}",
                  f"{1e3 * e.tpot_continuous_s:,.2f}", f"{e.output_tokens_per_s:,.0f}",
                  f"{e.output_tokens_per_s_per_device:,.0f}", "-" if usd is None else f"{usd:.3f}")
    console().print(t)
    console().print(f"max-load: batch {top.batch}, {top.output_tokens_per_s:,.0f} output tok/s")
    if best is None:
        console().print("[yellow]no batch meets the limits[/yellow]")
    else:
        console().print(f"best under limits: batch {best.batch}, "
                        f"{best.output_tokens_per_s:,.0f} output tok/s, TTFT "
                        f"{1e3 * best.ttft_continuous_s:.0f} ms, TPOT "
                        f"{1e3 * best.tpot_continuous_s:.1f} ms")


@app.command()
def plan(
    model: Model,
    rps: Annotated[float | None, typer.Option(help="requests per second")] = None,
    tokens_per_day: Annotated[str | None, typer.Option(help="prompt+output tokens/day, "
                                                            "e.g. 10B")] = None,
    trace: Annotated[str | None, typer.Option(help="Azure LLM trace CSV to serve")] = None,
    rate_scale: Annotated[float, typer.Option(help="trace time compression (x load)")] = 1.0,
    prompt_len: int = 1024, output_len: int = 256,
    hardware: Annotated[list[str] | None, typer.Option("--hardware", "-H",
                                                       help="candidates (repeat)")] = None,
    precision: Annotated[list[str] | None, typer.Option(
        help="candidates (repeat; default: what each chip runs well, e.g. bf16 + int8 on "
             "A100, bf16 + fp8 on H100)")] = None,
    sparsity: Annotated[str, typer.Option(help="none, 2:4, unstructured50")] = "none",
    ttft_slo: Annotated[float, typer.Option(help="p99 TTFT limit, s")] = 2.0,
    tpot_slo: Annotated[float, typer.Option(help="p99 TPOT limit, s")] = 0.1,
    verify: Annotated[int, typer.Option(help="candidates to check by simulation")] = 4,
    duration: Annotated[float, typer.Option(help="simulated seconds (synthetic traffic)")] = 300,
    sample: Annotated[int, typer.Option(help="requests per verifying simulation (bounds time "
                                             "and memory at any traffic)")] = 4000,
    tp: Annotated[int | None, typer.Option(help="fix the TP degree")] = None,
    ep: Ep = 1,
    attn_dp: AttnDp = False,
    nodes: Nodes = None,
    disagg: Disagg = None,
    tokens_per_user: PerUser = None,
    prefix_hit: PrefixHit = 0.0,
    price_text: Price = None,
    top: int = 5,
    csv: Annotated[str | None, typer.Option("--csv", help="write the options as CSV "
                                                          "(- for stdout)")] = None,
    as_json: Json = False,
) -> None:
    """Cheapest hardware, precision, layout (TP; EP and attention-DP over nodes for MoE) and
    replicas meeting p99 TTFT/TPOT for a traffic, with the cost per hour and per day."""
    from suanli.errors import InputError
    from suanli.infer import capacity as cap
    from suanli.report.progress import delayed_progress
    from suanli.units import parse_count

    given = sum(x is not None for x in (rps, tokens_per_day, trace))
    if given != 1:
        raise InputError("give exactly one of --rps, --tokens-per-day or --trace")
    _seconds(ttft_slo, "--ttft-slo")
    _seconds(tpot_slo, "--tpot-slo")
    price = _price(price_text)
    require_positive(price, "--price")
    require_positive(tokens_per_user, "--tokens-per-user")
    if tokens_per_user is not None:
        tpot_slo = min(tpot_slo, 1.0 / tokens_per_user)
    if trace:
        traffic = cap.traffic_from_trace(trace, rate_scale)
    elif rps is not None:
        traffic = cap.traffic_from_rate(rps, prompt_len, output_len)
    else:
        traffic = cap.traffic_from_tokens_per_day(parse_count(str(tokens_per_day)), prompt_len,
                                                  output_len)
    hw = hardware or cap.default_hardware()
    if disagg:
        from suanli.cli.infer_disagg import disagg_plan

        disagg_plan(model, hw[0], disagg, traffic, precision=(precision or ["fp8"])[0],
                    attn_dp=attn_dp, prefix_hit=prefix_hit, tokens_per_user=tokens_per_user,
                    price=price, as_json=as_json)
        return
    fixed: dict[str, Any] | None = None
    if tp is not None or ep > 1 or attn_dp or nodes is not None:
        fixed = {k: v for k, v in (("tp", tp), ("ep", ep if ep > 1 else None),
                                   ("attn_dp", attn_dp or None), ("nodes", nodes))
                 if v is not None}
    with delayed_progress("verifying by simulation") as progress:
        opts = cap.plan_capacity(model, traffic, hardware=hw,
                                 precisions=tuple(precision) if precision else None,
                                 sparsity=sparsity, ttft_p99_slo_s=ttft_slo,
                                 tpot_p99_slo_s=tpot_slo, verify=verify, duration_s=duration,
                                 sample=sample, progress=progress,
                                 prices={h: price for h in hw} if price else None,
                                 layout=fixed, prefix_hit=prefix_hit)
    shown = cap.best_per_hardware(opts, top)
    if csv:
        from suanli.report.export import write_csv
        from suanli.report.infer_tables import option_row

        write_csv([option_row(o) for o in shown], csv)
        if csv == "-":
            return
    if as_json:
        print_json({"traffic": {"source": traffic.source,
                                "requests_per_s": traffic.requests_per_s,
                                "mean_prompt": traffic.mean_prompt,
                                "mean_output": traffic.mean_output},
                    "best": opts[0], "options": shown})
        return
    from suanli.report.infer_tables import print_plan_options

    print_plan_options(shown, f"{model}: {traffic.source}; p99 TTFT <= {ttft_slo} s, TPOT <= "
                              f"{tpot_slo} s")


@app.command()
def simulate(
    model: Model,
    trace: Annotated[str, typer.Option(help="Azure LLM inference trace CSV")],
    hardware: Hardware = "H100",
    tp: int = 1,
    precision: Precision = "bf16",
    replicas: int = 1,
    max_batch: Annotated[int, typer.Option(help="max sequences per replica")] = 256,
    chunk_tokens: Annotated[int, typer.Option(help="tokens per step (chunked prefill)")] = 2048,
    rate_scale: Annotated[float, typer.Option(help="compress trace time by this factor")] = 1.0,
    limit: Annotated[int | None, typer.Option(help="first N requests only")] = None,
    as_json: Json = False,
) -> None:
    """Replay a request trace with continuous batching; TTFT/TPOT percentiles, utilization."""
    from suanli.infer.estimate import deployment
    from suanli.infer.simulate import simulate as run_sim
    from suanli.infer.trace import load_azure_trace

    reqs = load_azure_trace(trace, limit=limit, rate_scale=rate_scale)
    dep = deployment(model, hardware, tp=tp, precision=precision)
    res = run_sim(dep, reqs, replicas=replicas, max_batch=max_batch, chunk_tokens=chunk_tokens)
    if as_json:
        print_json({"model": dep.model.id, "system": dep.system.id, "tp": tp,
                    "precision": dep.compression.name, "replicas": replicas, **res.summary})
        return
    _table(f"{dep.model.id} on {replicas} x {tp} {dep.accelerator.id} ({dep.compression.name})"
           f": {len(reqs):,} requests", list(res.summary.items()))


@app.command()
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


@app.command()
def validate(
    fit: Annotated[bool, typer.Option(help="refit the efficiency file and the stored "
                                           "leave-one-publication-out errors (minutes)")] = False,
    loo: Annotated[bool, typer.Option(help="recompute leave-one-publication-out now (slow)")
                   ] = False,
    as_json: Json = False,
) -> None:
    """Compare the model with the published inference runs. Headline: leave-one-publication-out
    errors (each publication predicted by parameters fitted without it), beside in-sample."""
    from suanli.infer import validate as v

    if fit:
        v.write_efficiency(v.fit_efficiency())
        from suanli.infer.efficiency import _table as eff_cache

        eff_cache.cache_clear()
        v.write_lopo(v.leave_one_publication_out())
    rows = v.validate_inference()
    summ = v.summary(rows)
    lopo = v.leave_one_publication_out() if loo else v.stored_lopo()
    lopo_map = dict(lopo or [])
    lopo_summ = v.summary_of(list(lopo_map.values())) if lopo_map else None
    if as_json:
        print_json({"rows": rows, "summary": summ, "leave_one_publication_out": lopo or [],
                    "lopo_summary": lopo_summ, "lopo_current": lopo is not None})
        return
    from rich.table import Table

    t = Table(title="inference validation (error = predicted / published - 1)")
    for col in ("id", "metric", "published", "predicted", "in-sample", "LOPO", "used",
                "normalization"):
        t.add_column(col)
    for r in rows:
        lo = lopo_map.get(r.id)
        t.add_row(r.id, r.metric, f"{r.published:,.4g} {r.unit}",
                  "-" if r.predicted is None else f"{r.predicted:,.4g}",
                  "-" if r.error is None else f"{100 * r.error:+.0f}%",
                  "-" if lo is None else f"{100 * lo:+.0f}%",
                  "yes" if r.included else "no", r.normalization)
    console().print(t)
    if lopo_summ is None:
        console().print("[yellow]leave-one-publication-out: stored errors are stale (the rows, "
                        "parameters or model changed); run `suanli infer validate --fit` or "
                        "--loo[/yellow]")
    else:
        console().print(f"[bold]leave-one-publication-out[/bold] ({lopo_summ['rows']:.0f} rows): "
                        f"median |error| {100 * lopo_summ['median_abs_error']:.1f}%, max "
                        f"{100 * lopo_summ['max_abs_error']:.1f}%, within 20%: "
                        f"{100 * lopo_summ['share_within_20pct']:.0f}% of rows")
    console().print(f"in-sample ({summ['rows']:.0f} rows): median |error| "
                    f"{100 * summ['median_abs_error']:.1f}%, max "
                    f"{100 * summ['max_abs_error']:.1f}%")


def _register_questions() -> None:
    from suanli.cli.infer_claims import claims  # light: typer only
    from suanli.cli.infer_compare import compare

    app.command("compare")(compare)
    app.command("claims")(claims)


_register_questions()
