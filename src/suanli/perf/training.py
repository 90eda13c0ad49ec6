"""Training step time, memory, MFU and the cost of a run: one getter per term, one visible sum.

``evaluate(job, grid)`` works on numpy arrays of plan fields (the planner passes its whole
candidate grid at once); ``estimate(job, plan)`` wraps one plan into an :class:`Estimate`.
The terms live in ``train_terms`` (time) and ``memory`` (bytes); ``stack`` says which kernels
and overlaps the software stack has; ``plan_rules`` says which plans are valid.

Step time of the slowest pipeline stage (the last, with the output head, unless the split is
uneven: ``train_terms.slowest_stage``), with ``m`` micro-batches per step:

    T_mb    = gemm + attention + elementwise + logits + gradient accumulation pass
              + exposed TP + EP + CP + PP comm      # of the slowest stage (slowest_stage)
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
from suanli.perf import memory, ops
from suanli.perf.efficiency import Efficiency, load_efficiency
from suanli.perf.plan_rules import explain_invalid, valid_mask
from suanli.perf.stack import Stack, get_stack
from suanli.perf.train_terms import (
    comm_terms,
    compute_terms,
    exposed,
    grad_accum_time,
    layout,
    slowest_stage,
    step_terms,
)

F = NDArray[np.float64]
PLAN_FIELDS = ("tp", "pp", "dp", "ep", "cp", "micro_batch", "interleave", "zero", "recompute",
               "sp")
# every term of the step-time sum in ``evaluate``, per step (the breakdown an estimate shows)
TIME_TERMS = ("t_gemm", "t_attention", "t_elementwise", "t_logits", "t_grad_accum", "t_tp_comm",
              "t_ep_comm", "t_cp_comm", "t_pp_comm", "t_bubble", "t_dp_comm", "t_fsdp_comm",
              "t_optimizer")
__all__ = ["PLAN_FIELDS", "TIME_TERMS", "Estimate", "Plan", "TrainingJob", "estimate", "evaluate",
           "explain_invalid", "exposed", "valid_mask"]


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
    flash_attention: bool | None = None  # None: what the stack uses
    stack: str | None = None  # software stack id (perf/data/stacks.yaml); None: the default
    causal_flops: bool = False  # FLOP convention for MFU: False = full s^2 (Megatron, PaLM)
    optimizer_state: str = "fp32"  # Adam state precision: fp32 (master + m + v) or bf16
    price_usd_per_device_hour: float | None = None
    pue: float = 1.0
    carbon_g_per_kwh: float | None = None
    goodput: float = 1.0  # share of wall time spent on useful steps (failures, restarts, evals)

    @property
    def global_batch_tokens(self) -> float:
        return float(self.global_batch * self.seq_len)

    @property
    def software_stack(self) -> Stack:
        return get_stack(self.stack)

    @property
    def flash(self) -> bool:
        """Fused attention: the job's override, else what its stack uses."""
        if self.flash_attention is None:
            return self.software_stack.flash_attention
        return self.flash_attention


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

    The step time is the one visible sum below; each term comes from one function
    (``train_terms.compute_terms``, ``grad_accum_time``, ``comm_terms``, ``step_terms``;
    ``memory.memory_terms``), taken on the slowest pipeline stage (``slowest_stage``).
    Returns arrays of seconds, bytes and ratios; ``valid`` masks plans that break a rule.
    """
    eff = eff or load_efficiency().for_family(job.accelerator.family)
    stack = job.software_stack
    flash = job.flash
    lay = layout(job, g)
    comp = {**compute_terms(job, lay, eff, stack, flash),
            "t_grad_accum": grad_accum_time(job, lay, eff, stack)}
    net = comm_terms(job, lay, eff, stack, comp["t_attention"])
    comp, net = slowest_stage(lay, comp, net)  # the stage that paces the pipeline
    t_micro = (comp["t_gemm"] + comp["t_attention"] + comp["t_elementwise"] + comp["t_logits"]
               + comp["t_grad_accum"]
               + net["t_tp_comm"] + net["t_ep_comm"] + net["t_cp_comm"] + net["t_pp_comm"])
    per_step = step_terms(job, lay, eff, stack, t_micro)
    step = (lay.n_micro * t_micro + per_step["t_bubble"] + per_step["t_dp_comm"]
            + per_step["t_fsdp_comm"] + per_step["t_optimizer"])
    mem = memory.memory_terms(job, lay, stack, flash)

    fw = ops.forward_flops_per_token(job.model, job.seq_len, job.causal_flops)
    step_tokens = lay.global_batch * float(job.seq_len)
    model_flops = 3.0 * fw.total * step_tokens
    hw_flops = step_tokens * (fw.total * 3.0 + (fw.total - fw.logits) * lay.full
                              + fw.attn_scores * lay.sel)
    n_dev = lay.t * lay.p * lay.d * lay.c
    peak = job.accelerator.peak_flops(job.dtype)
    per_micro = {k: lay.n_micro * v for k, v in {**comp, **net}.items()}
    return {
        "devices": n_dev, "micro_batches": lay.n_micro, "global_batch": lay.global_batch,
        "step_time_s": step, **per_micro, **per_step, **mem,
        "model_flops": model_flops, "hw_flops": hw_flops,
        "mfu": model_flops / (n_dev * peak * step), "hfu": hw_flops / (n_dev * peak * step),
        "tokens_per_s": step_tokens / step, "valid": valid_mask(job, g),
    }


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
    global_batch: int = 0  # sequences per step actually used (adapted to dp x micro-batch)
    notes: tuple[str, ...] = ()  # what the estimate changed or assumed, in words

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
    batch = round(r["global_batch"])
    steps = job.tokens / (batch * job.seq_len)
    notes: list[str] = []
    if batch != job.global_batch:
        notes.append(f"global batch adapted from {job.global_batch} to {batch} sequences (a "
                     f"multiple of dp x micro-batch = {plan.dp * plan.micro_batch})")
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
        "time_s": {k[2:]: r[k] for k in TIME_TERMS},
        "time_sum_s": step,
        "gemm_flop_rate": r["gemm_flops"] / r["t_gemm"] if r["t_gemm"] > 0 else 0.0,
        "exposed_comm_s": comm_exposed,
        "dp_grad_sync_raw_s": r["t_dp_sync_raw"],
        "weights_gb_max_stage": r["mem_weights_max"] * gb,
        "memory_gb": {"weights": r["mem_weights"] * gb,
                      "weights_grads_optimizer": r["mem_state"] * gb,
                      "activations": r["mem_activations"] * gb,
                      "buffers_and_reserved": r["mem_buffers"] * gb},
        "micro_batches_per_step": r["micro_batches"],
        "global_batch": batch,
        "stack": job.software_stack.id,
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
        global_batch=batch, notes=tuple(notes),
    )


def with_plan(plan: Plan, **changes: Any) -> Plan:
    return replace(plan, **changes)
