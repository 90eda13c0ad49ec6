"""``suanli infer estimate | curve | plan --disagg NP:MD``: separate prefill and decode pools
(``suanli.infer.disagg``), printed as tables or JSON. Kept apart from ``cli/infer.py`` so the
command module stays short; heavy imports happen inside the functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from suanli.cli.common import console, print_json
from suanli.cli.infer_options import kv_table

if TYPE_CHECKING:
    from suanli.infer.stacks import Stack as StackSpec


def pools(model: str, hardware: str, disagg: str, *, precision: str, kv: str | None,
           attn_dp: bool, stack: StackSpec | None = None) -> tuple[Any, Any]:
    from suanli.infer.disagg import parse_disagg
    from suanli.infer.estimate import deployment

    spec = parse_disagg(disagg)
    pre = deployment(model, hardware, precision=precision, kv=kv, attn_dp=attn_dp,
                     nodes=spec.prefill_nodes, stack=stack)
    dec = deployment(model, hardware, precision=precision, kv=kv, attn_dp=attn_dp,
                     nodes=spec.decode_nodes, stack=stack)
    return pre, dec


def disagg_report(model: str, hardware: str, disagg: str, *, precision: str, kv: str | None,
                   attn_dp: bool, prompt_len: int, output_len: int, prefix_hit: float,
                   tokens_per_user: float | None, price: float | None, as_json: bool,
                   stack: StackSpec | None = None) -> None:
    from suanli.infer.disagg import decode_rate, kv_transfer_s, prefill_rate
    from suanli.units import SECONDS_PER_HOUR

    pre, dec = pools(model, hardware, disagg, precision=precision, kv=kv, attn_dp=attn_dp,
                     stack=stack)
    p = prefill_rate(pre, prompt_len, prefix_hit)
    d = decode_rate(dec, prompt_len + output_len / 2, tokens_per_user=tokens_per_user)
    kvt = kv_transfer_s(pre, prompt_len)
    usd_in = usd_out = None
    if price is not None:
        per_node_s = price * pre.system.devices_per_node / SECONDS_PER_HOUR
        usd_in = per_node_s / p.input_tokens_per_s_per_node * 1e6
        usd_out = per_node_s / d.output_tokens_per_s_per_node * 1e6
    out = {"prefill_layout": pre.layout(), "decode_layout": dec.layout(),
           "prefill_input_tokens_per_s_per_node": p.input_tokens_per_s_per_node,
           "decode_output_tokens_per_s_per_node": d.output_tokens_per_s_per_node,
           "decode_batch": d.batch, "tokens_per_user_per_s": d.tokens_per_user_per_s,
           "ttft_s": p.step_s + kvt, "kv_transfer_s": kvt, "tpot_s": d.step_s,
           "usd_per_million_input_tokens": usd_in, "usd_per_million_output_tokens": usd_out}
    if as_json:
        print_json(out)
        return
    kv_table(f"{pre.model.id} on {pre.accelerator.id}, disaggregated {disagg}", [
        ("prefill unit", pre.layout()), ("decode unit", dec.layout()),
        ("prefill input tok/s per node", f"{p.input_tokens_per_s_per_node:,.0f}"),
        ("decode output tok/s per node", f"{d.output_tokens_per_s_per_node:,.0f}"),
        ("decode batch (unit) / speed per user", f"{d.batch:,} / "
                                                 f"{d.tokens_per_user_per_s:.1f} tok/s"),
        ("TTFT (one prefill step + KV transfer)", f"{1e3 * out['ttft_s']:,.0f} ms"),
        ("$ per million tokens", "n/a (no --price)" if usd_in is None else
         f"${usd_in:.3f} in / ${usd_out:.3f} out")])


def disagg_curve(model: str, hardware: str, disagg: str, *, precision: str, kv: str | None,
                  attn_dp: bool, prompt_len: int, output_len: int, as_json: bool,
                  stack: StackSpec | None = None) -> None:
    from suanli.errors import InfeasibleError
    from suanli.infer.disagg import decode_rate

    _, dec = pools(model, hardware, disagg, precision=precision, kv=kv, attn_dp=attn_dp,
                   stack=stack)
    pts = []
    for speed in (5.0, 10.0, 20.0, 30.0, 50.0, 80.0, 120.0):
        try:
            d = decode_rate(dec, prompt_len + output_len / 2, tokens_per_user=speed)
        except InfeasibleError:
            break
        pts.append({"tokens_per_user": speed, "batch": d.batch,
                    "output_tokens_per_s_per_node": d.output_tokens_per_s_per_node})
    if as_json:
        print_json({"decode_layout": dec.layout(), "points": pts})
        return
    from rich.table import Table

    t = Table(title=f"{dec.model.id} decode unit ({dec.layout()}): throughput vs speed per user")
    for col in ("tok/s per user", "batch", "out tok/s per node"):
        t.add_column(col)
    for r in pts:
        t.add_row(f"{r['tokens_per_user']:g}", f"{r['batch']:,}",
                  f"{r['output_tokens_per_s_per_node']:,.0f}")
    console().print(t)


def disagg_plan(model: str, hardware: str, disagg: str, traffic: Any, *, precision: str,
                 attn_dp: bool, prefix_hit: float, tokens_per_user: float | None,
                 price: float | None, as_json: bool, stack: StackSpec | None = None) -> None:
    from suanli.infer.disagg import size_pools
    from suanli.infer.estimate import price_of

    pre, dec = pools(model, hardware, disagg, precision=precision, kv=None, attn_dp=attn_dp,
                     stack=stack)
    plan = size_pools(pre, dec, prompt=round(traffic.mean_prompt),
                      output=max(1, round(traffic.mean_output)),
                      requests_per_s=traffic.requests_per_s, prefix_hit=prefix_hit,
                      tokens_per_user=tokens_per_user,
                      price_usd_per_device_hour=price_of(dec, price))
    if as_json:
        print_json({"traffic": traffic.source, "plan": plan})
        return
    usd = "n/a (no price: give --price)" if plan.usd_per_day is None else \
        f"${plan.usd_per_day:,.0f} per day"
    kv_table(f"{dec.model.id}: {traffic.source}, disaggregated {disagg}", [
        ("prefill units x nodes", f"{plan.prefill_units} x {pre.nodes} ({pre.layout()})"),
        ("decode units x nodes", f"{plan.decode_units} x {dec.nodes} ({dec.layout()})"),
        ("nodes", f"{plan.nodes:,}"),
        ("prefill input tok/s per node", f"{plan.prefill.input_tokens_per_s_per_node:,.0f}"),
        ("decode output tok/s per node", f"{plan.decode.output_tokens_per_s_per_node:,.0f}"),
        ("TTFT (no queueing) / TPOT", f"{1e3 * plan.ttft_s:,.0f} ms / "
                                      f"{1e3 * plan.tpot_s:,.1f} ms"),
        ("cost", usd)])
