"""``suanli infer``: serving estimates, capacity plans, trace simulation, the cost waterfall
and the validation against published runs. Heavy imports happen inside the commands."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from suanli.cli.common import console, print_json, require_positive
from suanli.cli.infer_options import (
    AttnDp,
    Disagg,
    Ep,
    Hardware,
    Json,
    Model,
    Nodes,
    PerUser,
    Plot,
    Precision,
    PrefixHit,
    Price,
    Stack,
    check_stack,
    kv_table,
    price_arg,
    seconds_arg,
)

app = typer.Typer(help="Inference serving: TTFT/TPOT, tokens/s, $ per token, capacity, "
                       "simulation, cost waterfall.", no_args_is_help=True)



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
    stack: Stack = None,
    kv_mem_fraction: float = 0.9,
    price_text: Price = None,
    as_json: Json = False,
    plot: Plot = None,
) -> None:
    """TTFT, TPOT, tokens/s, memory, $ per million tokens for one deployment."""
    from suanli.infer.curves import best_under_slo, plot_curve, sweep
    from suanli.infer.estimate import deployment
    from suanli.infer.estimate import estimate as run_estimate

    st = check_stack(stack)
    price = price_arg(price_text)
    for flag, v in (("--prompt-len", prompt_len), ("--output-len", output_len),
                    ("--batch", batch), ("--price", price),
                    ("--tokens-per-user", tokens_per_user)):
        require_positive(v, flag)
    if disagg:
        from suanli.cli.infer_disagg import disagg_report

        disagg_report(model, hardware, disagg, precision=precision, kv=kv, attn_dp=attn_dp,
                       prompt_len=prompt_len, output_len=output_len, prefix_hit=prefix_hit,
                       tokens_per_user=tokens_per_user, price=price, as_json=as_json,
                       stack=st)
        return
    dep = deployment(model, hardware, tp=tp, pp=pp, ep=ep, precision=precision, kv=kv,
                     sparsity=sparsity, kv_mem_fraction=kv_mem_fraction, attn_dp=attn_dp,
                     nodes=nodes, prefix_hit=prefix_hit, stack=st)
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

        seconds_arg(ttft_slo, "--ttft-slo")
        seconds_arg(tpot_slo, "--tpot-slo")
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
    kv_table(f"{e.model} on {e.devices_per_replica}x {e.accelerator} ({e.precision}, "
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
    stack: Stack = None,
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

    st = check_stack(stack)
    price = price_arg(price_text)
    for flag, v in (("--ttft-slo", ttft_slo), ("--tpot-slo", tpot_slo), ("--price", price),
                    ("--tokens-per-user", tokens_per_user)):
        require_positive(v, flag)
    if disagg:
        from suanli.cli.infer_disagg import disagg_curve

        disagg_curve(model, hardware, disagg, precision=precision, kv=kv, attn_dp=attn_dp,
                      prompt_len=prompt_len, output_len=output_len, as_json=as_json,
                      stack=st)
        return
    if tokens_per_user is not None:
        tpot_slo = min(tpot_slo or math.inf, 1.0 / tokens_per_user)
    dep = deployment(model, hardware, tp=tp, pp=pp, ep=ep, precision=precision, kv=kv,
                     attn_dp=attn_dp, nodes=nodes, prefix_hit=prefix_hit, stack=st)
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
    stack: Stack = None,
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
    seconds_arg(ttft_slo, "--ttft-slo")
    seconds_arg(tpot_slo, "--tpot-slo")
    st = check_stack(stack)
    price = price_arg(price_text)
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
                    price=price, as_json=as_json, stack=st)
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
                                 layout=fixed, prefix_hit=prefix_hit, stack=st)
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


def _register_questions() -> None:
    from suanli.cli.infer_claims import claims  # light: typer only
    from suanli.cli.infer_compare import compare
    from suanli.cli.infer_simulate import simulate
    from suanli.cli.infer_validate import validate
    from suanli.cli.infer_waterfall import waterfall

    app.command("simulate")(simulate)
    app.command("waterfall")(waterfall)
    app.command("validate")(validate)
    app.command("compare")(compare)
    app.command("claims")(claims)


_register_questions()
