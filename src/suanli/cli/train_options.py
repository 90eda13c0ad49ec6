"""Options shared by ``suanli train estimate|plan|compare``: what-if models, fine-tuning,
currency and constraints. Light imports only (``suanli --help`` imports this)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from suanli.catalog.schema import ModelSpec

Params = Annotated[str | None, typer.Option(
    "--params", help="what-if dense model of this size, e.g. 500B (shape from scaling rules; "
                     "instead of --model)")]
Layers = Annotated[int | None, typer.Option("--layers", help="what-if shape: layers")]
Hidden = Annotated[int | None, typer.Option("--hidden", help="what-if shape: hidden size")]
Heads = Annotated[int | None, typer.Option("--heads", help="what-if shape: attention heads")]
KvHeads = Annotated[int | None, typer.Option("--kv-heads", help="what-if shape: KV heads")]
Ffn = Annotated[int | None, typer.Option("--ffn", help="what-if shape: FFN (per expert) size")]
Vocab = Annotated[int | None, typer.Option("--vocab", help="what-if shape: vocabulary")]
Experts = Annotated[int | None, typer.Option("--experts", help="what-if shape: MoE experts")]
TopK = Annotated[int | None, typer.Option("--top-k", help="what-if shape: experts per token")]

Method = Annotated[str | None, typer.Option(
    "--method", help="fine-tune: full | lora | qlora (switches to the fine-tuning model)")]
LoraRank = Annotated[int, typer.Option("--lora-rank", help="LoRA rank r")]
LoraTargets = Annotated[str, typer.Option(
    "--lora-targets", help="attention | mlp | all, or a list such as 'q,v,o,mlp'")]
DatasetTokens = Annotated[str | None, typer.Option(
    "--dataset-tokens", help="fine-tune: tokens in one epoch, e.g. 50M")]
Examples = Annotated[str | None, typer.Option(
    "--examples", help="fine-tune: examples in the dataset (x --seq-len tokens each)")]
Epochs = Annotated[float, typer.Option("--epochs", help="fine-tune: passes over the data")]
Offload = Annotated[str, typer.Option(
    "--offload", help="fine-tune: none | optimizer | params (ZeRO-Offload / Infinity to CPU) | "
                      "nvme (optimizer state on NVMe)")]
Currency = Annotated[str, typer.Option("--currency", help="show money in USD, CNY or EUR")]
MaxDays = Annotated[float | None, typer.Option("--max-days", help="deadline, days")]
Budget = Annotated[str | None, typer.Option(
    "--budget", help="most you will spend, e.g. '$1.5M', '¥10M'")]
MaxDevices = Annotated[int | None, typer.Option("--max-devices", help="most devices you have")]


@dataclass(frozen=True)
class Shape:
    params: str | None = None
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    ffn: int | None = None
    vocab: int | None = None
    experts: int | None = None
    top_k: int | None = None


def resolve_model(model: str | None, shape: Shape) -> str | ModelSpec:
    """``--model NAME``, or a what-if model from ``--params`` or the shape flags."""
    from suanli.errors import InputError

    flags = {k: v for k, v in vars(shape).items() if v is not None and k != "params"}
    given = [x for x in (model, shape.params, flags or None) if x]
    if len(given) > 1:
        raise InputError("give one of --model, --params, or the shape (--layers --hidden ...)")
    if model:
        return model
    from suanli.catalog.whatif import VOCAB, model_from_params, model_from_shape

    if shape.params:
        from suanli.units import parse_count

        return model_from_params(parse_count(shape.params, what="--params"),
                                 vocab=shape.vocab or VOCAB)
    if flags:
        if not (shape.layers and shape.hidden):
            raise InputError("a what-if shape needs at least --layers and --hidden")
        return model_from_shape(layers=shape.layers, hidden=shape.hidden, heads=shape.heads,
                                kv_heads=shape.kv_heads, ffn=shape.ffn,
                                vocab=shape.vocab or VOCAB, experts=shape.experts,
                                top_k=shape.top_k)
    raise InputError("say which model: --model NAME (see `suanli models`), --params 70B, or "
                     "a shape (--layers 80 --hidden 8192)")


def is_finetune(method: str | None, dataset_tokens: str | None, examples: str | None,
                offload: str) -> bool:
    return bool(method or dataset_tokens or examples or offload != "none")
