"""Print ``suanli figures`` as Rich tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from suanli.report.console import console as _console
from suanli.units import format_count, format_number, format_usd


def print_figures(d: dict[str, Any]) -> None:
    con = _console()
    t = Table(title="training compute of two landmark runs", title_justify="left")
    for c in ("model", "tokens", "6ND FLOPs", "PF-days", "per-layer FLOPs", "quoted"):
        t.add_column(c)
    for r in d["run_flops"]:
        t.add_row(r["model"], format_count(r["tokens"]), f"{r['six_nd_flops']:.3g}",
                  format_number(r["six_nd_pf_days"]), f"{r['per_layer_flops']:.3g}", r["quoted"])
    con.print(t)
    t = Table(title="GPT-3 175B (300B tokens) on 1024 x A100 80GB", title_justify="left")
    for c in ("kernels", "days", "MFU", "TFLOP/s/GPU", "A100-hours"):
        t.add_column(c)
    for r in d["gpt3_on_a100"]:
        t.add_row(r["setting"], f"{r['days']:.1f}", f"{r['mfu']:.1%}",
                  f"{r['tflops_per_device']:.0f}", f"{r['device_hours']:,.0f}")
    con.print(t)
    con.print(f"[dim]quoted: {d['gpt3_on_a100'][0]['quoted']}[/]")
    ll = d["llama65b"]
    con.print(f"LLaMA-65B, 1.4T tokens on 2048 A100: {ll['device_hours']:,.0f} A100-hours "
              f"({ll['days']:.1f} days at {ll['mfu']:.0%} MFU, {ll['goodput']:.0%} goodput); "
              f"quoted {ll['quoted']}.")
    r = d["rental"]
    con.print(f"8 x A100 at {format_usd(r['node_usd_per_month'])}/month = "
              f"{format_usd(r['per_gpu_month'])} per GPU-month ({format_usd(r['per_gpu_hour'])}"
              f"/h): {r['fleet']:,} A100 cost {format_usd(r['fleet_usd_per_month'])}/month "
              f"(quoted {r['quoted']}).")
    limit = d["compute_optimal"][0]["max_days"]
    t = Table(title="compute-optimal training (20 tokens/parameter) on H100: cost ~ N^2 "
                    f"(cheapest device count finishing within {limit:g} days)",
              title_justify="left")
    for c in ("params", "tokens", "FLOPs", "H100s", "days", "H100-hours", "cost",
              "cost / N^2 (rel.)"):
        t.add_column(c)
    first = d["compute_optimal"][0]
    for row in d["compute_optimal"]:
        rel = (row["cost_usd"] / row["params"] ** 2) / (first["cost_usd"] / first["params"] ** 2)
        ratio = f"{rel:.2f}"
        late = f" [red](> {limit:g} even at the largest count)[/]"
        days = format_number(row["days"]) + ("" if row["within_max_days"] else late)
        t.add_row(format_count(row["params"]), format_count(row["tokens"]),
                  f"{row['flops']:.3g}", f"{row['devices']:,}", days,
                  format_count(row["device_hours"]), format_usd(row["cost_usd"]), ratio)
    con.print(t)
    t = Table(title="compute units", title_justify="left")
    t.add_column("unit")
    t.add_column("FLOP", justify="right")
    for u in d["units"]:
        t.add_row(u["unit"], f"{u['flop']:.3g}")
    con.print(t)
