"""Training step time, memory, MFU and the cost of a run: one getter per term, one visible sum.

``evaluate(job, grid)`` works on numpy arrays of plan fields (the planner passes its whole
candidate grid at once); ``estimate(job, plan)`` wraps one plan into an :class:`Estimate`.

Step time of the slowest (last) pipeline stage, with ``m`` micro-batches per step:

    T_mb    = gemm + attention + elementwise + logits + exposed TP + EP + CP + PP comm
    T_step  = (m + (p - 1) / v) * T_mb          # 1F1B with v interleaved chunks; the
                                                # (p - 1) / v * T_mb part is the bubble
              + exposed DP gradient reduction   # after the last backward (overlap partly)
              + exposed FSDP gathers            # ZeRO-3: per micro-batch, prefetch hides most
              + optimizer step                  # memory-bound Adam update of the local shard

Compute terms are rooflines: FLOPs / (peak x efficiency) for matmuls and the attention core,
bytes / (HBM bandwidth x mem_eff) for element-wise ops and unfused softmax. Sources:
Narayanan et al. 2021 (3D parallelism, bubble (p-1)/(v m), eq. 3 FLOPs), Korthikanti et al.
2022 (sequence parallel, selective recompute), Rajbhandari et al. 2020 (ZeRO).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from suanli.catalog.schema import Accelerator, ModelSpec, System
from suanli.perf import comm, memory, ops
from suanli.perf.efficiency import Efficiency, load_efficiency

F = NDArray[np.float64]
PLAN_FIELDS = ("tp", "pp", "dp", "ep", "cp", "micro_batch", "interleave", "zero", "recompute",
               "sp")
SOFTMAX_BYTES = 39.0  # unfused attention, per score element: fwd 13 B (scores, softmax in/out,
# dropout mask/out, AV read, 2-byte elements) and 2x that in backward
OPTIMIZER_TRAFFIC = 28.0  # bytes per local parameter per Adam step: read/write fp32 master, m,
# v (24), read grad (2), write bf16 weights (2)


@dataclass(frozen=True)
class TrainingJob:
    """What is trained, on what, for how long. Prices and carbon are optional."""

    model: ModelSpec
    system: System
    accelerator: Accelerator
    tokens: float  # training tokens
    seq_len: int
    global_batch: int  # sequences per optimizer step
    dtype: str = "bf16"  # matmul precision: bf16, fp16, fp8 (tf32/fp32 allowed)
    flash_attention: bool = True
    causal_flops: bool = False  # FLOP convention for MFU: False = full s^2 (Megatron, PaLM)
    price_usd_per_device_hour: float | None = None
    pue: float = 1.0
    carbon_g_per_kwh: float | None = None
    goodput: float = 1.0  # share of wall time spent on useful steps (failures, restarts, evals)

    @property
    def global_batch_tokens(self) -> float:
        return float(self.global_batch * self.seq_len)


@dataclass(frozen=True)
class Plan:
    """One parallel execution plan. ``devices = tp * pp * dp * cp``; ``ep`` divides ``dp``."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: int = 1
    cp: int = 1
    micro_batch: int = 1
    interleave: int = 1
    zero: int = 0
    recompute: str = "none"  # none | selective | full
    sp: bool = False

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    def as_arrays(self) -> dict[str, F]:
        vals = {f: getattr(self, f) for f in PLAN_FIELDS}
        vals["recompute"] = memory.RECOMPUTE_NAMES.index(self.recompute)
        return {k: np.asarray([float(v)]) for k, v in vals.items()}


def evaluate(job: TrainingJob, g: dict[str, F], eff: Efficiency | None = None) -> dict[str, F]:
    """Every term of the model for every plan in the grid ``g`` (arrays of equal shape).

    Returns arrays of seconds, bytes and ratios; ``valid`` masks plans that break a rule.
    """
    m, sys_, acc = job.model, job.system, job.accelerator
    eff = eff or load_efficiency().for_family(acc.family)
    fam = eff.family
    t, p, d, e, c = g["tp"], g["pp"], g["dp"], g["ep"], g["cp"]
    b, v, z, r = g["micro_batch"], g["interleave"], g["zero"], g["recompute"]
    sp = np.where(t > 1, g["sp"], 0.0)
    s, h, L = float(job.seq_len), float(m.hidden), float(m.layers)
    peak = acc.peak_flops(job.dtype)  # FLOP/s
    peak_attn = acc.peak_flops("bf16") if job.dtype == "fp8" and acc.bf16_tflops else peak
    hbm = acc.memory_bw * eff.mem_eff  # bytes/s
    n_micro = job.global_batch / (d * b)  # micro-batches per pipeline per step
    # layers on the busiest stage: ceil(L / (p v)) per chunk, v chunks (uneven splits allowed,
    # as Megatron-core's first/last-stage options; the busiest stage sets the pace)
    Lp = np.ceil(L / (p * v)) * v
    full = (r == memory.RECOMPUTE_FULL).astype(np.float64)
    sel = (r == memory.RECOMPUTE_SELECTIVE).astype(np.float64)

    # --- FLOPs per micro-batch on one device of the last stage (forward) ----------------------
    fw = ops.forward_flops_per_token(m, job.seq_len, job.causal_flops)
    tok = b * s / c  # tokens per device per micro-batch
    gemm_fwd = tok * (fw.qkv + fw.attn_out + fw.mlp + fw.router) * (Lp / L) / t
    core_fwd = tok * fw.attn_scores * (Lp / L) / t
    logit_fwd = tok * fw.logits / t
    gemm_passes = 3.0 + full  # fwd + 2x bwd (+ fwd again under full recompute)
    core_passes = 3.0 + np.maximum(full, sel)

    # --- compute time terms (seconds per micro-batch) ------------------------------------------
    gemm_eff = fam.gemm(h / t)
    t_gemm = gemm_fwd * gemm_passes / (peak * gemm_eff)
    t_logits = logit_fwd * 3.0 / (peak * gemm_eff) + tok * m.vocab / t * 4.0 * 4 / hbm
    # fused (FlashAttention) kernels run at attn_eff; unfused attention is two batched GEMMs
    # whose inner dimension is the head size, plus its softmax/dropout traffic below
    attn_eff = fam.attn_eff if job.flash_attention else fam.gemm(float(m.d_head))
    t_core = core_fwd * core_passes / (peak_attn * attn_eff)
    if not job.flash_attention:  # softmax/dropout traffic over the s x s score matrix
        scores = Lp * b * (m.heads / t) * s * (s / c)  # elements per device
        t_core = t_core + scores * SOFTMAX_BYTES * core_passes / 3.0 / hbm
    ffn_width = m.ffn_hidden * (1.5 if m.gated else 1.0)
    if m.moe is not None:
        ffn_width = m.moe.expert_ffn_hidden * (m.moe.top_k + m.moe.shared_experts) * (
            1.5 if m.gated else 1.0)
    elem_per_tok = fam.elem_bytes * (h / np.where(sp > 0, t, 1.0) + ffn_width / t)
    t_elem = Lp * tok * elem_per_tok * gemm_passes / 3.0 / hbm

    # --- communication per micro-batch ----------------------------------------------------------
    act_bytes = tok * h * 2.0  # one activation tensor, bf16
    bw_tp, a_tp = comm.group_bandwidth(sys_, t, 1, eff.comm_eff), comm.group_latency(sys_, t, 1)
    n_tp = 4.0 + 2.0 * full  # all-reduces per layer (2 fwd, 2 bwd, +2 recomputed fwd)
    t_tp = Lp * n_tp * comm.all_reduce(act_bytes, t, bw_tp, a_tp) * (1.0 - eff.tp_overlap)
    t_ep = np.zeros_like(t)
    if m.moe is not None:
        bw_ep = comm.group_bandwidth(sys_, e, t * c, eff.comm_eff)
        a_ep = comm.group_latency(sys_, e, t * c)
        n_moe = ops.moe_layer_count(m) * Lp / L
        t_ep = n_moe * (4.0 + 2.0 * full) * comm.all_to_all(
            act_bytes * m.moe.top_k / t, e, bw_ep, a_ep)
    kv_bytes = 2.0 * tok * m.n_kv_heads * m.d_head * 2.0 / t  # K and V of the local chunk
    bw_cp, a_cp = comm.group_bandwidth(sys_, c, t, eff.comm_eff), comm.group_latency(sys_, c, t)
    t_cp_raw = Lp * 3.0 * comm.all_gather(kv_bytes * c, c, bw_cp, a_cp)
    t_cp = np.maximum(0.0, t_cp_raw - t_core)  # ring attention overlaps with the core
    stage_stride = t * c * d  # neighbouring stages are t*c*d ranks apart (Megatron order)
    bw_pp = comm.group_bandwidth(sys_, 2.0, stage_stride, eff.comm_eff)
    t_pp = np.where(p > 1, 2.0 * v * comm.p2p(act_bytes / np.where(sp > 0, t, 1.0), bw_pp,
                                                comm.group_latency(sys_, 2.0, stage_stride)), 0.0)
    t_micro = t_gemm + t_core + t_elem + t_logits + t_tp + t_ep + t_cp + t_pp

    # --- per step --------------------------------------------------------------------------------
    t_pipeline = n_micro * t_micro
    t_bubble = (p - 1.0) / v * t_micro
    shape = memory.ModelShape.of(m)
    dense_p, expert_p = memory.stage_params(shape, m.layers, t, Lp / L, e)
    dense_p = dense_p + shape.embed_params / t * np.where(p > 1, 0.0, 1.0) \
        + shape.head_params / t  # last stage holds the head (and the embedding when p == 1)
    bw_dp = comm.group_bandwidth(sys_, d, t * c, eff.comm_eff)
    a_dp = comm.group_latency(sys_, d, t * c)
    # ZeRO-0: all-reduce the gradients under the last backward. ZeRO-1/2 (distributed
    # optimizer): reduce-scatter under the last backward, then all-gather the updated weights
    # under the next step's first forward (Megatron --overlap-param-gather).
    grad_bytes = memory.GRAD_BYTES
    d_exp = np.maximum(d / e, 1.0)
    t_rs = comm.reduce_scatter(dense_p * grad_bytes, d, bw_dp, a_dp) + comm.reduce_scatter(
        expert_p * grad_bytes, d_exp, bw_dp, a_dp)
    t_dp_sync = 2.0 * t_rs  # all-reduce = reduce-scatter + all-gather
    t_bwd_last, t_fwd_first = t_micro * 2.0 / 3.0, t_micro / 3.0
    slow = eff.overlap_slowdown
    t_dp = np.where(z == 0, exposed(t_dp_sync, eff.dp_overlap * t_bwd_last, slow),
                    exposed(t_rs, eff.dp_overlap * t_bwd_last, slow)
                    + exposed(t_rs, eff.dp_overlap * t_fwd_first, slow))
    t_dp = np.where(z >= 3, 0.0, t_dp)
    fsdp_mb = 3.0 * comm.all_gather((dense_p + expert_p) * memory.WEIGHT_BYTES, d, bw_dp, a_dp)
    t_fsdp = np.where(z >= 3, n_micro * exposed(fsdp_mb, eff.fsdp_overlap * t_micro,
                                                 eff.overlap_slowdown), 0.0)
    local = np.where(z >= 1, (dense_p + expert_p) / d, dense_p + expert_p)
    t_opt = local * OPTIMIZER_TRAFFIC / hbm
    step = t_pipeline + t_bubble + t_dp + t_fsdp + t_opt

    # --- memory per device (max of first and last stage) --------------------------------------
    in_flight = np.minimum(p, n_micro)
    acts = memory.activation_bytes(m, shape, s / c, b, t, p, Lp / L, v, sp, r,
                                   job.flash_attention, in_flight)
    acts_last = memory.activation_bytes(m, shape, s / c, b, t, p, Lp / L, v, sp, r,
                                        job.flash_attention, np.ones_like(p))
    first_p = dense_p - shape.head_params / t + shape.embed_params / t
    state_first = memory.model_state_bytes(first_p, expert_p, d, e, z)
    state_last = memory.model_state_bytes(dense_p, expert_p, d, e, z)
    logits_buf = tok * m.vocab / t * 4.0 * 2.0  # fp32 logits and their gradient
    fsdp_buf = np.where(z >= 3, 2.0 * (dense_p + expert_p) / np.maximum(Lp, 1.0) * 2.0, 0.0)
    mem_first = state_first + acts + fsdp_buf
    mem_last = state_last + acts_last + logits_buf + fsdp_buf
    use_first = mem_first >= mem_last
    mem_total = np.maximum(mem_first, mem_last)

    # --- throughput metrics ---------------------------------------------------------------------
    n_dev = t * p * d * c
    step_tokens = job.global_batch_tokens
    model_flops = 3.0 * fw.total * step_tokens
    hw_flops = step_tokens * (fw.total * 3.0 + (fw.total - fw.logits) * full
                              + fw.attn_scores * sel)
    valid = valid_mask(job, g)
    return {
        "devices": n_dev, "micro_batches": n_micro, "step_time_s": step,
        "t_gemm": n_micro * t_gemm, "t_attention": n_micro * t_core,
        "t_elementwise": n_micro * t_elem, "t_logits": n_micro * t_logits,
        "t_tp_comm": n_micro * t_tp, "t_ep_comm": n_micro * t_ep, "t_cp_comm": n_micro * t_cp,
        "t_pp_comm": n_micro * t_pp, "t_bubble": t_bubble, "t_dp_comm": t_dp, "t_fsdp_comm": t_fsdp,
        "t_optimizer": t_opt, "t_dp_sync_raw": t_dp_sync,
        "mem_weights": np.where(use_first, first_p, dense_p) * memory.WEIGHT_BYTES
        / np.where(z >= 3, d, 1.0) + expert_p * memory.WEIGHT_BYTES,
        "mem_state": np.where(use_first, state_first, state_last),
        "mem_activations": np.where(use_first, acts, acts_last),
        "mem_buffers": np.where(use_first, 0.0, logits_buf) + fsdp_buf + memory.RESERVED_BYTES,
        "mem_total": mem_total + memory.RESERVED_BYTES,
        "mem_usable": np.full_like(step, memory.usable_bytes(acc.memory_bytes)
                                   + memory.RESERVED_BYTES),
        "model_flops": np.full_like(step, model_flops), "hw_flops": hw_flops,
        "mfu": model_flops / (n_dev * peak * step), "hfu": hw_flops / (n_dev * peak * step),
        "tokens_per_s": step_tokens / step, "valid": valid,
    }


def exposed(comm_s: F, hiding_s: F, slowdown: float) -> F:
    """Time a collective adds when it runs alongside ``hiding_s`` seconds of compute.

    The part that does not fit under the compute is exposed; the overlapped part still costs
    ``slowdown`` of itself, because NCCL kernels take SMs and memory bandwidth from the compute
    they overlap (fitted: ``overlap_slowdown``)."""
    overlapped = np.minimum(comm_s, hiding_s)
    return comm_s - overlapped + slowdown * overlapped


def valid_mask(job: TrainingJob, g: dict[str, F]) -> NDArray[np.bool_]:
    """Plan rules (Megatron-LM / DeepSpeed constraints), as a mask over the grid ``g``."""
    m = job.model
    n_micro = job.global_batch / (g["dp"] * g["micro_batch"])
    t, p, d, e, c, v, z = (g[k] for k in ("tp", "pp", "dp", "ep", "cp", "interleave", "zero"))
    kv = m.n_kv_heads
    ok = (m.heads % t == 0) & ((kv % t == 0) | (t % kv == 0))
    ok &= (p * v <= m.layers) & ((v == 1) | (p > 1))
    ok &= (n_micro >= 1) & (np.abs(n_micro - np.round(n_micro)) < 1e-9)
    ok &= (v == 1) | (np.mod(np.round(n_micro), p) == 0)  # interleaving needs m % p == 0
    ok &= (np.mod(d, e) == 0) & ((e == 1) | (m.moe is not None))
    if m.moe is not None:
        ok &= np.mod(m.moe.num_experts, e) == 0
    ok &= np.mod(job.seq_len, c) == 0
    ok &= ~((z >= 2) & (p > 1))  # ZeRO-2/3 with pipeline parallel: unsupported (DeepSpeed)
    ok &= (g["sp"] == 0) | (t > 1)
    return ok


@dataclass(frozen=True)
class Estimate:
    """The answer for one plan: headline metrics plus the breakdown they sum from."""

    job: TrainingJob
    plan: Plan
    step_time_s: float
    tokens_per_s: float
    mfu: float
    hfu: float
    tflops_per_device: float  # achieved model FLOP/s per device, in TFLOP/s
    total_flops: float  # model FLOPs of the whole run
    hardware_flops: float  # with recompute
    steps: float
    days: float
    device_hours: float
    cost_usd: float | None
    energy_kwh: float
    co2_kg: float | None
    memory_per_device_gb: float
    memory_usable_gb: float
    fits: bool
    serial_fraction: float  # share of step time that more devices do not shrink
    breakdown: dict[str, Any] = field(default_factory=dict)

    @property
    def amdahl_max_speedup(self) -> float:
        return 1.0 / self.serial_fraction if self.serial_fraction > 0 else float("inf")


def power_per_device_w(job: TrainingJob) -> float:
    """Accelerator TDP plus its share of host power (CPUs, NICs, switches), watts.

    TDP as the training draw follows Meta's Llama carbon accounting (Touvron et al. 2023)."""
    return (job.accelerator.tdp_w or 0.0) + job.system.host_power_w_per_device


def estimate(job: TrainingJob, plan: Plan, eff: Efficiency | None = None) -> Estimate:
    """Evaluate one plan. Use ``suanli.plan.search`` to find a good one."""
    from suanli.errors import InputError

    r = {k: float(v[0]) for k, v in evaluate(job, plan.as_arrays(), eff).items()}
    if not r["valid"]:
        raise InputError(explain_invalid(job, plan))
    step = r["step_time_s"]
    steps = job.tokens / job.global_batch_tokens
    seconds = steps * step / job.goodput
    n = plan.devices
    device_hours = seconds * n / 3600.0
    price = job.price_usd_per_device_hour
    if price is None:
        price = job.system.price_usd_per_device_hour or job.accelerator.price_usd_per_hour
    energy = device_hours * power_per_device_w(job) / 1000.0 * job.pue
    comm_exposed = r["t_tp_comm"] + r["t_ep_comm"] + r["t_cp_comm"] + r["t_pp_comm"] \
        + r["t_dp_comm"] + r["t_fsdp_comm"]
    serial = (r["t_bubble"] + r["t_dp_comm"] + r["t_fsdp_comm"] + r["t_optimizer"]) / step
    gb = 1e-9
    breakdown = {
        "time_s": {k[2:]: r[k] for k in ("t_gemm", "t_attention", "t_elementwise", "t_logits",
                                         "t_tp_comm", "t_ep_comm", "t_cp_comm", "t_pp_comm",
                                         "t_bubble", "t_dp_comm", "t_fsdp_comm", "t_optimizer")},
        "time_sum_s": step,
        "exposed_comm_s": comm_exposed,
        "dp_grad_sync_raw_s": r["t_dp_sync_raw"],
        "memory_gb": {"weights": r["mem_weights"] * gb,
                      "weights_grads_optimizer": r["mem_state"] * gb,
                      "activations": r["mem_activations"] * gb,
                      "buffers_and_reserved": r["mem_buffers"] * gb},
        "micro_batches_per_step": r["micro_batches"],
        "flops_convention": "causal (half s^2)" if job.causal_flops else
        "full s^2 attention (Megatron eq. 3 / PaLM App. B)",
        "six_nd_flops": ops.six_nd(job.model, job.tokens),
        "amdahl": {"serial_fraction": serial,
                   "max_speedup": 1.0 / serial if serial > 0 else None},
        "efficiency": {"family": job.accelerator.family, "fitted": (eff or load_efficiency()
                       .for_family(job.accelerator.family)).fitted},
    }
    return Estimate(
        job=job, plan=plan, step_time_s=step, tokens_per_s=r["tokens_per_s"], mfu=r["mfu"],
        hfu=r["hfu"], tflops_per_device=r["model_flops"] / step / n / 1e12,
        total_flops=r["model_flops"] * steps, hardware_flops=r["hw_flops"] * steps,
        steps=steps, days=seconds / 86_400.0, device_hours=device_hours,
        cost_usd=device_hours * price if price else None, energy_kwh=energy,
        co2_kg=energy * job.carbon_g_per_kwh / 1000.0 if job.carbon_g_per_kwh else None,
        memory_per_device_gb=r["mem_total"] * gb, memory_usable_gb=r["mem_usable"] * gb,
        fits=r["mem_total"] <= r["mem_usable"], serial_fraction=serial, breakdown=breakdown,
    )


def explain_invalid(job: TrainingJob, plan: Plan) -> str:
    """Say which rule a plan breaks and how to fix it."""
    m = job.model
    if m.heads % plan.tp or not (m.n_kv_heads % plan.tp == 0 or plan.tp % m.n_kv_heads == 0):
        return (f"--tp {plan.tp} does not divide {m.name}'s {m.heads} attention heads "
                f"({m.n_kv_heads} KV heads); pick a divisor")
    if plan.pp * plan.interleave > m.layers:
        return (f"--pp {plan.pp} x interleave {plan.interleave} exceeds {m.name}'s {m.layers} "
                "layers; use fewer stages")
    per = plan.dp * plan.micro_batch
    if job.global_batch % per:
        return (f"global batch {job.global_batch} sequences is not a multiple of dp x "
                f"micro-batch = {per}; change --global-batch, --dp or --micro-batch")
    if plan.interleave > 1 and plan.pp == 1:
        return "--interleave needs pipeline parallelism (--pp > 1)"
    if plan.interleave > 1 and (job.global_batch // per) % plan.pp:
        return "interleaved pipelining needs the number of micro-batches to be a multiple of --pp"
    if plan.ep > 1 and (m.moe is None or plan.dp % plan.ep or m.moe.num_experts % plan.ep):
        return "--ep must divide both --dp and the number of experts (and needs an MoE model)"
    if job.seq_len % plan.cp:
        return f"--cp {plan.cp} must divide the sequence length {job.seq_len}"
    if plan.zero >= 2 and plan.pp > 1:
        return "ZeRO stage 2/3 cannot be combined with pipeline parallelism; use --zero 1"
    if plan.sp and plan.tp == 1:
        return "sequence parallelism needs --tp > 1"
    return "the plan breaks a parallelism rule"


def with_plan(plan: Plan, **changes: Any) -> Plan:
    return replace(plan, **changes)
