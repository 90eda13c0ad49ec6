"""Options and small helpers shared by the ``suanli infer`` commands (``cli/infer*.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from suanli.cli.common import console, require_positive

if TYPE_CHECKING:
    from suanli.infer.stacks import Stack as StackSpec

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
# the serving engine and version (``suanli.infer.stacks``, data/stacks.yaml)
Stack = Annotated[str | None, typer.Option("--stack", help="serving stack: default (vLLM, "
                                                           "SGLang, TensorRT-LLM >= 1.0), "
                                                           "trtllm-0.5, trtllm-0.9, trtllm-1.x, "
                                                           "deepseek-2025 (data/stacks.yaml)")]


def check_stack(name: str | None) -> StackSpec:
    """The stack ``name`` (``suanli.infer.stacks``; None: ``default``), else the InputError
    that lists the known ones: looked up once, before any work, so a typo never reads as
    "no plan"; the commands pass the :class:`Stack` on."""
    from suanli.infer.stacks import stack

    return stack(name)


def seconds_arg(x: float | None, flag: str) -> float | None:
    require_positive(x, flag)
    return x


def price_arg(text: str | None) -> float | None:
    from suanli.units import parse_price

    return parse_price(text) if text else None


def kv_table(title: str, rows: list[tuple[str, Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, show_header=False)
    for k, v in rows:
        t.add_row(k, v if isinstance(v, str) else f"{v:,.4g}")
    console().print(t)
