"""What-if models without a file: a dense model from its size alone, or from its shape.

:func:`model_from_params` picks a shape for ``N`` parameters by documented rules:

* **Architecture**: a modern dense decoder as Llama 2/3 (Touvron et al. 2023; Dubey et al.
  2024): SwiGLU FFN, RMSNorm, RoPE, untied embeddings, head size 128, grouped-query attention
  with 8 KV heads from 32 heads up (Llama 2 70B, Llama 3), vocabulary 128,256 (Llama 3).
* **FFN width**: ``ffn = 8/3 x hidden`` rounded up to a multiple of 256 (Shazeer 2020's
  parameter-matched SwiGLU; the Llama rounding).
* **Depth vs width**: Kaplan et al. (2020, Sec. 3.1, Fig. 5) find loss nearly flat over
  aspect ratios ``hidden / layers`` from ~20 to ~200 at fixed size; published models sit near
  100 (GPT-3 175B: 12288 / 96 = 128; Chinchilla 70B and LLaMA-65B: 8192 / 80 = 102;
  Llama 3 405B: 16384 / 126 = 130). The shape is the (layers, hidden) whose parameter count is
  within 2% of ``N`` (else 5%) and whose aspect ratio is closest to ``ASPECT`` = 100
  (hidden a multiple of 1024 from 2048 up, of 128 below).

:func:`model_from_shape` takes the shape itself (``--layers --hidden --heads --kv-heads --ffn
--vocab --experts --top-k``) with the same defaults for what is left out.

Both return a :class:`~suanli.catalog.schema.ModelSpec` that every command accepts, e.g.
``make_job(model_from_params(500e9), "h100", 10e12)`` or
``suanli train plan --params 500B --hardware h100``. Inference commands can take the same
spec (``suanli.infer`` functions accept a ``ModelSpec``).
"""

from __future__ import annotations

import math

from suanli.catalog.schema import ModelSpec, MoE
from suanli.errors import InputError

ASPECT = 100.0  # hidden / layers (Kaplan et al. 2020 Fig. 5; published models ~100-130)
HEAD_DIM = 128
VOCAB = 128_256  # Llama 3
KV_HEADS = 8
SOURCE = ("what-if shape: Llama-style dense decoder; aspect ratio hidden/layers ~100 (Kaplan "
          "et al. 2020 Sec. 3.1); SwiGLU ffn 8/3 x hidden (Shazeer 2020); see "
          "suanli.catalog.whatif")


def _ffn(hidden: int) -> int:
    return 256 * math.ceil(8 * hidden / 3 / 256)


def model_from_shape(*, layers: int, hidden: int, heads: int | None = None,
                     kv_heads: int | None = None, ffn: int | None = None,
                     vocab: int = VOCAB, experts: int | None = None, top_k: int | None = None,
                     seq_len: int = 8192, name: str | None = None) -> ModelSpec:
    """A model from its shape; left-out fields follow the module's rules (heads = hidden /
    128, 8 KV heads from 32 heads up, ffn = 8/3 hidden). ``experts`` and ``top_k`` make every
    FFN a routed MoE with ``ffn`` per expert."""
    for flag, v in (("--layers", layers), ("--hidden", hidden), ("--heads", heads),
                    ("--kv-heads", kv_heads), ("--ffn", ffn), ("--vocab", vocab),
                    ("--experts", experts), ("--top-k", top_k)):
        if v is not None and v < 1:
            raise InputError(f"{flag} must be a positive whole number, got {v}")
    heads = heads or max(1, hidden // HEAD_DIM)
    if hidden % heads:
        raise InputError(f"--hidden {hidden} is not divisible by --heads {heads}")
    kv = kv_heads or (KV_HEADS if heads >= 32 and heads % KV_HEADS == 0 else heads)
    if heads % kv:
        raise InputError(f"--heads {heads} must be a multiple of --kv-heads {kv}")
    ffn = ffn or _ffn(hidden)
    moe = None
    if experts or top_k:
        if not (experts and top_k):
            raise InputError("give both --experts and --top-k for a mixture-of-experts model")
        if top_k > experts:
            raise InputError(f"--top-k {top_k} exceeds --experts {experts}")
        moe = MoE(num_experts=experts, top_k=top_k, expert_ffn_hidden=ffn)
    spec = ModelSpec(id="whatif", name="what-if", family="whatif", params_b=1.0, layers=layers,
                     hidden=hidden, heads=heads, kv_heads=kv, ffn_hidden=ffn, vocab=vocab,
                     max_seq_len=seq_len, mlp="swiglu", norm="rmsnorm", position="rope",
                     moe=moe, source=SOURCE)
    from suanli.perf.ops import param_count

    n = param_count(spec)
    label = name or (f"what-if {_short(n)} ({layers}L x {hidden}"
                     + (f", {experts}x top-{top_k}" if moe else "") + ")")
    return spec.model_copy(update={"id": f"whatif-{_short(n).lower()}", "name": label,
                                   "params_b": n / 1e9})


def _count(layers: int, hidden: int, vocab: int) -> float:
    """Parameters of the default shape (as ``perf.ops.param_count`` counts them): per layer
    Q, K, V, O + three SwiGLU matrices + two RMSNorms; untied embedding and head; final norm."""
    heads = hidden // HEAD_DIM
    kv = KV_HEADS if heads >= 32 and heads % KV_HEADS == 0 else heads
    attn = 2 * hidden * hidden + 2 * hidden * kv * HEAD_DIM
    return layers * (attn + 3 * hidden * _ffn(hidden) + 2 * hidden) + 2 * vocab * hidden + hidden


def model_from_params(params: float, *, vocab: int = VOCAB, seq_len: int = 8192) -> ModelSpec:
    """A dense model of ``params`` parameters shaped by the module's rules; hidden is a
    multiple of 1024 from 2048 up (so heads are a multiple of 8 and GQA applies), else of 128."""
    if not 1e7 <= params <= 1e14:
        raise InputError(f"--params must be between 10M and 100T, got {params:.3g}")
    widths = [128 * k for k in range(1, 16)] + [1024 * k for k in range(2, 129)]
    best: tuple[float, float, int, int] | None = None
    for tol in (0.02, 0.05):
        for layers in range(2, 400):
            for hidden in widths:
                miss = abs(_count(layers, hidden, vocab) / params - 1.0)
                if miss > tol:
                    continue
                key = (abs(math.log(hidden / layers / ASPECT)), miss, layers, hidden)
                if best is None or key < best:
                    best = key
        if best is not None:
            break
    if best is None:
        raise InputError(f"no dense shape within 5% of {params:.3g} parameters; give the "
                         "shape with --layers and --hidden")
    return model_from_shape(layers=best[2], hidden=best[3], vocab=vocab, seq_len=seq_len)


def _short(n: float) -> str:
    from suanli.units import format_count

    return format_count(n)
