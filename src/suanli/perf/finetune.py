"""Fine-tuning: full, LoRA and QLoRA, on a few devices, with CPU offload. One function per term.

A fine-tuning job runs data parallel over ``d`` devices (optionally fully sharded, FSDP /
ZeRO-3), micro-batch ``b`` of sequences of length ``s``, gradient checkpointing on or off, and
optimizer or parameter offload to the host or NVMe (ZeRO-Offload, Ren et al. 2021;
ZeRO-Infinity, Rajbhandari et al. 2021; ``perf.offload``). Per device:

    memory = base weights + trainable state (weights, grads, Adam) + activations + logits
             + sharding / dequant buffers         (+ host RAM / NVMe for what is offloaded)
    T_micro = GEMMs + attention core + element-wise + adapters + QLoRA dequant
    T_step  = n_micro x T_micro + DP gradient sync + optimizer (GPU or CPU) + exposed PCIe
    epoch   = dataset tokens / (global batch tokens / T_step)

Methods (Hu et al. 2021, LoRA; Dettmers et al. 2023, QLoRA):

* **full**: every weight trains; mixed-precision Adam keeps 2 + 2 + 12 bytes per parameter.
* **lora**: the base stays frozen in its dtype; each targeted ``d_in x d_out`` linear gets
  ``r (d_in + d_out)`` adapter weights, trained in fp32 (PEFT's default upcast: 4 B weight,
  4 B grad, 8 B Adam moments). Frozen weights need no weight gradient, so the backward runs
  only the input-gradient GEMM: ``2F`` per token instead of ``3F`` (about 4ND instead of 6ND).
* **qlora**: as lora, with the frozen block linears in 4-bit NF4 plus double-quantized
  constants: 8-bit constants per 64-weight block and an fp32 constant per 256 of those,
  ``8/64 + 32/(64 x 256) = 0.127`` bits per parameter (Dettmers et al. 2023, Sec. 3).
  Embeddings and the output head stay 16-bit (bitsandbytes skips them). Each pass over a
  quantized weight first dequantizes it to bf16: read 0.5 B, write 2 B per weight.

Activations per layer are Korthikanti et al. (2022)'s count (``perf.memory``), with ``t = 1``;
gradient checkpointing keeps each layer's input (``2 s b h`` bytes) plus one layer's full set
while it is recomputed, and adds one forward pass of compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from suanli.catalog.schema import Accelerator, ModelSpec, System
from suanli.perf import comm, memory, offload, ops
from suanli.perf.adapters import adapter_params, linear_params, linear_shapes, target_names
from suanli.perf.efficiency import Efficiency, load_efficiency
from suanli.perf.training import exposed

METHODS = ("full", "lora", "qlora")

NF4_BYTES = 4.0 / 8.0  # bytes per quantized weight
DQ_CONST_BYTES = (8.0 / 64.0 + 32.0 / (64.0 * 256.0)) / 8.0  # 0.127 bits per weight
DEQUANT_TRAFFIC = NF4_BYTES + DQ_CONST_BYTES + 2.0  # read 4-bit + constants, write bf16
ADAPTER_WEIGHT_BYTES = 4.0  # fp32 adapters (PEFT autocast_adapter_dtype)
ADAPTER_GRAD_BYTES = 4.0
ADAM_MOMENT_BYTES = 8.0  # fp32 m and v
LOGITS_BYTES = 2.0  # bf16 logits, kept for the loss
LOSS_FP32_BYTES = 16.0  # fp32 upcast + log-softmax + their gradients, per logit element
GRAD_BUCKET_PARAMS = 5e8  # DeepSpeed reduce_bucket_size default (gradients staged for offload)


@dataclass(frozen=True)
class FinetuneJob:
    """What is fine-tuned, how, on what, on how much data."""

    model: ModelSpec
    system: System
    accelerator: Accelerator
    method: str = "lora"  # full | lora | qlora
    lora_rank: int = 16
    targets: str = "all"  # attention | mlp | all (attention + MLP) | a list such as "q,v,o,mlp"
    dataset_tokens: float = 1e8  # tokens in one epoch
    epochs: float = 1.0
    seq_len: int = 2048
    global_batch: int = 16  # sequences per optimizer step
    dtype: str = "bf16"
    adapter_dtype: str = "fp32"  # fp32 (PEFT's default upcast) | bf16 (torchtune, QLoRA repo)
    logits_chunks: int = 1  # 1 = HF (fp32 logits + grad in one piece); 8 = torchtune chunked CE
    price_usd_per_device_hour: float | None = None
    price_text: str | None = None  # the price as the user typed it ('¥15/h')
    pue: float = 1.0


@dataclass(frozen=True)
class FinetunePlan:
    devices: int = 1
    micro_batch: int = 1
    checkpointing: bool = True
    offload: str = "none"  # none | optimizer | params | nvme
    shard: bool = False  # FSDP / ZeRO-3: shard weights, grads and optimizer over the devices


@dataclass(frozen=True)
class FinetuneEstimate:
    job: FinetuneJob
    plan: FinetunePlan
    memory_gb: dict[str, float]  # per device, by term
    memory_per_device_gb: float  # sum of the terms (what PyTorch allocates)
    memory_usable_gb: float  # capacity minus CUDA context and allocator slack
    fits: bool
    host_memory_gb: float  # per node, for offloaded state
    nvme_gb: float  # per node, optimizer state on NVMe (--offload nvme)
    time_s: dict[str, float]  # per optimizer step, by term
    step_time_s: float
    tokens_per_s: float
    epoch_hours: float
    total_hours: float
    device_hours: float
    cost_usd: float | None
    energy_kwh: float
    trainable_params: float
    frozen_params: float
    hfu: float  # executed FLOP/s over peak
    price_label: str | None  # which price the cost uses
    notes: list[str] = field(default_factory=list)

    @property
    def days(self) -> float:
        return self.total_hours / 24.0


# --- parameter counts ------------------------------------------------------------------------

def trainable_params(job: FinetuneJob) -> float:
    if job.method == "full":
        return float(ops.param_count(job.model))
    return adapter_params(job.model, job.lora_rank, job.targets)


# --- memory terms (bytes per device) ----------------------------------------------------------

def frozen_dtype_bytes(job: FinetuneJob) -> float:
    """Bytes per frozen weight in the compute dtype: 4 for fp32/tf32, else 2 (an fp8 run keeps
    16-bit weights and casts them per GEMM, as ``perf.memory.WEIGHT_BYTES`` says)."""
    return 4.0 if job.dtype in ("fp32", "tf32") else memory.WEIGHT_BYTES


def base_weight_bytes(job: FinetuneJob) -> float:
    """Frozen base weights: in their dtype for LoRA, NF4 + double-quant constants for QLoRA's
    block linears (embeddings and head in their dtype); 0 for full (in the trainable state)."""
    n = float(ops.param_count(job.model))
    if job.method == "full":
        return 0.0
    if job.method == "lora":
        return n * frozen_dtype_bytes(job)
    lin = linear_params(job.model)
    return lin * (NF4_BYTES + DQ_CONST_BYTES) + (n - lin) * frozen_dtype_bytes(job)


def state_split(job: FinetuneJob, where: str) -> offload.StateSplit:
    """Trainable weights, gradients and Adam states (whole model, before sharding), on the
    device and on the host. Full: 2 + 2 + 12 B per parameter; adapters: ``adapter_dtype``
    weights and gradients, fp32 Adam moments."""
    p = trainable_params(job)
    if job.method == "full":
        w, g, o = memory.WEIGHT_BYTES, memory.GRAD_BYTES, memory.OPTIMIZER_BYTES
    else:
        w = g = ADAPTER_WEIGHT_BYTES if job.adapter_dtype == "fp32" else memory.WEIGHT_BYTES
        o = ADAM_MOMENT_BYTES
    return offload.split_state(p, w, g, o, where)


def activation_bytes(job: FinetuneJob, plan: FinetunePlan) -> float:
    """Stored activations of one micro-batch (Korthikanti et al. 2022 with t = 1, flash
    attention); with checkpointing, the layer inputs plus one layer recomputed in full."""
    m = job.model
    one = np.ones(1)
    s, b = float(job.seq_len) * one, float(plan.micro_batch) * one

    n_moe = ops.moe_layer_count(m)

    def layers(recompute: int) -> tuple[float, float]:  # (all layers, the largest one)
        r = recompute * one
        dense = float(memory.layer_activation_bytes(m, s, b, one, 0.0 * one, r, True)[0])
        moe = float(memory.layer_activation_bytes(m, s, b, one, 0.0 * one, r, True,
                                                  moe_layer=True)[0]) if n_moe else 0.0
        return (m.layers - n_moe) * dense + n_moe * moe, max(dense, moe)

    if not plan.checkpointing:
        acts = layers(memory.RECOMPUTE_NONE)[0]
    else:  # layer inputs, plus the layer being recomputed in full
        acts = layers(memory.RECOMPUTE_FULL)[0] + layers(memory.RECOMPUTE_NONE)[1]
    if job.method != "full":  # the low-rank intermediate x A of every adapter (2 bytes)
        acts += 2.0 * job.seq_len * plan.micro_batch * job.lora_rank * len(
            target_names(job.targets)) * m.layers
    return acts


def logits_bytes(job: FinetuneJob, plan: FinetunePlan) -> float:
    """Output logits and the loss's tensors at the peak of its backward: the 16-bit logits
    (2 B per element) plus four fp32 tensors of the cross-entropy (the upcast logits, their
    log-softmax, and the two gradients: 16 B), all at once in Hugging Face's loss
    (``logits.float()``), one of ``logits_chunks`` pieces at a time in torchtune's
    ``CEWithChunkedOutputLoss``."""
    n = float(job.seq_len * plan.micro_batch * job.model.vocab)
    return n * (LOGITS_BYTES + LOSS_FP32_BYTES / job.logits_chunks)


def layer_weight_bytes(job: FinetuneJob, stored: bool = False) -> float:
    """One transformer layer's weights in 16-bit (``stored``: in the dtype they are kept and
    gathered in, NF4 under QLoRA), a sharding / offload / dequant buffer."""
    n = linear_params(job.model) / job.model.layers
    per = NF4_BYTES + DQ_CONST_BYTES if stored and job.method == "qlora" else memory.WEIGHT_BYTES
    return n * per


# --- the estimate -----------------------------------------------------------------------------

def memory_terms(job: FinetuneJob,
                 plan: FinetunePlan) -> tuple[dict[str, float], offload.StateSplit]:
    """Bytes per device by term, and the offloaded bytes per device (host RAM, NVMe)."""
    shard = plan.devices if plan.shard else 1
    base = base_weight_bytes(job)
    state = state_split(job, plan.offload)
    host = state.host
    if plan.offload in ("params", "nvme"):  # the frozen base streams from the host too
        host += base
        base = 2.0 * layer_weight_bytes(job, stored=True) * shard  # current + prefetched layer
    terms = {
        "base weights (frozen)": base / shard,
        "trainable weights, grads, optimizer": state.device / shard,
        "activations": activation_bytes(job, plan),
        "logits": logits_bytes(job, plan),
        "buffers (FSDP gather, dequant, grad buckets)": _buffer_bytes(job, plan),
    }
    return terms, offload.StateSplit(device=0.0, host=host / shard, nvme=state.nvme / shard)


def micro_batch_terms(job: FinetuneJob, plan: FinetunePlan, eff: Efficiency) -> dict[str, float]:
    """Seconds per micro-batch on one device, by term (rooflines, as ``perf.training``)."""
    m, acc, fam = job.model, job.accelerator, eff.family
    fw = ops.forward_flops_per_token(m, job.seq_len)
    tok = float(plan.micro_batch * job.seq_len)
    ckpt = 1.0 if plan.checkpointing else 0.0
    frozen = job.method != "full"
    gemm_passes = (2.0 if frozen else 3.0) + ckpt  # frozen: no weight-gradient GEMM
    logit_passes = 2.0 if frozen else 3.0  # the head is frozen under LoRA
    peak = acc.peak_flops(job.dtype)
    hbm = acc.memory_bw * eff.mem_eff
    gemm_fwd = tok * (fw.qkv + fw.attn_out + fw.mlp + fw.router)
    ffn_w = (m.moe.expert_ffn_hidden * (m.moe.top_k + m.moe.shared_experts) if m.moe
             else m.ffn_hidden) * (1.5 if m.gated else 1.0)
    return {
        "gemm": (gemm_fwd * gemm_passes + tok * fw.logits * logit_passes)
        / (peak * float(fam.gemm(m.hidden))),
        "attention": tok * fw.attn_scores * (3.0 + ckpt) / (peak * fam.attn_eff),
        "elementwise": m.layers * tok * fam.elem_bytes * (m.hidden + ffn_w) * (3.0 + ckpt)
        / 3.0 / hbm,
        "adapters": _adapter_time(job, tok, ckpt, hbm) if frozen else 0.0,
        "qlora_dequant": linear_params(m) * DEQUANT_TRAFFIC * (2.0 + ckpt) / hbm
        if job.method == "qlora" else 0.0,
    }


def step_terms(job: FinetuneJob, plan: FinetunePlan, eff: Efficiency) -> dict[str, float]:
    """Seconds per optimizer step, by term: micro-batches, DP sync, FSDP gathers, optimizer,
    offload traffic."""
    sys_, d = job.system, plan.devices
    shard = d if plan.shard else 1
    micro = micro_batch_terms(job, plan, eff)
    t_micro = sum(micro.values())
    n_micro = job.global_batch / (d * plan.micro_batch)
    passes = 3.0 if plan.checkpointing else 2.0  # passes over the weights per micro-batch
    p_local = trainable_params(job) / shard
    bw, alpha = comm.group_bandwidth(sys_, d, 1, eff.comm_eff), comm.group_latency(sys_, d, 1)
    t_dp = float(comm.all_reduce(trainable_params(job) * memory.GRAD_BYTES, d, bw, alpha)) \
        * (1.0 - eff.dp_overlap)
    weights = base_weight_bytes(job) + (trainable_params(job) * memory.WEIGHT_BYTES
                                        if job.method == "full" else 0.0)
    t_fsdp = 0.0
    if plan.shard and d > 1:  # all-gather the weights for every pass, under the compute
        gather = comm.reduce_scatter(weights * passes, d, bw, alpha)
        t_fsdp = n_micro * float(exposed(gather, np.asarray(eff.fsdp_overlap * t_micro),
                                         eff.overlap_slowdown))
    if plan.offload == "none":
        t_opt = p_local * memory_traffic_adam(job) / (job.accelerator.memory_bw * eff.mem_eff)
        t_pcie = 0.0
    else:
        t_opt = offload.cpu_adam_s(p_local, sys_, eff.mem_eff)
        t_pcie = offload.step_transfer_s(p_local, sys_)
        if plan.offload == "nvme":
            t_opt += offload.nvme_step_s(p_local, sys_)
        if plan.offload in ("params", "nvme"):
            t_pcie += offload.stream_exposed_s(weights / shard, passes, n_micro, t_micro, sys_,
                                               eff.fsdp_overlap, eff.overlap_slowdown)
    return {**{k: n_micro * v for k, v in micro.items()}, "dp_grad_sync": t_dp,
            "fsdp_gather": t_fsdp, "optimizer": t_opt, "offload_pcie": t_pcie}


def estimate_finetune(job: FinetuneJob, plan: FinetunePlan,
                      eff: Efficiency | None = None) -> FinetuneEstimate:
    """Memory, step time, epoch time and cost of one fine-tuning plan (terms summed visibly)."""
    from suanli.money import price_for

    _check(job, plan)
    m, acc, sys_ = job.model, job.accelerator, job.system
    eff = eff or load_efficiency().for_family(acc.family)
    mem, away = memory_terms(job, plan)
    total = sum(mem.values())
    time = step_terms(job, plan, eff)
    step = sum(time.values())
    tokens_per_s = job.global_batch * job.seq_len / step
    epoch_h = job.dataset_tokens / tokens_per_s / 3600.0
    device_hours = epoch_h * job.epochs * plan.devices
    choice = price_for(sys_, acc, job.price_usd_per_device_hour, job.price_text)
    power = (acc.tdp_w or 0.0) + sys_.host_power_w_per_device
    notes: list[str] = []
    host_gb = offload.host_memory_gb(away.host, sys_, plan.devices)
    host_ok = not (sys_.host_memory_gb and host_gb > sys_.host_memory_gb)
    if not host_ok:
        notes.append(f"offloaded state needs {host_gb:,.0f} GB of host RAM per node; the node "
                     f"has {sys_.host_memory_gb:,.0f} GB (--offload nvme keeps the optimizer "
                     "state on NVMe)")
    fw = ops.forward_flops_per_token(m, job.seq_len)
    frozen = job.method != "full"
    ckpt = 1.0 if plan.checkpointing else 0.0
    per_token = fw.total * (3.0 + ckpt) - (fw.total - fw.attn_scores) * (1.0 if frozen else 0.0)
    return FinetuneEstimate(
        job=job, plan=plan, memory_gb={k: v / 1e9 for k, v in mem.items()},
        memory_per_device_gb=total / 1e9,
        memory_usable_gb=memory.usable_bytes(acc.memory_bytes) / 1e9,
        fits=total <= memory.usable_bytes(acc.memory_bytes) and host_ok,
        host_memory_gb=host_gb, nvme_gb=offload.host_memory_gb(away.nvme, sys_, plan.devices),
        time_s=time, step_time_s=step, tokens_per_s=tokens_per_s,
        epoch_hours=epoch_h, total_hours=epoch_h * job.epochs, device_hours=device_hours,
        cost_usd=device_hours * choice.usd_per_hour if choice else None,
        energy_kwh=device_hours * power / 1000.0 * job.pue,
        trainable_params=trainable_params(job),
        frozen_params=float(ops.param_count(m)) if frozen else 0.0,
        hfu=tokens_per_s * per_token / (plan.devices * acc.peak_flops(job.dtype)),
        price_label=choice.label if choice else None, notes=notes)


def memory_traffic_adam(job: FinetuneJob) -> float:
    """HBM bytes per trainable parameter in one on-device Adam step."""
    if job.method == "full":
        from suanli.perf.train_terms import optimizer_traffic

        return optimizer_traffic("fp32")  # fp32 master, m, v read + written, grad, weight
    return ADAPTER_GRAD_BYTES + 2 * (ADAPTER_WEIGHT_BYTES + ADAM_MOMENT_BYTES)


def _adapter_time(job: FinetuneJob, tok: float, ckpt: float, hbm: float) -> float:
    """LoRA branches are skinny GEMMs (inner size r): memory bound. Per pass each targeted
    matrix reads its input and writes its output once more (16-bit): fwd, bwd (x2), recompute."""
    names = target_names(job.targets)
    width = sum((i + o) * n for name, i, o, n in linear_shapes(job.model) if name in names) \
        / job.model.layers  # per layer (MoE: all experts, an upper bound)
    return job.model.layers * tok * width * 2.0 * (3.0 + ckpt) / hbm


def _buffer_bytes(job: FinetuneJob, plan: FinetunePlan) -> float:
    """Transient buffers: two gathered layers under FSDP (current + prefetch), one layer's
    dequantized bf16 weights under QLoRA, and a 16-bit gradient bucket under offload."""
    out = 0.0
    if plan.shard and plan.devices > 1:
        out += 2.0 * layer_weight_bytes(job, stored=True)
    if job.method == "qlora":  # the largest matrix, dequantized to bf16 for its GEMM
        m = job.model
        out += max(i * o for _, i, o, _ in linear_shapes(m)) * memory.WEIGHT_BYTES
    if plan.offload != "none":
        out += min(trainable_params(job), GRAD_BUCKET_PARAMS) * memory.GRAD_BYTES
    return out


def _check(job: FinetuneJob, plan: FinetunePlan) -> None:
    from suanli.errors import InputError

    if job.method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, got '{job.method}'")
    if plan.offload not in offload.OFFLOADS:
        raise InputError(f"--offload must be one of {', '.join(offload.OFFLOADS)}, got "
                         f"'{plan.offload}'")
    if plan.offload != "none":
        offload.require_host_data(job.system)
    target_names(job.targets)
    if job.adapter_dtype not in ("fp32", "bf16"):
        raise InputError(f"adapter dtype must be fp32 or bf16, got '{job.adapter_dtype}'")
    if job.lora_rank < 1:
        raise InputError(f"--lora-rank must be >= 1, got {job.lora_rank}")
    if job.global_batch % (plan.devices * plan.micro_batch):
        raise InputError(f"global batch {job.global_batch} sequences is not a multiple of "
                         f"devices x micro-batch = {plan.devices * plan.micro_batch}; change "
                         "--global-batch, --devices or --micro-batch")
