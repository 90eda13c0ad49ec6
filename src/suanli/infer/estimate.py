"""Serving estimate for one deployment: TTFT, TPOT, throughput, memory, $ and energy per token.

Definitions (said, because tools differ):

* **TTFT** = time to prefill the batch's prompts and emit each sequence's first token (static
  batch: all ``batch`` prompts arrive together, so every sequence sees the whole batch prefill),
  plus a fixed per-request overhead (``Efficiency.request_overhead``, fitted per stack).
* **TPOT** = time per output token *after the first* = mean decode step time over contexts
  ``prompt+1 .. prompt+output-1``; end-to-end latency ``e2e = TTFT + (output-1) x TPOT``.
* **Under continuous batching** (Yu et al. 2022 Orca; Kwon et al. 2023 vLLM) with ``batch``
  sequences in flight, each step also carries the prefills of the ``batch/output`` requests that
  replace finished ones, so ``tpot_continuous_s = e2e / output`` (prefills amortized), and a new
  request waits half a step, then shares one step with ``batch-1`` decodes:
  ``ttft_continuous_s = step(prompt + batch-1 tokens) + tpot_continuous_s / 2`` (no queueing:
  the simulator measures that). SLO checks (``curves``, ``api``) use these two.
* **Throughput** per replica = ``batch x output / e2e`` output tokens/s (``batch x (prompt +
  output) / e2e`` total tokens/s). This is also the steady state of continuous batching with
  ``batch`` sequences in flight (prefills of arriving requests take the place of the static
  prefill). Per device = per replica / ``tp x pp``.
* **$ per million tokens**, at ``price`` per device-hour, attributes replica time by phase:
  input tokens pay for prefill time, output tokens for decode time (so the two add up to the
  replica's cost); ``usd_per_million_output_tokens_all_in`` charges all time to output tokens.
* **Energy**: every device at TDP plus its host share (an upper bound; PUE applied by callers).
* Pipeline parallelism: ``pp`` micro-batches of ``batch/pp`` fill the stages; a token's step
  crosses all stages, so TPOT = ``pp x stage_time(batch/pp)``, and the batch prefill ends after
  ``(2 pp - 1)`` stage times (GPipe fill and drain, Huang et al. 2019).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from suanli.catalog import load_catalog
from suanli.catalog.schema import Accelerator, ModelSpec, System
from suanli.errors import InfeasibleError, InputError
from suanli.infer.compression import Compression, parse_compression
from suanli.infer.efficiency import Efficiency, efficiency_for
from suanli.infer.memory import (
    MemoryBreakdown,
    max_concurrent_seqs,
    memory_breakdown,
    weight_bytes_per_device,
)
from suanli.infer.model import StepModel
from suanli.infer.opcost import OpCost, total_s
from suanli.infer.stacks import Stack
from suanli.infer.stacks import stack as stack_of
from suanli.units import SECONDS_PER_HOUR

DECODE_SAMPLES = 4  # midpoint rule over the decode contexts (time is piecewise linear in them)


@dataclass(frozen=True)
class Deployment:
    """One replica layout: ``tp x pp`` devices of ``system`` running ``model``."""

    model: ModelSpec
    system: System
    accelerator: Accelerator
    compression: Compression
    tp: int = 1
    pp: int = 1
    ep: int = 1
    kv_mem_fraction: float = 0.9  # share of memory left after weights usable for KV cache
    chunk_tokens: int = 8192  # max tokens per prefill step (TensorRT-LLM max_num_tokens)
    attn_dp: bool = False  # attention data-parallel over the tp ranks (MoE serving layout)
    overlap: bool = True  # two-micro-batch overlap of the EP all-to-all where it is faster
    prefix_hit: float = 0.0  # share of prompt tokens served from a prefix cache (workload)
    # the serving engine and version (``infer.stacks``): all-reduce algorithm, exposed host time,
    # legacy GQA kernel, gathered MoE, counted kernels, GEMV instructions; read through it
    stack: Stack = field(default_factory=lambda: stack_of(None))

    @property
    def devices(self) -> int:
        return self.tp * self.pp

    @property
    def nodes(self) -> int:
        return max(1, math.ceil(self.devices / self.system.devices_per_node))

    @property
    def step_chunk_tokens(self) -> int:
        """Max tokens of one prefill step over the replica (per rank under attention-DP)."""
        return self.chunk_tokens * (self.tp if self.attn_dp else 1)

    def layout(self) -> str:
        bits = [f"tp={self.tp}" if not self.attn_dp else f"attn-dp={self.tp}"]
        if self.ep > 1:
            bits.append(f"ep={self.ep}")
        if self.pp > 1:
            bits.append(f"pp={self.pp}")
        if self.nodes > 1:
            bits.append(f"{self.nodes} nodes")
        return ", ".join(bits)


def valid_tp(model: ModelSpec, limit: int = 64) -> list[int]:
    """Tensor-parallel degrees that split the attention heads evenly (KV heads are replicated
    once tp exceeds them), up to ``limit``."""
    return [t for t in range(1, limit + 1) if model.heads % t == 0]


def deployment(model: str | ModelSpec, hardware: str, *, tp: int = 1, pp: int = 1, ep: int = 1,
               precision: str | Compression = "bf16", kv: str | None = None,
               sparsity: str = "none", kv_mem_fraction: float = 0.9,
               chunk_tokens: int = 8192, attn_dp: bool = False,
               legacy_gqa_kernel: bool = False, nodes: int | None = None,
               overlap: bool = True, prefix_hit: float = 0.0,
               stack: str | Stack | None = None) -> Deployment:
    """Build and check a :class:`Deployment` from catalog names. ``nodes``: spread the
    replica over that many nodes (``tp`` = nodes x devices per node / pp; with ``attn_dp`` on an
    MoE model ``ep`` defaults to all ranks). ``stack``: the serving engine and version, an id
    or a :class:`Stack` already looked up (``infer.stacks``; None: current runtimes).
    ``legacy_gqa_kernel``: force the per-query-head decode attention kernel on that stack."""
    st = stack_of(stack)
    if legacy_gqa_kernel and not st.legacy_gqa_kernel:
        st = replace(st, legacy_gqa_kernel=True)
    cat = load_catalog()
    m = cat.model(model) if isinstance(model, str) else model
    sys_ = cat.system(hardware)
    acc = cat.accelerator(sys_.accelerator)
    comp = precision if isinstance(precision, Compression) else \
        parse_compression(precision, kv=kv, sparsity=sparsity)
    comp.check(acc)
    for flag, v in (("--tp", tp), ("--pp", pp), ("--ep", ep)):
        if v < 1:
            raise InputError(f"{flag} must be >= 1, got {v}")
    if pp > m.layers:
        raise InputError(f"--pp {pp} exceeds the model's {m.layers} layers")
    if nodes is not None:
        if nodes < 1:
            raise InputError(f"--nodes must be >= 1, got {nodes}")
        ranks = nodes * sys_.devices_per_node
        if ranks % pp:
            raise InputError(f"--pp {pp} must divide the {ranks} devices of {nodes} nodes")
        if tp == 1:
            tp = ranks // pp
        elif tp * pp != ranks:
            raise InputError(f"--tp {tp} x --pp {pp} = {tp * pp} devices, but --nodes {nodes} "
                             f"holds {ranks}; give one of them")
        if attn_dp and m.moe is not None and ep == 1:
            ep = tp
    if not attn_dp and m.heads % tp:
        ok = ", ".join(str(t) for t in valid_tp(m))
        raise InputError(f"--tp {tp} does not divide {m.id}'s {m.heads} attention heads; "
                         f"valid --tp: {ok} (or --attn-dp for data-parallel attention)")
    if ep > 1 and (m.moe is None or tp % ep):
        raise InputError("--ep needs an MoE model and must divide the ranks per stage "
                         f"(got ep={ep}, tp={tp}); try --ep {tp}")
    if not 0 < kv_mem_fraction <= 1:
        raise InputError(f"--kv-mem-fraction must be in (0, 1], got {kv_mem_fraction}")
    if attn_dp and tp == 1:
        raise InputError("--attn-dp needs --tp > 1 (attention is data-parallel over the tp ranks)")
    if not 0 <= prefix_hit < 1:
        raise InputError(f"--prefix-hit must be in [0, 1), got {prefix_hit}")
    return Deployment(m, sys_, acc, comp, tp, pp, ep, kv_mem_fraction, chunk_tokens, attn_dp,
                      overlap, prefix_hit, st)


@dataclass(frozen=True)
class ServingEstimate:
    model: str
    system: str
    accelerator: str
    precision: str
    tp: int
    pp: int
    ep: int
    devices_per_replica: int
    batch: int
    prompt_len: int
    output_len: int
    ttft_s: float
    tpot_s: float
    e2e_s: float
    ttft_continuous_s: float
    tpot_continuous_s: float
    output_tokens_per_s: float  # per replica
    total_tokens_per_s: float  # per replica, prompt + output
    output_tokens_per_s_per_device: float
    total_tokens_per_s_per_device: float
    max_concurrent_seqs: int
    memory_per_device_gb: float
    fits: bool
    memory: dict[str, float]
    price_usd_per_device_hour: float | None
    usd_per_million_input_tokens: float | None
    usd_per_million_output_tokens: float | None
    usd_per_million_output_tokens_all_in: float | None
    power_w_per_device: float
    energy_kwh_per_1k_output_tokens: float
    breakdown: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def efficiency_of(dep: Deployment) -> Efficiency:
    return efficiency_for(dep.accelerator.family)


def step_model(dep: Deployment, eff: Efficiency | None = None) -> StepModel:
    factor = dep.model.heads / dep.model.n_kv_heads if dep.stack.legacy_gqa_kernel else 1.0
    return StepModel(dep.model, dep.accelerator, dep.system, dep.compression,
                     eff or efficiency_of(dep), tp=dep.tp, pp=dep.pp, ep=dep.ep,
                     attn_dp=dep.attn_dp, kv_read_factor=factor, overlap=dep.overlap,
                     stack=dep.stack)


def check_weights_fit(dep: Deployment) -> None:
    """InfeasibleError with the smallest device count that holds the weights."""
    acc, comp = dep.accelerator, dep.compression
    w = weight_bytes_per_device(dep.model, comp, dep.tp, dep.pp, dep.attn_dp, dep.ep)
    if w < 0.9 * acc.memory_bytes:
        return
    total = w * dep.devices
    need = 2 ** math.ceil(math.log2(max(total / (0.9 * acc.memory_bytes), 1.0)))
    fixes = [f"--tp {max(need // dep.pp, dep.tp * 2)}"]
    if comp.weights in ("bf16", "fp16", "fp32"):
        fixes.append("--precision fp8" if acc.fp8_tflops else "--precision w8a8")
    raise InfeasibleError(
        f"{dep.model.id} does not fit: needs >= {need} x {acc.name} at "
        f"{comp.name.upper()} for weights alone ({total / 1e9:.0f} GB) plus KV cache.",
        reasons=[f"weights take {w / 1e9:.1f} GB per device of {acc.memory_gb:g} GB "
                 f"with tp={dep.tp}, pp={dep.pp}"],
        fixes=[*fixes, "a device with more memory"])


def phase_times(dep: Deployment, sm: StepModel, batch: int, prompt: int, output: int
                ) -> tuple[float, float, list[OpCost], list[OpCost]]:
    """(TTFT, TPOT, prefill ops, decode ops at the mean context) for a static batch."""
    mb = max(batch / dep.pp, 1.0)  # sequences per micro-batch
    pre = sm.prefill_ops(mb, prompt, dep.step_chunk_tokens, dep.prefix_hit * prompt)
    # GPipe: the last of pp micro-batches leaves the last stage after (2 pp - 1) stage times
    ttft = (2 * dep.pp - 1) * total_s(pre) + sm.eff.request_overhead(dep.stack.id)
    steps = max(output - 1, 0)
    tpot, dec = 0.0, sm.decode_ops(mb, prompt + 1 + steps / 2)
    if steps:
        width = steps / DECODE_SAMPLES
        ctx = [prompt + 0.5 + (j + 0.5) * width for j in range(DECODE_SAMPLES)]
        tpot = dep.pp * sum(sm.time(mb, mb, mb * c, mb * c) for c in ctx) / DECODE_SAMPLES
    return ttft, tpot, pre, dec


def price_of(dep: Deployment, price: float | None) -> float | None:
    if price is not None:
        return price
    return dep.system.price_usd_per_device_hour or dep.accelerator.price_usd_per_hour


def power_per_device(dep: Deployment) -> float:
    """Watts: accelerator TDP + host share (before PUE)."""
    return (dep.accelerator.tdp_w or 0.0) + dep.system.host_power_w_per_device


def estimate(dep: Deployment, *, prompt_len: int, output_len: int, batch: int | None = None,
             price_usd_per_device_hour: float | None = None, eff: Efficiency | None = None,
             max_batch: int = 1024) -> ServingEstimate:
    """Serving metrics of ``dep`` at a static ``batch`` (default: as many sequences as the KV
    cache holds, at most ``max_batch``)."""
    if prompt_len < 1 or output_len < 1:
        raise InputError("--prompt-len and --output-len must be >= 1")
    check_weights_fit(dep)
    m, acc, comp = dep.model, dep.accelerator, dep.compression
    context = prompt_len + output_len
    cap = max_concurrent_seqs(m, acc, comp, tp=dep.tp, pp=dep.pp, context=context,
                              max_step_tokens=dep.chunk_tokens,
                              kv_mem_fraction=dep.kv_mem_fraction, attn_dp=dep.attn_dp,
                              ep=dep.ep, moe_gather=dep.stack.moe_gather)
    if batch is None:
        batch = max(1, min(cap, max_batch))
    if batch < 1:
        raise InputError(f"--batch must be >= 1, got {batch}")
    sm = step_model(dep, eff)
    ttft, tpot, pre, dec = phase_times(dep, sm, batch, prompt_len, output_len)
    e2e = ttft + (output_len - 1) * tpot
    tpot_cb = e2e / output_len
    ttft_cb = mixed_prefill_s(dep, sm, batch, prompt_len, output_len) + tpot_cb / 2
    out_tps = batch * output_len / e2e
    tot_tps = batch * context / e2e
    mem = memory_only(dep, batch, context)
    price = price_of(dep, price_usd_per_device_hour)
    usd_in = usd_out = usd_all = None
    if price is not None:
        per_s = price * dep.devices / SECONDS_PER_HOUR  # $/s per replica
        usd_in = per_s * ttft / (batch * prompt_len) * 1e6
        usd_out = per_s * (e2e - ttft) / (batch * output_len) * 1e6 if output_len > 1 else \
            per_s * e2e / batch * 1e6
        usd_all = per_s * e2e / (batch * output_len) * 1e6
    power = power_per_device(dep)
    kwh_1k = power * dep.devices * e2e / (batch * output_len) * 1e3 / 3.6e6
    notes = []
    if batch > cap:
        notes.append(f"KV cache for batch {batch} at {context} tokens does not fit; "
                     f"at most {cap} sequences (lower --batch, raise --tp, or use --kv fp8)")
    return ServingEstimate(
        model=m.id, system=dep.system.id, accelerator=acc.id, precision=comp.name,
        tp=dep.tp, pp=dep.pp, ep=dep.ep, devices_per_replica=dep.devices, batch=batch,
        prompt_len=prompt_len, output_len=output_len, ttft_s=ttft, tpot_s=tpot, e2e_s=e2e,
        ttft_continuous_s=ttft_cb, tpot_continuous_s=tpot_cb,
        output_tokens_per_s=out_tps, total_tokens_per_s=tot_tps,
        output_tokens_per_s_per_device=out_tps / dep.devices,
        total_tokens_per_s_per_device=tot_tps / dep.devices,
        max_concurrent_seqs=cap, memory_per_device_gb=mem.total / 1e9, fits=mem.fits,
        memory=mem.as_gb(), price_usd_per_device_hour=price, usd_per_million_input_tokens=usd_in,
        usd_per_million_output_tokens=usd_out, usd_per_million_output_tokens_all_in=usd_all,
        power_w_per_device=power, energy_kwh_per_1k_output_tokens=kwh_1k,
        breakdown={"prefill": ops_table(pre, dep.pp), "decode_step": ops_table(dec, dep.pp),
                   "definitions": "TTFT = batch prefill; TPOT = mean decode step after the "
                                  "first token; times per replica (sum over pp stages)"},
        notes=tuple(notes))


def mixed_prefill_s(dep: Deployment, sm: StepModel, batch: int, prompt: int, output: int
                    ) -> float:
    """Seconds to prefill one prompt in steps shared with ``batch - 1`` decoding sequences
    (chunks of ``chunk_tokens``), at the mean decode context."""
    others = max(batch - 1, 0) / dep.pp
    ctx = prompt + output / 2
    new = max(prompt * (1.0 - dep.prefix_hit), 1.0)  # tokens computed (prefix-cache misses)
    chunks = max(1, math.ceil(new / dep.chunk_tokens))
    c = new / chunks
    pairs = new * (prompt - new) + new * (new + 1) / 2
    t = sm.time(c + others, 1 + others, pairs / chunks + others * ctx, others * ctx)
    return dep.pp * chunks * t + sm.eff.request_overhead(dep.stack.id)


def ops_table(ops: list[OpCost], pp: int = 1) -> list[dict[str, Any]]:
    """Rows for the breakdown: per-op time, FLOPs, bytes, intensity and which bound holds."""
    return [{"op": op.name, "time_s": op.time_s * pp, "flops": op.flops, "bytes": op.bytes,
             "intensity_flop_per_byte": op.intensity if math.isfinite(op.intensity) else None,
             "compute_s": op.compute_s * pp, "memory_s": op.memory_s * pp,
             "other_s": op.other_s * pp, "bound": op.bound} for op in ops]


def memory_only(dep: Deployment, batch: int, context: int) -> MemoryBreakdown:
    return memory_breakdown(dep.model, dep.accelerator, dep.compression, tp=dep.tp, pp=dep.pp,
                            batch=batch, context=context, max_step_tokens=dep.chunk_tokens,
                            kv_mem_fraction=dep.kv_mem_fraction, attn_dp=dep.attn_dp,
                            ep=dep.ep, moe_gather=dep.stack.moe_gather)
