"""Disaggregated serving: separate prefill and decode pools, the KV cache moved between them,
prefix-cache hits, a per-user speed target and multi-token-prediction decoding.

DeepSeek-V3/R1 inference system (github.com/deepseek-ai/open-infra-index, "Day 6: one more
thing", 2025): prefill units of 4 H800 nodes (routed experts EP32, attention and shared experts
DP32), decode units of 18 nodes (EP144 / DP144), dual-micro-batch overlap in both, 56.3% of input
tokens served from an on-disk KV cache, 20-22 output tokens/s per user. Splitwise (Patel et al.
2024) and DistServe (Zhong et al. 2024) for the pool split.

* **Prefill pool.** A step fills each rank's token budget (``chunk_tokens``) with prompts whose
  first ``h x prompt`` tokens hit the prefix cache: ``n = budget / ((1-h) prompt)`` prompts per
  step, computing ``(1-h) prompt`` tokens each that attend ``h p`` cached + causal new keys,
  ``(1-h) p x h p + ((1-h) p)^2 / 2`` pairs. Input tokens/s (cached included, as DeepSeek counts
  them) = ``n x prompt / step``.
* **KV transfer.** Each request's cache, ``prompt x kv bytes per token`` (all layers), crosses
  the scale-out NIC from a prefill rank to a decode rank: ``alpha + bytes / (bw x eff)``, added
  to TTFT (not overlapped layer by layer: an upper bound).
* **Decode pool.** The largest batch whose step time meets the per-user speed target
  ``tokens/s per user`` and whose KV cache fits; with multi-token prediction (DeepSeek-V3 sec.
  5.4.3: the second token is accepted 85-90% of the time) each step verifies ``1 + d`` tokens per
  sequence, reading each sequence's cache once for them (FlashMLA: ``2 s_k d_k`` bytes per
  request whatever its ``s_q`` query tokens, github.com/deepseek-ai/FlashMLA
  docs/20250422-new-kernel-deep-dive.md), runs the MTP module (one more MoE layer, sec. 2.2)
  on one token per sequence for the next draft, and emits ``1 + accept`` tokens.
* **Units.** Given the traffic (prompt and output tokens per second), prefill units =
  ``ceil(input rate / unit input rate)`` and decode units likewise; or a fixed ``P:D`` spec.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from suanli.errors import InfeasibleError, InputError
from suanli.infer.efficiency import Efficiency
from suanli.infer.estimate import Deployment, step_model
from suanli.infer.model import StepModel


@dataclass(frozen=True)
class DisaggSpec:
    prefill_nodes: int  # nodes per prefill unit
    decode_nodes: int  # nodes per decode unit


def parse_disagg(text: str) -> DisaggSpec:
    """``4P:18D`` or ``4:18``: nodes per prefill unit and per decode unit."""
    m = re.fullmatch(r"\s*(\d+)\s*[pP]?\s*[:/,]\s*(\d+)\s*[dD]?\s*", text or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise InputError(f"--disagg '{text}' is not 'NP:MD' (nodes per prefill unit : nodes per "
                         "decode unit), e.g. --disagg 4P:18D")
    return DisaggSpec(int(m.group(1)), int(m.group(2)))


@dataclass(frozen=True)
class PrefillRate:
    input_tokens_per_s: float  # per unit, cached tokens included
    input_tokens_per_s_per_node: float
    step_s: float
    prompts_per_step: float


@dataclass(frozen=True)
class DecodeRate:
    output_tokens_per_s: float  # per unit
    output_tokens_per_s_per_node: float
    batch: int  # sequences in flight over the unit
    step_s: float
    tokens_per_user_per_s: float


def prefill_rate(dep: Deployment, prompt: int, prefix_hit: float = 0.0,
                 eff: Efficiency | None = None) -> PrefillRate:
    """Input tokens/s of one prefill unit (module docstring)."""
    if not 0 <= prefix_hit < 1:
        raise InputError(f"--prefix-hit must be in [0, 1), got {prefix_hit}")
    sm = step_model(dep, eff)
    new = max(1.0, (1.0 - prefix_hit) * prompt)  # computed tokens per prompt
    n = max(1.0, dep.step_chunk_tokens / new)
    pairs = new * (prompt - new) + new * (new + 1) / 2
    t = sm.time(n * new, n, n * pairs, 0.0)
    rate = n * prompt / t
    return PrefillRate(rate, rate / dep.nodes, t, n)


def kv_transfer_s(dep: Deployment, prompt: int) -> float:
    """Seconds to move one request's KV cache from a prefill to a decode rank over the NIC."""
    from suanli.infer.memory import kv_elements_per_token
    from suanli.infer.moe import moe_params

    nbytes = prompt * kv_elements_per_token(dep.model) * dep.compression.kv_bytes
    bw = dep.system.scale_out_gbs * 1e9 * moe_params().comm_efficiency
    return dep.system.scale_out_latency_us * 1e-6 + nbytes / bw


def mtp_draft_model(dep: Deployment, eff: Efficiency | None = None) -> StepModel | None:
    """Step model of the multi-token-prediction module that proposes each step's draft token
    (DeepSeek-V3 sec. 2.2: one more transformer block, MoE FFN included, sharing the embedding
    and the output head; its ``2h x h`` input projection is neglected): the model's own
    layout with one MoE layer, run on one token per sequence. None for a dense model."""
    m = dep.model
    if m.moe is None:
        return None
    one = m.model_copy(update={"layers": 1,
                               "moe": m.moe.model_copy(update={"first_dense_layers": 0,
                                                               "layer_freq": 1})})
    return step_model(replace(dep, model=one), eff)


def decode_rate(dep: Deployment, context: float, *, tokens_per_user: float | None = None,
                mtp_accept: float = 0.0, max_batch: int = 1 << 20,
                eff: Efficiency | None = None) -> DecodeRate:
    """Output tokens/s of one decode unit at the largest batch meeting the per-user speed
    (module docstring). ``mtp_accept``: expected accepted draft tokens per step (0: none)."""
    from suanli.infer.memory import max_concurrent_seqs

    if tokens_per_user is not None and tokens_per_user <= 0:
        raise InputError(f"--tokens-per-user must be positive, got {tokens_per_user}")
    if not 0 <= mtp_accept <= 4:
        raise InputError(f"mtp_accept must be in [0, 4], got {mtp_accept}")
    sm = step_model(dep, eff)
    per_seq = 2.0 if mtp_accept > 0 else 1.0  # tokens verified per sequence per step
    emitted = 1.0 + mtp_accept
    cap = max_concurrent_seqs(dep.model, dep.accelerator, dep.compression, tp=dep.tp,
                              pp=dep.pp, context=math.ceil(context),
                              max_step_tokens=dep.chunk_tokens,
                              kv_mem_fraction=dep.kv_mem_fraction, attn_dp=dep.attn_dp,
                              ep=dep.ep, moe_gather=dep.stack.moe_gather)
    cap = min(cap, max_batch)
    if cap < 1:
        raise InfeasibleError(f"no sequence of {context:.0f} tokens fits next to the weights",
                              fixes=["more nodes per decode unit", "--kv fp8"])

    draft = mtp_draft_model(dep, eff) if mtp_accept > 0 else None

    def step(b: int) -> float:
        t = sm.time(b * per_seq, b, b * per_seq * context, b * per_seq * context,
                    kv_share=per_seq)
        if draft is not None:  # the MTP module proposes the next draft token
            t += draft.time(b, b, b * context, b * context)
        return dep.pp * t

    def speed(b: int) -> float:
        return emitted / step(b)

    lo, hi = 1, cap
    if tokens_per_user is not None:
        if speed(1) < tokens_per_user:
            raise InfeasibleError(
                f"even one sequence decodes at {speed(1):.1f} tokens/s, below the "
                f"{tokens_per_user:g} tokens/s per user asked",
                fixes=["lower --tokens-per-user", "more ranks per decode unit (--nodes)"])
        while lo < hi:  # largest batch meeting the speed (speed falls with batch)
            mid = (lo + hi + 1) // 2
            if speed(mid) >= tokens_per_user:
                lo = mid
            else:
                hi = mid - 1
        b = lo
    else:
        b = cap
    t = step(b)
    rate = b * emitted / t
    return DecodeRate(rate, rate / dep.nodes, b, t, emitted / t)


@dataclass(frozen=True)
class DisaggPlan:
    spec: DisaggSpec
    prefill: PrefillRate
    decode: DecodeRate
    prefill_units: int
    decode_units: int
    nodes: int
    ttft_s: float  # one prefill step + KV transfer (no queueing)
    tpot_s: float
    usd_per_day: float | None


def size_pools(prefill_dep: Deployment, decode_dep: Deployment, *, prompt: int, output: int,
               requests_per_s: float, prefix_hit: float = 0.0,
               tokens_per_user: float | None = None, mtp_accept: float = 0.0,
               price_usd_per_device_hour: float | None = None,
               eff: Efficiency | None = None) -> DisaggPlan:
    """Units of each pool for ``requests_per_s`` requests of ``prompt``/``output`` tokens."""
    if requests_per_s <= 0:
        raise InputError("the traffic must be positive")
    pre = prefill_rate(prefill_dep, prompt, prefix_hit, eff)
    dec = decode_rate(decode_dep, prompt + output / 2, tokens_per_user=tokens_per_user,
                      mtp_accept=mtp_accept, eff=eff)
    pu = max(1, math.ceil(requests_per_s * prompt / pre.input_tokens_per_s))
    du = max(1, math.ceil(requests_per_s * output / dec.output_tokens_per_s))
    nodes = pu * prefill_dep.nodes + du * decode_dep.nodes
    usd = None
    if price_usd_per_device_hour is not None:
        usd = nodes * decode_dep.system.devices_per_node * price_usd_per_device_hour * 24.0
    spec = DisaggSpec(prefill_dep.nodes, decode_dep.nodes)
    ttft = pre.step_s + kv_transfer_s(prefill_dep, prompt)
    return DisaggPlan(spec, pre, dec, pu, du, nodes, ttft, dec.step_s / (1.0 + mtp_accept),
                      usd)
