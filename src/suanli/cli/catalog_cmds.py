"""Top-level catalog commands: ``suanli models``, ``suanli model NAME``, ``suanli hardware``.

Rows are built by pure functions (``model_row``, ``model_details``, ``accelerator_row``,
``system_row``) that the table and ``--json`` outputs share, so both always say the same.
Nothing heavy is imported at module level: ``suanli --help`` must stay instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from suanli.catalog import Accelerator, Catalog, ModelSpec, System

models_app = typer.Typer(help="Models in the catalog: list them, or `show NAME` for one.",
                         invoke_without_command=True)

_JSON = typer.Option(False, "--json", help="Print one JSON object instead of a table.")
_SEARCH = typer.Option(None, "--search", "-s", help="Keep rows whose id, name, aliases or "
                                                    "source contain TEXT (case-insensitive).")


def _catalog() -> Catalog:
    from suanli.catalog import load_catalog

    return load_catalog()


def _matches(text: str | None, *fields: str) -> bool:
    return not text or text.lower() in " ".join(fields).lower()


# --- rows: pure functions shared by the tables and --json ------------------------------------


def model_row(m: ModelSpec) -> dict[str, Any]:
    """One line of ``suanli models``: shapes plus the parameter counts computed from them."""
    from suanli.perf.ops import active_param_count, param_count

    total = param_count(m)
    return {
        "id": m.id, "name": m.name, "family": m.family,
        "params": total, "params_published_b": m.params_b,
        "active_params": active_param_count(m) if m.moe else total,
        "layers": m.layers, "hidden": m.hidden, "heads": m.heads, "kv_heads": m.n_kv_heads,
        "head_dim": m.d_head if m.mla is None else None, "attention": m.attention_kind,
        "ffn_hidden": m.ffn_hidden, "mlp": m.mlp, "vocab": m.vocab, "max_seq_len": m.max_seq_len,
        "experts": m.moe.num_experts if m.moe else None, "top_k": m.moe.top_k if m.moe else None,
        "source": m.source,
    }


def param_split(m: ModelSpec) -> dict[str, int]:
    """Total parameters split into attention, MLP (dense FFN + experts + router), embeddings
    and norms; the four parts sum to :func:`suanli.perf.ops.param_count`."""
    from suanli.perf.ops import embedding_params, layer_params, moe_layer_count

    n_moe = moe_layer_count(m)
    dense, sparse = layer_params(m, False), layer_params(m, True)
    n_dense = m.layers - n_moe
    return {
        "attention": m.layers * dense.attention,
        "mlp": n_dense * dense.mlp_dense
        + n_moe * (sparse.experts + sparse.shared + sparse.router + sparse.mlp_dense),
        "embeddings": embedding_params(m),
        "norms": m.layers * dense.norms + m.hidden,  # + final norm
    }


def model_details(m: ModelSpec, seq_len: int | None = None) -> dict[str, Any]:
    """Everything ``suanli model NAME`` shows: shapes, parameter split, FLOPs per token.

    Training FLOPs per token = 3 x forward (backward = 2 x forward: Narayanan et al. 2021,
    eq. 3); the 6ND rule (Kaplan et al. 2020) uses 6 x active parameters. Their ratio shows
    what 6ND leaves out: attention over the context and, for tied models, nothing else.
    """
    from suanli.perf.ops import active_param_count, forward_flops_per_token, param_count

    s = seq_len or m.max_seq_len
    fwd = forward_flops_per_token(m, s)
    active = active_param_count(m)
    arch = m.model_dump(exclude={"id", "name", "family", "params_b", "aliases", "source"})
    arch.update(kv_heads=m.n_kv_heads, head_dim=m.d_head if m.mla is None else None,
                attention=m.attention_kind)
    return {
        "id": m.id, "name": m.name, "family": m.family, "aliases": m.aliases, "source": m.source,
        "architecture": arch,
        "params": {"total": param_count(m), "active": active, "published_b": m.params_b,
                   **param_split(m)},
        "flops_per_token": {
            "seq_len": s,  # tokens of context
            "forward": fwd.total,  # FLOP per token
            "forward_by_op": {"qkv": fwd.qkv, "attn_scores": fwd.attn_scores,
                              "attn_out": fwd.attn_out, "mlp": fwd.mlp, "router": fwd.router,
                              "logits": fwd.logits},
            "training": 3.0 * fwd.total,  # FLOP per token, forward + backward, no recompute
            "six_n": 6.0 * active,
            "training_over_six_n": 3.0 * fwd.total / (6.0 * active),
        },
    }


def accelerator_row(a: Accelerator) -> dict[str, Any]:
    return {
        "id": a.id, "name": a.name, "vendor": a.vendor, "family": a.family,
        "memory_gb": a.memory_gb, "memory_bw_gbs": a.memory_bw_gbs,
        "bf16_tflops": a.bf16_tflops, "fp8_tflops": a.fp8_tflops,
        "scale_up_gbs": a.scale_up_gbs, "scale_up_domain": a.scale_up_domain,
        "tdp_w": a.tdp_w, "price_usd_per_hour": a.price_usd_per_hour,
        "price_source": a.price_source, "source": a.source,
    }


def system_row(s: System) -> dict[str, Any]:
    return {
        "id": s.id, "name": s.name, "accelerator": s.accelerator,
        "devices_per_node": s.devices_per_node, "scale_up_domain": s.scale_up_domain,
        "scale_up_gbs": s.scale_up_gbs, "scale_out_gbs": s.scale_out_gbs,
        "price_usd_per_device_hour": s.price_usd_per_device_hour, "source": s.source,
    }


def _table(title: str, headers: list[str], rows: list[list[str]],
           left: tuple[str, ...] = ("id",)) -> Any:
    """A compact Rich table (no vertical rules); cells are never cut, see :func:`_print`."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for head in headers:
        table.add_column(head, justify="left" if head in left else "right", no_wrap=True)
    for r in rows:
        table.add_row(*r)
    return table


def _print(out: Any, table: Any) -> None:
    """Print at the table's natural width even where the terminal is narrower (the terminal
    wraps the lines) rather than let Rich cut numbers to '…'."""
    from rich.console import Console
    from rich.measure import Measurement

    need = Measurement.get(out, out.options.update(width=10_000), table).maximum
    (out if need <= out.width else Console(width=need)).print(table)


# --- commands --------------------------------------------------------------------------------


@models_app.callback()
def models(
    ctx: typer.Context,
    family: str | None = typer.Option(None, "--family", "-f", help="Only this family "
                                      "(llama, gpt3, mixtral, ...)."),
    search: str | None = _SEARCH,
    as_json: bool = _JSON,
) -> None:
    """List the catalog's models with parameter counts computed from their shapes."""
    if ctx.invoked_subcommand is not None:
        return
    cat = _catalog()
    rows = [model_row(m) for m in cat.models.values()
            if (family is None or m.family.lower() == family.lower())
            and _matches(search, m.id, m.name, m.aliases, m.source)]
    if as_json:
        from suanli.cli.common import print_json

        print_json({"models": rows})
        return
    from suanli.cli.common import console
    from suanli.units import format_count

    out = console()
    headers = ["id", "params", "active", "layers", "hidden", "heads/kv", "attn", "ffn", "vocab",
               "experts/k"]
    cells = [[r["id"], format_count(r["params"]),
              format_count(r["active_params"]) if r["experts"] else "",
              str(r["layers"]), str(r["hidden"]), f"{r['heads']}/{r['kv_heads']}",
              r["attention"], str(r["ffn_hidden"]), str(r["vocab"]),
              f"{r['experts']}/{r['top_k']}" if r["experts"] else ""] for r in rows]
    # name and source only where the terminal has room for them; --json always has both
    room = out.width - _width(headers, cells)
    name_w = max([len(r["name"]) for r in rows] + [4]) + 2
    if room >= name_w:
        headers.insert(1, "name")
        for c, r in zip(cells, rows, strict=True):
            c.insert(1, r["name"])
        room -= name_w
    if room >= 24:
        headers.append("source")
        for c, r in zip(cells, rows, strict=True):
            c.append(_clip(r["source"], room - 2))
    table = _table(f"Models ({len(rows)}): parameters computed from the shapes", headers, cells,
                   left=("id", "name", "attn", "source"))
    _print(out, table)


def _width(headers: list[str], cells: list[list[str]]) -> int:
    """Characters a compact table of these cells needs (2 of padding per column)."""
    return sum(max([len(h)] + [len(c[i]) for c in cells]) + 2 for i, h in enumerate(headers))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _show(name: str, seq_len: int | None, as_json: bool) -> None:
    from suanli.errors import InputError

    if seq_len is not None and seq_len < 1:
        raise InputError(f"--seq-len must be a positive number of tokens, got {seq_len}")
    m = _catalog().model(name)
    d = model_details(m, seq_len)
    if as_json:
        from suanli.cli.common import print_json

        print_json(d)
        return
    _print_details(d)


def _print_details(d: dict[str, Any]) -> None:
    from rich.table import Table

    from suanli.cli.common import console
    from suanli.units import format_count, format_si

    out = console()
    a, p, f = d["architecture"], d["params"], d["flops_per_token"]
    out.print(f"[bold]{d['name']}[/bold] ({d['id']}, family {d['family']})")
    shape = Table(show_header=False, title="Architecture")
    for key in ("layers", "hidden", "heads", "kv_heads", "head_dim", "attention", "ffn_hidden",
                "mlp", "norm", "position", "vocab", "max_seq_len", "tied_embeddings", "moe",
                "mla"):
        if a.get(key) is not None:
            shape.add_row(key, str(a[key]))
    out.print(shape)
    params = Table(title="Parameters (computed)")
    params.add_column("part")
    params.add_column("count", justify="right")
    params.add_column("share", justify="right")
    for key in ("attention", "mlp", "embeddings", "norms", "total", "active"):
        params.add_row(key, format_count(p[key]), f"{p[key] / p['total']:.1%}")
    if abs(p["published_b"] * 1e9 - p["total"]) > 0.5:  # imported configs have no published size
        params.add_row("published", f"{p['published_b']:g}B",
                       f"computed {p['total'] / (p['published_b'] * 1e9) - 1:+.1%}")
    out.print(params)
    flops = Table(title=f"Forward FLOPs per token at context {f['seq_len']}")
    flops.add_column("op")
    flops.add_column("FLOP", justify="right")
    for op, v in f["forward_by_op"].items():
        if v:
            flops.add_row(op, format_si(v))
    flops.add_row("forward", format_si(f["forward"]))
    flops.add_row("training (3 x forward)", format_si(f["training"]))
    flops.add_row("6N (N = active params)", format_si(f["six_n"]))
    flops.add_row("training / 6N", f"{f['training_over_six_n']:.3f}")
    out.print(flops)
    out.print(f"source: {d['source']}")


_NAME = typer.Argument(..., help="Model id, name or alias (see `suanli models`), or a path to "
                                 "a Hugging Face config.json.")
_SEQ = typer.Option(None, "--seq-len", help="Context for the FLOPs (default: the model's "
                                            "max_seq_len).")


@models_app.command("show")
def models_show(name: str = _NAME, seq_len: int | None = _SEQ, as_json: bool = _JSON) -> None:
    """One model in full: shapes, parameter split, FLOPs per token, 6ND check."""
    _show(name, seq_len, as_json)


def model(name: str = _NAME, seq_len: int | None = _SEQ, as_json: bool = _JSON) -> None:
    """One model in full (same as `suanli models show NAME`)."""
    _show(name, seq_len, as_json)


def hardware(
    vendor: str | None = typer.Option(None, "--vendor", help="Only this vendor "
                                      "(NVIDIA, AMD, Google, ...)."),
    search: str | None = _SEARCH,
    as_json: bool = _JSON,
) -> None:
    """List accelerators (dense peaks, memory, links, power, price) and systems."""
    cat = _catalog()
    accs = [a for a in cat.accelerators.values()
            if (vendor is None or a.vendor.lower() == vendor.lower())
            and _matches(search, a.id, a.name, a.aliases, a.source)]
    acc_ids = {a.id for a in accs}
    systems = [s for s in cat.systems.values()
               if s.accelerator in acc_ids or (
                   vendor is None and _matches(search, s.id, s.name, s.aliases, s.source))]
    arows, srows = [accelerator_row(a) for a in accs], [system_row(s) for s in systems]
    if as_json:
        from suanli.cli.common import print_json

        print_json({"accelerators": arows, "systems": srows})
        return
    from suanli.cli.common import console

    def num(v: float | None, fmt: str = "g") -> str:
        return "" if v is None else format(v, fmt)

    t = _table(f"Accelerators ({len(arows)}): dense peaks per device",
               ["id", "vendor", "mem GB", "HBM GB/s", "bf16 TF", "fp8 TF", "scale-up GB/s",
                "domain", "TDP W", "$/h"],
               [[r["id"], r["vendor"], num(r["memory_gb"]), num(r["memory_bw_gbs"]),
                 num(r["bf16_tflops"]), num(r["fp8_tflops"]), num(r["scale_up_gbs"]),
                 str(r["scale_up_domain"]), num(r["tdp_w"]), num(r["price_usd_per_hour"], ".2f")]
                for r in arows], left=("id", "vendor"))
    s = _table(f"Systems ({len(srows)}): bandwidth per device, one direction",
               ["id", "accelerator", "per node", "scale-up domain", "scale-up GB/s",
                "scale-out GB/s", "$/device-h"],
               [[r["id"], r["accelerator"], str(r["devices_per_node"]), str(r["scale_up_domain"]),
                 num(r["scale_up_gbs"]), num(r["scale_out_gbs"]),
                 num(r["price_usd_per_device_hour"], ".2f")] for r in srows],
               left=("id", "accelerator"))
    out = console()
    _print(out, t)
    _print(out, s)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.add_typer(models_app, name="models")
    app.command("model")(model)
    app.command("hardware")(hardware)
