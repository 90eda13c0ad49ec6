"""The time terms of one training step, one function per kind, on a grid of plans.

``layout`` derives the per-plan quantities every term needs (tokens per device, layers on the
busiest stage, parameters per device, the adapted batch); ``compute_terms`` and ``comm_terms``
return seconds per micro-batch (or per step for the data-parallel terms); the sum lives in
``suanli.perf.training.evaluate``. Sources: Narayanan et al. 2021 (3D parallelism, eq. 3
FLOPs), Korthikanti et al. 2022 (sequence parallel, selective recompute), Rajbhandari et al.
2020 (ZeRO); rooflines: FLOPs / (peak x efficiency), bytes / (HBM bandwidth x mem_eff).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from suanli.perf import comm, memory, ops
from suanli.perf.plan_rules import adapted_batch, kv_heads_per_rank

if TYPE_CHECKING:
    from suanli.perf.efficiency import Efficiency
    from suanli.perf.stack import Stack
    from suanli.perf.training import TrainingJob

F = NDArray[np.float64]
SOFTMAX_BYTES = 39.0  # unfused attention, per score element, fwd + bwd: fwd 13 B (scores,
# softmax in/out, dropout mask/out, AV read, 2-byte elements) and 2x that in backward
SOFTMAX_BYTES_NO_DROPOUT = 24.0  # fwd 8 B (scores, softmax in/out, AV read), 2x in backward
RESIDUAL_ACCESSES = 16.0  # residual-stream element reads + writes per token per layer, fwd +
# bwd: forward LN1 and LN2 read it (2), the two residual adds read and write it (4); backward
# each norm's input gradient is written back in the stream's precision and accumulated into
# the stream's gradient (read 2, write 1: 4 per norm, 8) and each branch's output gradient is
# read from it (2). Counted only beyond 2 bytes (``Stack.residual_bytes``): the fitted
# ``elem_bytes`` holds the bf16 traffic of these kernels.


def optimizer_traffic(state: str) -> float:
    """Bytes per local parameter per Adam step: the optimizer state read and written (fp32
    master, m, v: 2 x 12; bf16 state, memory.py: 2 x 6), the gradient read and the bf16
    weights written (2 + 2): 28 or 16."""
    return 2.0 * memory.optimizer_bytes(state) + memory.GRAD_BYTES + memory.WEIGHT_BYTES


@dataclass(frozen=True)
class Layout:
    """Per-plan quantities shared by the terms (arrays over the grid)."""

    t: F  # tensor parallel
    p: F  # pipeline stages
    d: F  # data parallel
    e: F  # expert parallel
    c: F  # context parallel
    b: F  # micro-batch, sequences
    v: F  # interleaved chunks per stage
    z: F  # ZeRO stage
    r: F  # recompute code
    sp: F  # sequence parallel on (1.0) or off
    full: F  # 1.0 under full recompute
    sel: F  # 1.0 under selective recompute
    global_batch: F  # sequences per step after adaptation
    n_micro: F  # micro-batches per pipeline per step
    layers_stage: F  # layers on the busiest stage: ceil(L / (p v)) x v
    layers_first: F  # layers on stage 0 and on the last stage: one fewer than the busiest when
    layers_last: F  # the split is uneven (Megatron-Core first/last-stage layers; Llama 3 3.3.2)
    tok: F  # tokens per device per micro-batch
    kv_local: F  # KV heads per TP rank (replicated when TP > KV groups)
    dense_p: F  # non-expert parameters per device, busiest stage (+ the head when it is last)
    middle_p: F  # non-expert parameters per device of a full middle stage
    first_p: F  # non-expert parameters per device, first stage (with the embedding)
    last_p: F  # non-expert parameters per device, last stage (with the head)
    expert_p: F  # routed-expert parameters per device


def layout(job: TrainingJob, g: dict[str, F]) -> Layout:
    m = job.model
    t, p, d, e, c = g["tp"], g["pp"], g["dp"], g["ep"], g["cp"]
    b, v, r = g["micro_batch"], g["interleave"], g["recompute"]
    gb = adapted_batch(job.global_batch, d * b)
    L = float(m.layers)
    layers_stage = np.ceil(L / (p * v)) * v
    # uneven split: the first and last stages, which also hold the embedding and the head, take
    # one layer fewer when the split leaves room (Dubey et al. 2024, Sec. 3.3.2)
    short = np.where(p > 1, layers_stage * p - L, 0.0)
    layers_first = np.maximum(layers_stage - (short >= 1), 1.0)
    layers_last = np.maximum(layers_stage - (short >= 2), 1.0)
    shape = memory.ModelShape.of(m)
    kv_local = kv_heads_per_rank(m, t) if m.mla is None else m.n_kv_heads / t
    kv_rep = 2.0 * m.hidden * m.d_head * (kv_local - m.n_kv_heads / t)  # replicated KV weights

    def body(n_layers: F) -> tuple[F, F]:
        dense, experts = memory.stage_params(shape, m.layers, t, n_layers / L, e)
        return dense + n_layers * kv_rep, experts

    dense_p, expert_p = body(layers_stage)
    head = shape.head_params / t
    embed_alone = shape.embed_params / t * np.where(p > 1, 0.0, 1.0)
    last_p = body(layers_last)[0] + embed_alone + head
    first_p = np.where(p > 1, body(layers_first)[0] + shape.embed_params / t, last_p)
    return Layout(
        t=t, p=p, d=d, e=e, c=c, b=b, v=v, z=g["zero"], r=r,
        sp=np.where(t > 1, g["sp"], 0.0),
        full=(r == memory.RECOMPUTE_FULL).astype(np.float64),
        sel=(r == memory.RECOMPUTE_SELECTIVE).astype(np.float64),
        global_batch=gb, n_micro=gb / (d * b), layers_stage=layers_stage,
        layers_first=layers_first, layers_last=layers_last, tok=b * float(job.seq_len) / c,
        kv_local=kv_local, dense_p=dense_p + embed_alone + np.where(short > 0, 0.0, head),
        middle_p=dense_p, first_p=first_p, last_p=last_p, expert_p=expert_p)


def compute_terms(job: TrainingJob, lay: Layout, eff: Efficiency, stack: Stack,
                  flash: bool) -> dict[str, F]:
    """Seconds per micro-batch on one device of the busiest stage: matmuls, attention core,
    element-wise ops, logits. Recompute repeats the forward (full) or the core (selective)."""
    m, acc = job.model, job.accelerator
    fam = eff.family
    s, h, L = float(job.seq_len), float(m.hidden), float(m.layers)
    peak = acc.peak_flops(job.dtype)  # FLOP/s
    peak_attn = acc.peak_flops("bf16") if job.dtype == "fp8" and acc.bf16_tflops else peak
    hbm = acc.memory_bw * eff.mem_eff  # bytes/s
    t, tok, frac = lay.t, lay.tok, lay.layers_stage / L
    fw = ops.forward_flops_per_token(m, job.seq_len, job.causal_flops)
    kv_extra = 4.0 * h * m.d_head * (lay.kv_local - m.n_kv_heads / t) * lay.layers_stage
    gemm_fwd = tok * ((fw.qkv + fw.attn_out + fw.mlp + fw.router) * frac / t + kv_extra)
    core_fwd = tok * fw.attn_scores * frac / t
    logit_fwd = tok * fw.logits / t
    gemm_passes = 3.0 + lay.full  # fwd + 2x bwd (+ fwd again under full recompute)
    core_passes = 3.0 + np.maximum(lay.full, lay.sel)
    gemm_eff = fam.gemm(h / t)
    layer_bytes, logit_bytes = gemm_traffic(job, lay)
    t_gemm = gemm_passes * (gemm_fwd / (peak * gemm_eff) + layer_bytes / hbm)
    t_logits = 3.0 * (logit_fwd / (peak * gemm_eff) + logit_bytes / hbm) \
        + tok * m.vocab / t * 4.0 * 4 / hbm
    # fused (FlashAttention) kernels run at attn_eff; unfused attention is two batched GEMMs
    # whose inner dimension is the head size, plus its softmax/dropout traffic
    attn_eff = stack.attn_eff(acc.family, fam.attn_eff) if flash else fam.gemm(float(m.d_head))
    t_core = core_fwd * core_passes / (peak_attn * attn_eff)
    if not flash:
        scores = lay.layers_stage * lay.b * (m.heads / t) * s * (s / lay.c)  # per device
        per_score = SOFTMAX_BYTES if stack.dropout else SOFTMAX_BYTES_NO_DROPOUT
        t_core = t_core + scores * per_score * core_passes / 3.0 / hbm
    ffn = float(m.ffn_hidden)
    if m.moe is not None:
        ffn = float(m.moe.expert_ffn_hidden * (m.moe.top_k + m.moe.shared_experts))
    ffn_width = ffn * (1.5 if m.gated else 1.0)
    sp_div = np.where(lay.sp > 0, t, 1.0)
    elem_per_tok = fam.elem_bytes * (h / sp_div + ffn_width / t)
    resid = (stack.residual_bytes - 2.0) * RESIDUAL_ACCESSES * h / sp_div  # fp32 stream
    t_elem = lay.layers_stage * tok * (elem_per_tok + resid) * gemm_passes / 3.0 / hbm
    casts = cast_bytes(job, lay, stack, ffn, sp_div) / hbm
    return {"t_gemm": t_gemm, "t_attention": t_core, "t_elementwise": t_elem + casts,
            "t_logits": t_logits, "gemm_flops": gemm_fwd * gemm_passes}


def gemm_traffic(job: TrainingJob, lay: Layout) -> tuple[F, F]:
    """HBM bytes one pass of the busiest stage's GEMMs moves per micro-batch on one device:
    for each GEMM ``[M, K] x [K, N]`` its operands and output, ``(M K + K N) x in + M N x out``
    (layers of the stage, then the output head).

    The matmul roofline adds this traffic to the FLOP time (``t = FLOPs / (peak x eff) +
    bytes / HBM``) instead of taking the larger of the two: tiles are loaded while the tensor
    cores run, but the prologue, the epilogue (writing ``M x N``) and the weight stream are not
    hidden, so GEMMs whose arithmetic intensity ``2 M N K / bytes`` is near the chip's ridge
    point (``peak / bandwidth``) run below ``eff``. That is the shape effect: a narrow hidden
    size, few tokens per micro-batch (or per expert) and FP8 (twice the peak, half the operand
    bytes, the same bf16 output) all lower the intensity (Williams et al. 2009, "Roofline";
    NVIDIA "Matrix Multiplication Background" user guide: math- vs memory-limited GEMMs).
    Operands are 1 byte under FP8 (Transformer Engine casts both), else the dtype's size;
    outputs are bf16 (fp32 when training in fp32)."""
    m = job.model
    t, tok = lay.t, lay.tok
    in_b = {"fp8": 1.0, "fp32": 4.0, "tf32": 4.0}.get(job.dtype, 2.0)
    out_b = 4.0 if job.dtype in ("fp32", "tf32") else 2.0
    h = float(m.hidden)
    L = float(m.layers)

    def gemm(mm: F | float, k: F | float, n: F | float, weights: F | float) -> F:
        return np.asarray((mm * k) * in_b + weights * in_b + mm * n * out_b, dtype=np.float64)

    fw = ops.forward_flops_per_token(m, job.seq_len, job.causal_flops)
    qkv_n = fw.qkv / (2.0 * h * L) / t + 2.0 * m.d_head * (lay.kv_local - m.n_kv_heads / t)
    out_k = fw.attn_out / (2.0 * h * L) / t
    attn = gemm(tok, h, qkv_n, h * qkv_n) + gemm(tok, out_k, h, out_k * h)
    n_moe = float(ops.moe_layer_count(m))
    n_dense = L - n_moe
    up = 2.0 if m.gated else 1.0

    def ffn(inner: float, tokens: F, weights_per: float) -> F:  # one FFN block (FC1 + FC2)
        k2 = inner / t
        return gemm(tokens, h, up * k2, weights_per * up * h * k2) + gemm(
            tokens, k2, h, weights_per * k2 * h)

    mlp = n_dense * ffn(float(m.ffn_hidden), tok, 1.0)
    if m.moe is not None and n_moe:
        mo = m.moe
        local = mo.num_experts / lay.e  # routed experts on this device, all read
        routed = ffn(float(mo.expert_ffn_hidden), tok * mo.top_k, 0.0) + local * ffn(
            float(mo.expert_ffn_hidden), np.zeros_like(tok), 1.0)
        shared = mo.shared_experts * ffn(float(mo.expert_ffn_hidden), tok, 1.0)
        mlp = mlp + n_moe * (routed + shared)
    per_layer = attn + mlp / L
    logits = gemm(tok, h, m.vocab / t, h * m.vocab / t)
    return lay.layers_stage * per_layer, logits


FP8_CAST_BYTES = 4.0  # per element: read bf16 (2), write FP8 (1) and its transpose (1)


def cast_bytes(job: TrainingJob, lay: Layout, stack: Stack, ffn: float, sp_div: F) -> F:
    """HBM bytes per micro-batch that precision casts move on one device (element-wise
    traffic the fused-kernel count ``elem_bytes`` does not hold).

    * FP8 GEMMs (Transformer Engine, delayed scaling) take FP8 operands: every GEMM input in the
      forward pass and every output gradient in the backward pass is cast, and transposed for
      the other GEMM of the pair (TE ``cast_transpose``: read 2 B, write 1 + 1 B per element);
      weights are cast the same way once per micro-batch (Micikevicius et al. 2022, "FP8 Formats
      for Deep Learning", Sec. 4; Transformer Engine ``fp8_autocast`` docs). Attention, norms and
      the rest stay in bf16.
    * Stacks that gather fp32 parameters (``stack.fsdp_param_bytes`` 4) cast every gathered
      parameter for autocast and its gradient back (``stack.param_cast_bytes``); the forward
      cast repeats under full recompute.
    """
    m = job.model
    t, h = lay.t, float(m.hidden)
    q, kv = m.heads * m.d_head, lay.kv_local * t * m.d_head
    fc1_out = ffn * (2.0 if m.gated else 1.0)
    params = lay.dense_p + lay.expert_p  # parameters one device computes with (unsharded)
    out = np.zeros_like(lay.t)
    if job.dtype == "fp8":
        gemm_in = 2.0 * h / sp_div + (q + ffn) / t  # QKV, projection, FC1, FC2 inputs
        grad_out = 2.0 * h / sp_div + (q + 2.0 * kv + fc1_out) / t  # their output gradients
        per_tok = FP8_CAST_BYTES * (gemm_in * (1.0 + lay.full) + grad_out)
        out = out + lay.layers_stage * lay.tok * per_tok + FP8_CAST_BYTES * params
    if stack.param_cast_bytes:
        recast = 6.0 * lay.full  # the forward cast again when the layer is recomputed
        out = out + np.where(lay.z >= 3, (stack.param_cast_bytes + recast) * params, 0.0)
    return out


def grad_accum_time(job: TrainingJob, lay: Layout, eff: Efficiency, stack: Stack) -> F:
    """Seconds per micro-batch of a separate gradient accumulation pass over the device's
    parameters (``stack.grad_accum_bytes`` each, memory-bound). Only DeepSpeed's bf16 pipeline
    path has one (``BF16_Optimizer.update_hp_grads`` after every micro-batch's backward:
    deepspeed/runtime/pipe/engine.py ``_exec_backward_pass``; perf/data/stacks.yaml); fp16 and
    fp32 runs accumulate in the parameters' own gradients."""
    if job.dtype != "bf16" or not stack.grad_accum_bytes:
        return np.zeros_like(lay.t)
    params = lay.dense_p + lay.expert_p
    return params * stack.grad_accum_bytes / (job.accelerator.memory_bw * eff.mem_eff)


LAYER_TERMS = ("t_gemm", "t_attention", "t_elementwise", "gemm_flops", "t_tp_comm",
               "t_ep_comm", "t_cp_comm")  # seconds (or FLOPs) that scale with a stage's layers


def slowest_stage(lay: Layout, comp: dict[str, F],
                  net: dict[str, F]) -> tuple[dict[str, F], dict[str, F]]:
    """The per-micro-batch compute and communication terms of the slowest pipeline stage,
    which paces the pipeline (every stage runs the same schedule; the others wait for it).

    ``compute_terms`` and ``comm_terms`` cost the ``layers_stage`` layers of a full stage plus
    the output head. When the split is uneven, the first and last stages hold one layer fewer
    (``layout``): then the last stage runs ``layers_last`` layers plus the head, a middle stage
    ``layers_stage`` layers and no head, and the first ``layers_first`` layers plus the embedding
    lookup (a gather, no FLOPs to speak of). The slowest of the three is returned: the
    ``LAYER_TERMS`` scaled to its layer count, the head kept only if it is the last stage. With
    an even split the last stage (all layers plus the head) is the slowest, as before. This is
    the imbalance Meta removed: "After the last layer of the model, we need to calculate output
    and loss, making this stage the execution latency bottleneck. [...] To balance the
    pipeline, we reduce one Transformer layer each from the first and the last stages" (Dubey
    et al. 2024, arXiv:2407.21783, Sec. 3.3.2); BLOOM's ``--pp-partition-method
    'type:transformer|embedding'`` does the same. Per-device terms (the p2p sends, the gradient
    accumulation pass) are the same on every stage: unchanged."""
    terms = {**comp, **net}
    per_layer = sum(terms[k] for k in LAYER_TERMS if k != "gemm_flops") / lay.layers_stage
    t_mid = np.where(lay.p > 2, lay.layers_stage * per_layer, 0.0)
    t_first = np.where(lay.p > 1, lay.layers_first * per_layer, 0.0)
    t_last = lay.layers_last * per_layer + terms["t_logits"]
    stage = np.argmax(np.stack([t_last, t_mid, t_first]), axis=0)  # ties: the last stage
    layers = np.choose(stage, [lay.layers_last, lay.layers_stage, lay.layers_first])

    def pace(part: dict[str, F]) -> dict[str, F]:
        out = {k: v * layers / lay.layers_stage if k in LAYER_TERMS else v
               for k, v in part.items()}
        if "t_logits" in out:
            out["t_logits"] = np.where(stage == 0, part["t_logits"], 0.0)
        return out

    return pace(comp), pace(net)


def comm_terms(job: TrainingJob, lay: Layout, eff: Efficiency, stack: Stack,
               t_core: F) -> dict[str, F]:
    """Exposed communication per micro-batch: TP all-reduces, EP all-to-all, CP ring, PP p2p."""
    m, sys_ = job.model, job.system
    t, c, d, p, v = lay.t, lay.c, lay.d, lay.p, lay.v
    act_bytes = lay.tok * m.hidden * 2.0  # one activation tensor, bf16
    bw_tp, a_tp = comm.group_bandwidth(sys_, t, 1, eff.comm_eff), comm.group_latency(sys_, t, 1)
    n_tp = 4.0 + 2.0 * lay.full  # all-reduces per layer (2 fwd, 2 bwd, +2 recomputed fwd)
    hidden = max(eff.tp_overlap, stack.tp_overlap)
    t_tp = lay.layers_stage * n_tp * comm.all_reduce(act_bytes, t, bw_tp, a_tp) * (1.0 - hidden)
    t_ep = np.zeros_like(t)
    if m.moe is not None:
        bw_ep = comm.group_bandwidth(sys_, lay.e, t * c, eff.comm_eff)
        a_ep = comm.group_latency(sys_, lay.e, t * c)
        n_moe = ops.moe_layer_count(m) * lay.layers_stage / m.layers
        t_ep = n_moe * (4.0 + 2.0 * lay.full) * comm.all_to_all(
            act_bytes * m.moe.top_k / t, lay.e, bw_ep, a_ep)
    kv_bytes = 2.0 * lay.tok * lay.kv_local * m.d_head * 2.0  # K and V of the local chunk
    bw_cp, a_cp = comm.group_bandwidth(sys_, c, t, eff.comm_eff), comm.group_latency(sys_, c, t)
    t_cp_raw = lay.layers_stage * 3.0 * comm.all_gather(kv_bytes * c, c, bw_cp, a_cp)
    t_cp = np.maximum(0.0, t_cp_raw - t_core)  # ring attention overlaps with the core
    stride = t * c * d  # neighbouring stages are t*c*d ranks apart (Megatron order)
    bw_pp = comm.group_bandwidth(sys_, 2.0, stride, eff.comm_eff)
    a_pp = comm.group_latency(sys_, 2.0, stride)
    split = np.where((lay.sp > 0) | stack.pp_scatter_gather, t, 1.0)  # SP or scatter/gather
    t_pp = np.where(p > 1, 2.0 * v * comm.p2p(act_bytes / split, bw_pp, a_pp), 0.0)
    return {"t_tp_comm": t_tp, "t_ep_comm": t_ep, "t_cp_comm": t_cp, "t_pp_comm": t_pp}


def exposed(comm_s: F, hiding_s: F, slowdown: float) -> F:
    """Time a collective adds when it runs alongside ``hiding_s`` seconds of compute.

    The part that does not fit under the compute is exposed; the overlapped part still costs
    ``slowdown`` of itself, because NCCL kernels take SMs and memory bandwidth from the compute
    they overlap (fitted: ``overlap_slowdown``)."""
    overlapped = np.minimum(comm_s, hiding_s)
    return comm_s - overlapped + slowdown * overlapped


def step_terms(job: TrainingJob, lay: Layout, eff: Efficiency, stack: Stack,
               t_micro: F) -> dict[str, F]:
    """Per-step terms: pipeline bubble, data-parallel gradient reduction (ZeRO-0: all-reduce
    under the last backward; ZeRO-1/2: reduce-scatter under the last backward + all-gather of
    the updated weights under the next first forward), ZeRO-3 gathers, the optimizer update."""
    sys_, acc = job.system, job.accelerator
    t, c, d, e, z = lay.t, lay.c, lay.d, lay.e, lay.z
    bw_dp = comm.group_bandwidth(sys_, d, t * c, eff.comm_eff)
    a_dp = comm.group_latency(sys_, d, t * c)
    grad = memory.GRAD_BYTES
    d_exp = np.maximum(d / e, 1.0)
    t_rs = comm.reduce_scatter(lay.dense_p * grad, d, bw_dp, a_dp) + comm.reduce_scatter(
        lay.expert_p * grad, d_exp, bw_dp, a_dp)
    t_sync = 2.0 * t_rs  # all-reduce = reduce-scatter + all-gather
    overlap = eff.dp_overlap * stack.dp_overlap
    slow = eff.overlap_slowdown
    t_bwd_last, t_fwd_first = t_micro * 2.0 / 3.0, t_micro / 3.0
    t_dp = np.where(z == 0, exposed(t_sync, overlap * t_bwd_last, slow),
                    exposed(t_rs, overlap * t_bwd_last, slow)
                    + exposed(t_rs, overlap * t_fwd_first, slow))
    t_dp = np.where(z >= 3, 0.0, t_dp)
    params = lay.dense_p + lay.expert_p
    # forward and backward all-gathers of the parameters (in the stack's gather precision)
    # and the reduce-scatter of the gradients
    fsdp_mb = (2.0 * comm.all_gather(params * stack.fsdp_param_bytes, d, bw_dp, a_dp)
               + comm.reduce_scatter(params * memory.GRAD_BYTES, d, bw_dp, a_dp))
    t_fsdp = np.where(z >= 3, lay.n_micro * exposed(fsdp_mb, eff.fsdp_overlap * t_micro, slow),
                      0.0)
    local = np.where(z >= 1, params / d, params)
    t_opt = local * optimizer_traffic(job.optimizer_state) / (acc.memory_bw * eff.mem_eff)
    return {"t_bubble": (lay.p - 1.0) / lay.v * t_micro, "t_dp_comm": t_dp,
            "t_fsdp_comm": t_fsdp, "t_optimizer": t_opt, "t_dp_sync_raw": t_sync}
