"""Bytes per device during training: weights, gradients, optimizer states, activations, buffers.

Sources:
* Mixed-precision Adam keeps 2 (bf16 weights) + 2 (bf16 grads) + 12 (fp32 master, m, v) bytes
  per parameter; ZeRO stage 1/2/3 shards the optimizer / + gradients / + weights over the
  data-parallel group (Rajbhandari et al. 2020, Fig. 1).
* The optimizer-state precision is an input (``TrainingJob.optimizer_state``). ``fp32`` (the
  default): fp32 master weights + fp32 m + v, 12 bytes per parameter. ``bf16``: Apex's
  ``DistributedFusedAdam`` with ``dtype=bf16`` (NeMo's ``optim.name: distributed_fused_adam``)
  keeps its parameter shard (``store_params``, default True), ``exp_avg`` and ``exp_avg_sq``
  all in ``dtype`` (apex/contrib/optimizers/distributed_fused_adam.py: "dtype: datatype for
  optimizer state", ``StateBucket``): 3 x 2 = 6 bytes. With ZeRO >= 1 over ``d`` ranks a device
  holds ``n (2 + 2 + o / d)`` bytes for ``n`` parameters, ``o`` = 12 or 6, so bf16 state saves
  ``6 n / d`` bytes.
* Activations per layer per micro-batch (Korthikanti et al. 2022, Sec. 4, Table 2, 2-byte
  activations): ``s b h (34 + 5 a s / h)`` for a GPT layer; with tensor parallel ``t`` and
  sequence parallel everything divides by ``t``; without SP, ``10 s b h`` (layer-norm inputs,
  dropout masks and the block inputs) stays replicated. Selective recompute (or FlashAttention)
  drops ``5 a s^2 b``; full recompute keeps only the layer input ``2 s b h``. Stacks that train
  without dropout (Megatron-Core/NeMo, Llama, MPT recipes) store no masks: ``sbh (32 + 2 a s /
  h)``. Generalized here to GQA, gated MLPs and MoE by counting each stored tensor
  (``layer_activation_bytes``).
* Micro-batches in flight on pipeline stage ``i`` of ``p`` (what the schedules hold, not a
  bound): 1F1B keeps ``min(p - i, m)`` (Narayanan et al. 2021, Sec. 2.2); the interleaved
  schedule with ``v`` chunks runs ``2 (p - i - 1) + (v - 1) p`` warm-up chunk forwards and one
  more in steady state (Megatron-Core ``forward_backward_pipelining_with_interleaving``), each
  chunk holding ``1/v`` of the stage's layers. For stage 0 that is ``p + (p - 1)/v`` stage
  equivalents, Korthikanti's ``p (1 + (p - 1)/(p v))``; the last stage holds ``1`` (1F1B) or
  ``((v - 1) p + 1) / v`` (interleaved) plus the logits.
* A stage frees its output once sent (Megatron ``deallocate_output_tensor``); stacks that do not
  keep one ``2 s b h`` tensor per chunk in flight.
* What cannot be filled, one term per cause, set by the stack (``perf/data/stacks.yaml``):
  ``reserved_gb`` (CUDA context, NCCL and cuBLAS workspaces) and ``allocator_slack`` (the share
  of the caching allocator lost to fragmentation; PyTorch's expandable segments leave less).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from suanli.catalog.schema import ModelSpec
from suanli.perf import ops

if TYPE_CHECKING:
    from suanli.perf.stack import Stack
    from suanli.perf.train_terms import Layout
    from suanli.perf.training import TrainingJob

F = NDArray[np.float64]

WEIGHT_BYTES = 2.0  # bf16/fp16 working copy (also under FP8 training: FP8 casts are transient)
GRAD_BYTES = 2.0
OPTIMIZER_BYTES = 12.0  # fp32 master weights + Adam m and v
# bytes per parameter of optimizer state by its precision (see the module docstring)
OPTIMIZER_STATE_BYTES = {"fp32": OPTIMIZER_BYTES, "bf16": 6.0}
RESERVED_BYTES = 1.5e9  # default stack's reserve: CUDA context, cuBLAS/NCCL workspaces
ALLOCATOR_SLACK = 0.05  # conservative fragmentation share when no stack is named

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


def optimizer_bytes(state: str) -> float:
    """Bytes per parameter of Adam state kept in precision ``state`` (``fp32`` or ``bf16``)."""
    if state not in OPTIMIZER_STATE_BYTES:
        from suanli.errors import InputError

        raise InputError(f"unknown optimizer state precision '{state}'; choose one of: "
                         f"{', '.join(OPTIMIZER_STATE_BYTES)}")
    return OPTIMIZER_STATE_BYTES[state]


def model_state_bytes(dense: F, expert: F, d: F, e: F, zero: F,
                      opt_bytes: float = OPTIMIZER_BYTES) -> F:
    """Weights + gradients + optimizer bytes with ZeRO stage ``zero`` over ``d`` DP ranks;
    ``opt_bytes`` per parameter of optimizer state (``optimizer_bytes``).

    Expert parameters are replicated over ``d / e`` ranks (expert data parallel)."""
    d_exp = np.maximum(d / e, 1.0)

    def shard(n: F, ranks: F) -> F:
        w = np.where(zero >= 3, WEIGHT_BYTES / ranks, WEIGHT_BYTES)
        g = np.where(zero >= 2, GRAD_BYTES / ranks, GRAD_BYTES)
        o = np.where(zero >= 1, opt_bytes / ranks, opt_bytes)
        return n * (w + g + o)

    return shard(dense, d) + shard(expert, d_exp)


def layer_activation_bytes(m: ModelSpec, s: F, b: F, t: F, sp: F, recompute: F, flash: bool,
                           moe_layer: bool = False, dropout: bool = True,
                           kv_local: F | None = None) -> F:
    """Stored activation bytes of one layer for one micro-batch (Korthikanti et al. 2022).

    ``s`` is the per-device sequence length (after context parallel), ``b`` the micro-batch.
    """
    h = float(m.hidden)
    q = m.heads * m.d_head / h
    # K and V per rank: kv_local heads (replicated when TP > KV groups), expressed per 1/t
    kv = (m.n_kv_heads if kv_local is None else kv_local * t) * m.d_head / h
    if moe_layer and m.moe is not None:
        width = m.moe.expert_ffn_hidden * (m.moe.top_k + m.moe.shared_experts) / h
        copies = m.moe.top_k + m.moe.shared_experts
    else:
        width, copies = m.ffn_hidden / h, 1
    # bytes per (s b h), each tensor in 2-byte precision:
    attn_sharded = 2 * q + 2 * kv + 2 * kv + 2 * q  # Q, K, V, projection input
    mlp_sharded = (3 if m.gated else 2) * 2 * width + 2 * (copies - 1)
    masks = 2.0 if dropout else 0.0  # two 1-byte dropout masks (attention out, MLP out)
    replicated = 4 + 2 + 2 + masks  # 2 norm inputs, attention + MLP block inputs, masks
    sbh = s * b * h
    per_layer = sbh * ((attn_sharded + mlp_sharded) / t + np.where(sp > 0, replicated / t,
                                                                   replicated))
    # softmax output (2 B), dropout mask (1 B) and dropout output (2 B) per score element
    scores = 0.0 if flash else (5.0 if dropout else 2.0) * m.heads * s * s * b / t
    keep_scores = np.where(recompute == RECOMPUTE_NONE, scores, 0.0)
    full = 2.0 * sbh / np.where(sp > 0, t, 1.0)  # only the layer input is kept
    return np.where(recompute == RECOMPUTE_FULL, full, per_layer + keep_scores)


def stage_activation_bytes(m: ModelSpec, shape: ModelShape, s: F, b: F, t: F, frac: F, sp: F,
                           recompute: F, flash: bool, dropout: bool, kv_local: F) -> F:
    """Activations of one micro-batch through the layers of one stage (share ``frac``)."""
    dense = layer_activation_bytes(m, s, b, t, sp, recompute, flash, False, dropout, kv_local)
    per_stage = shape.n_dense_layers * dense
    if shape.n_moe_layers:
        moe = layer_activation_bytes(m, s, b, t, sp, recompute, flash, True, dropout, kv_local)
        per_stage = per_stage + shape.n_moe_layers * moe
    return per_stage * frac


def in_flight(p: F, v: F, n_micro: F, stage: F) -> F:
    """Micro-batches of activations stage ``stage`` (0-based) holds at its peak, in units of the
    whole stage's layers (a chunk of an interleaved stage counts ``1/v``)."""
    one_f_one_b = np.minimum(p - stage, n_micro)
    chunks = np.minimum(2.0 * (p - stage - 1.0) + (v - 1.0) * p + 1.0, n_micro * v)
    return np.where(v > 1, chunks / v, one_f_one_b)


def activation_bytes(m: ModelSpec, shape: ModelShape, s: F, b: F, t: F, p: F, frac: F, v: F,
                     sp: F, recompute: F, flash: bool, in_flight: F, dropout: bool = True,
                     kv_local: F | None = None) -> F:
    """Activations of the layers on one stage (share ``frac`` of all layers) times the
    micro-batches (stage equivalents) held in flight."""
    kv = m.n_kv_heads / t if kv_local is None else kv_local
    per = stage_activation_bytes(m, shape, s, b, t, frac, sp, recompute, flash, dropout, kv)
    return per * in_flight


def memory_terms(job: TrainingJob, lay: Layout, stack: Stack, flash: bool) -> dict[str, F]:
    """Bytes per device on the fullest of the first stage (embedding, most micro-batches in
    flight), a full middle stage, and the last stage (output head, fp32 logits). Every term is
    listed; the total is their sum (``mem_total = mem_state + mem_activations + mem_buffers``).
    """
    m = job.model
    shape = ModelShape.of(m)
    t, p, v, d, e, z = lay.t, lay.p, lay.v, lay.d, lay.e, lay.z
    s = float(job.seq_len) / lay.c
    sp_div = np.where(lay.sp > 0, t, 1.0)

    def held(stage: F, layers: F) -> F:  # activations + pipeline outputs kept on ``stage``
        per_mb = stage_activation_bytes(m, shape, s, lay.b, t, layers / m.layers, lay.sp,
                                        lay.r, flash, stack.dropout, lay.kv_local)
        flight = in_flight(p, v, lay.n_micro, stage)
        kept = 0.0 if stack.free_pipeline_outputs else np.where(
            p > 1, 2.0 * s * lay.b * m.hidden / sp_div * flight * v, 0.0)
        return per_mb * flight + kept

    acts_first = held(np.zeros_like(p), lay.layers_first)
    acts_last = held(p - 1.0, lay.layers_last)
    acts_mid = np.where(p > 2, held(np.ones_like(p), lay.layers_stage), 0.0)
    expert_first = lay.expert_p * lay.layers_first / lay.layers_stage
    expert_last = lay.expert_p * lay.layers_last / lay.layers_stage
    ob = optimizer_bytes(job.optimizer_state)
    state_first = model_state_bytes(lay.first_p, expert_first, d, e, z, ob)
    state_last = model_state_bytes(lay.last_p, expert_last, d, e, z, ob)
    state_mid = np.where(p > 2, model_state_bytes(lay.middle_p, lay.expert_p, d, e, z, ob), 0.0)
    logits = lay.tok * m.vocab / t * 4.0 * 2.0  # fp32 logits and their gradient (last stage)
    params = lay.dense_p + lay.expert_p
    fsdp_buf = np.where(z >= 3, 2.0 * params / np.maximum(lay.layers_stage, 1.0) * 2.0, 0.0)
    # the fullest of stage 0, a full middle stage (1) and the last stage
    z3 = np.where(z >= 3, d, 1.0)
    cand_state = np.stack([state_first, state_mid, state_last])
    cand_acts = np.stack([acts_first, acts_mid, acts_last])
    cand_buf = np.stack([np.zeros_like(logits), np.zeros_like(logits), logits])
    cand_w = np.stack([lay.first_p / z3 + expert_first, lay.middle_p / z3 + lay.expert_p,
                       lay.last_p / z3 + expert_last]) * WEIGHT_BYTES
    cand_w[1] = np.where(p > 2, cand_w[1], 0.0)
    k = np.argmax(cand_state + cand_acts + cand_buf, axis=0)[None]

    def pick(x: F) -> F:
        return np.take_along_axis(x, k, axis=0)[0]

    state, acts = pick(cand_state), pick(cand_acts)
    buffers = pick(cand_buf) + fsdp_buf + stack.reserved_bytes
    return {
        "mem_weights": pick(cand_w), "mem_weights_max": cand_w.max(axis=0),
        "mem_state": state, "mem_activations": acts,
        "mem_buffers": buffers, "mem_total": state + acts + buffers,
        "mem_usable": np.full_like(acts, job.accelerator.memory_bytes
                                   * (1.0 - stack.allocator_slack)),
    }


def usable_bytes(capacity_bytes: float) -> float:
    """What a training process can actually fill on a device of ``capacity_bytes``."""
    return capacity_bytes * (1.0 - ALLOCATOR_SLACK) - RESERVED_BYTES
