"""Bytes per device during training: weights, gradients, optimizer states, activations, buffers.

Sources:
* Mixed-precision Adam keeps 2 (bf16 weights) + 2 (bf16 grads) + 12 (fp32 master, m, v) bytes
  per parameter; ZeRO stage 1/2/3 shards the optimizer / + gradients / + weights over the
  data-parallel group (Rajbhandari et al. 2020, Fig. 1).
* Activations per layer per micro-batch (Korthikanti et al. 2022, Sec. 4, 2-byte activations):
  ``s b h (34 + 5 a s / h)`` for a GPT layer; with tensor parallel ``t`` and sequence parallel
  everything divides by ``t``; without SP, ``10 s b h`` (layer-norm inputs, dropout masks and the
  block inputs) stays replicated. Selective recompute (or FlashAttention) drops ``5 a s^2 b``;
  full recompute keeps only the layer input ``2 s b h``. Generalized here to GQA, gated MLPs and
  MoE by counting each stored tensor (see ``layer_activation_bytes``).
* With 1F1B pipelining the first stage holds ``min(p, m)`` micro-batches in flight, times
  ``1 + (p - 1) / (p v)`` with ``v`` interleaved chunks (Korthikanti et al. 2022, Sec. 4.2.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from suanli.catalog.schema import ModelSpec
from suanli.perf import ops

F = NDArray[np.float64]

WEIGHT_BYTES = 2.0  # bf16/fp16 working copy (also under FP8 training: FP8 casts are transient)
GRAD_BYTES = 2.0
OPTIMIZER_BYTES = 12.0  # fp32 master weights + Adam m and v
RESERVED_BYTES = 1.5e9  # CUDA context, cuBLAS/NCCL workspaces (assumption, typical 1-2 GB)
ALLOCATOR_SLACK = 0.05  # caching-allocator fragmentation: usable = (1 - slack) x capacity

RECOMPUTE_NONE, RECOMPUTE_SELECTIVE, RECOMPUTE_FULL = 0, 1, 2
RECOMPUTE_NAMES = ("none", "selective", "full")


@dataclass(frozen=True)
class ModelShape:
    """Per-layer element counts the memory and time terms need, computed once per model."""

    attn_params: float  # per layer
    dense_mlp_params: float  # per dense layer
    expert_params: float  # all routed experts of one MoE layer
    shared_params: float  # shared experts of one MoE layer
    n_moe_layers: int
    n_dense_layers: int
    embed_params: float  # input embedding (+ learned positions)
    head_params: float  # output head if untied, else 0

    @classmethod
    def of(cls, m: ModelSpec) -> ModelShape:
        dense = ops.layer_params(m, False)
        moe = ops.layer_params(m, True)
        n_moe = ops.moe_layer_count(m)
        embed = m.vocab * m.hidden + (m.max_seq_len * m.hidden if m.position == "learned" else 0)
        return cls(
            attn_params=float(dense.attention + dense.norms),
            dense_mlp_params=float(dense.mlp_dense),
            expert_params=float(moe.experts + moe.router) if n_moe else 0.0,
            shared_params=float(moe.shared) if n_moe else 0.0,
            n_moe_layers=n_moe,
            n_dense_layers=m.layers - n_moe,
            embed_params=float(embed),
            head_params=0.0 if m.tied_embeddings else float(m.vocab * m.hidden),
        )


def stage_params(shape: ModelShape, layers: int, t: F, frac: F, e: F) -> tuple[F, F]:
    """(non-expert, expert) parameters held by one device of the busiest stage.

    ``frac`` is that stage's share of the layers (1/p for an even split; MoE layers in
    proportion); attention and dense FFN shard over ``t``; routed experts over ``e`` and ``t``.
    """
    dense = (layers * shape.attn_params + shape.n_dense_layers * shape.dense_mlp_params
             + shape.n_moe_layers * shape.shared_params) * frac / t
    expert = shape.n_moe_layers * shape.expert_params * frac / (t * e)
    return dense, expert


def model_state_bytes(dense: F, expert: F, d: F, e: F, zero: F) -> F:
    """Weights + gradients + optimizer bytes with ZeRO stage ``zero`` over ``d`` DP ranks.

    Expert parameters are replicated over ``d / e`` ranks (expert data parallel)."""
    d_exp = np.maximum(d / e, 1.0)

    def shard(n: F, ranks: F) -> F:
        w = np.where(zero >= 3, WEIGHT_BYTES / ranks, WEIGHT_BYTES)
        g = np.where(zero >= 2, GRAD_BYTES / ranks, GRAD_BYTES)
        o = np.where(zero >= 1, OPTIMIZER_BYTES / ranks, OPTIMIZER_BYTES)
        return n * (w + g + o)

    return shard(dense, d) + shard(expert, d_exp)


def layer_activation_bytes(m: ModelSpec, s: F, b: F, t: F, sp: F, recompute: F, flash: bool,
                           moe_layer: bool = False) -> F:
    """Stored activation bytes of one layer for one micro-batch (Korthikanti et al. 2022).

    ``s`` is the per-device sequence length (after context parallel), ``b`` the micro-batch.
    """
    h = float(m.hidden)
    q = m.heads * m.d_head / h
    kv = m.n_kv_heads * m.d_head / h
    if moe_layer and m.moe is not None:
        width = m.moe.expert_ffn_hidden * (m.moe.top_k + m.moe.shared_experts) / h
        copies = m.moe.top_k + m.moe.shared_experts
    else:
        width, copies = m.ffn_hidden / h, 1
    # bytes per (s b h), each tensor in 2-byte precision:
    attn_sharded = 2 * q + 2 * kv + 2 * kv + 2 * q  # Q, K, V, projection input
    mlp_sharded = (3 if m.gated else 2) * 2 * width + 2 * (copies - 1)
    replicated = 4 + 2 + 2 + 1 + 1  # 2 norm inputs, attention + MLP block inputs, 2 dropout masks
    sbh = s * b * h
    per_layer = sbh * ((attn_sharded + mlp_sharded) / t + np.where(sp > 0, replicated / t,
                                                                   replicated))
    scores = 0.0 if flash else 5.0 * m.heads * s * s * b / t  # softmax, dropout mask and output
    keep_scores = np.where(recompute == RECOMPUTE_NONE, scores, 0.0)
    full = 2.0 * sbh / np.where(sp > 0, t, 1.0)  # only the layer input is kept
    return np.where(recompute == RECOMPUTE_FULL, full, per_layer + keep_scores)


def activation_bytes(m: ModelSpec, shape: ModelShape, s: F, b: F, t: F, p: F, frac: F, v: F,
                     sp: F, recompute: F, flash: bool, in_flight: F) -> F:
    """Activations of the layers on one stage (share ``frac`` of all layers) times the
    micro-batches held in flight."""
    dense = layer_activation_bytes(m, s, b, t, sp, recompute, flash, moe_layer=False)
    per_stage = shape.n_dense_layers * dense
    if shape.n_moe_layers:
        moe = layer_activation_bytes(m, s, b, t, sp, recompute, flash, moe_layer=True)
        per_stage = per_stage + shape.n_moe_layers * moe
    per_stage = per_stage * frac
    interleave = np.where(p > 1, 1.0 + (p - 1.0) / (p * v), 1.0)
    return per_stage * in_flight * interleave


def usable_bytes(capacity_bytes: float) -> float:
    """What a training process can actually fill on a device of ``capacity_bytes``."""
    return capacity_bytes * (1.0 - ALLOCATOR_SLACK) - RESERVED_BYTES
