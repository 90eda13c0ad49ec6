"""Per-op roofline of one forward step of a serving replica (prefill, decode or mixed).

A step processes ``tokens`` new tokens belonging to ``seqs`` sequences. Per device and per op
(Williams et al. 2009 roofline; the DESIGN.md modeling note):

    time_op = max(flops_op / (peak x eff.compute), bytes_op / (bw x eff.memory))

and the step time is the visible sum ``sum(time_op) + TP/EP communication + step overhead``.

* GEMMs with weights (QKV, output projection, dense FFN, routed and shared experts, router,
  logits): ``flops = 2 x tokens x weights`` (``suanli.perf.ops``); bytes = weights read once
  per step + activations in and out. Decode (few tokens) is memory-bound; prefill compute-bound.
  The arithmetic intensity of a weight GEMM is ~``2 x tokens / bytes_per_weight`` FLOP/B.
* MoE: memory holds **all** experts, but a step reads only the experts its tokens route to:
  expected distinct experts per layer ``E x (1 - (1 - k/E)^tokens)`` (uniform routing), and the
  FLOPs use the ``top_k`` (+ shared) **active** experts per token.
* Attention core: ``flops = pairs x f_attn`` where ``pairs`` counts (query, key) pairs and
  ``f_attn = forward_flops_per_token(m, 1).attn_scores`` (QK^T and AV, 4 x heads x d_head per
  layer); bytes = KV cache read (decode: every cached token) + written (new tokens), at the
  ``attention_memory`` efficiency.
* TP all-reduce: 2 per layer of ``tokens x hidden x 2 B`` (Shoeybi et al. 2019), ring
  alpha-beta cost over the scale-up link (see ``suanli.perf.comm``, scalar forms).
* Pipeline parallelism: each device holds ``layers / pp``; the caller runs ``pp`` micro-batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suanli.catalog.schema import Accelerator, ModelSpec, System
from suanli.infer.compression import Compression
from suanli.infer.efficiency import Efficiency
from suanli.infer.memory import kv_bytes_per_token_per_device
from suanli.perf.comm import all_to_all_s, ring_allreduce_s
from suanli.perf.ops import (
    attention_params,
    ffn_params,
    forward_flops_per_token,
    moe_layer_count,
)


@dataclass(frozen=True)
class OpCost:
    """One op summed over the layers of one device, for one step."""

    name: str
    flops: float  # FLOP per device
    bytes: float  # bytes moved per device
    compute_s: float  # flops / (peak x eff)
    memory_s: float  # bytes / (bw x eff)
    other_s: float = 0.0  # communication or fixed overhead

    @property
    def time_s(self) -> float:
        return max(self.compute_s, self.memory_s) + self.other_s

    @property
    def bound(self) -> str:
        if self.other_s > 0 and self.other_s >= max(self.compute_s, self.memory_s):
            return "communication" if self.name.endswith(("reduce", "all")) else "overhead"
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP per byte."""
        return self.flops / self.bytes if self.bytes else math.inf


class StepModel:
    """Coefficients of one replica's forward step, precomputed so a step costs microseconds
    (the serving simulator calls it once per batch iteration).

    ``attn_dp``: attention data-parallel over the ``tp`` ranks (each rank runs whole heads for
    its own sequences; experts split by EP), the DeepSeek-V3 / TensorRT-LLM MoE layout.
    ``kv_read_factor``: how many times the decode kernel reads each cached K/V head; 1 for
    kernels that share a KV head across its query group (FlashInfer, vLLM, TensorRT-LLM XQA
    since v0.7), ``heads / kv_heads`` for the per-query-head masked-MHA kernels before them.
    """

    def __init__(self, model: ModelSpec, acc: Accelerator, system: System, comp: Compression,
                 eff: Efficiency, *, tp: int = 1, pp: int = 1, ep: int = 1,
                 attn_dp: bool = False, kv_read_factor: float = 1.0) -> None:
        self.model, self.acc, self.system, self.comp, self.eff = model, acc, system, comp, eff
        self.tp, self.pp, self.ep, self.attn_dp = tp, pp, ep, attn_dp
        m = model
        shard = tp * pp  # devices holding one copy of the FFN weights
        attn_shard = pp if attn_dp else tp * pp  # ... of the attention weights
        tok_share = 1.0 / tp if attn_dp else 1.0  # share of the step's tokens a rank attends
        wb = comp.weight_bytes_moved  # bytes per weight element read by a GEMM
        ab = comp.act_bytes
        self.peak = comp.peak_flops(acc) * eff.compute  # FLOP/s reached
        attn_dtype = "bf16" if comp.compute == "int8" else comp.compute
        self.peak_attn = acc.peak_flops(attn_dtype) * eff.compute  # attention in 16/8-bit
        self.bw = acc.memory_bw * eff.memory  # bytes/s
        self.bw_kv = acc.memory_bw * eff.attention_memory  # bytes/s
        n_moe = moe_layer_count(m)
        n_dense = m.layers - n_moe
        attn_w = attention_params(m)
        v_dim = m.mla.v_head_dim if m.mla is not None else m.d_head
        out_w = m.heads * v_dim * m.hidden
        qkv_w = attn_w - out_w
        # (name, weight elements per device, FLOP per token per device, activation elements
        # in + out per token per device)
        gemms: list[tuple[str, float, float, float]] = [
            ("qkv", m.layers * qkv_w / attn_shard, 2.0 * m.layers * qkv_w / (tp * pp),
             tok_share * m.layers * (m.hidden + qkv_w / m.hidden / (1 if attn_dp else tp)) / pp),
            ("attn_out", m.layers * out_w / attn_shard, 2.0 * m.layers * out_w / (tp * pp),
             tok_share * m.layers * (out_w / m.hidden / (1 if attn_dp else tp) + m.hidden) / pp),
        ]
        if n_dense:
            ffn = n_dense * ffn_params(m, m.ffn_hidden)
            gemms.append(("mlp", ffn / shard, 2.0 * ffn / shard,
                          n_dense * (2 * m.hidden + 2 * m.ffn_hidden / tp) / pp))
        self.n_moe_per_device = n_moe / pp
        self.expert_w = 0.0
        if m.moe is not None and n_moe:
            self.expert_w = ffn_params(m, m.moe.expert_ffn_hidden) / tp  # per device slice
            if m.moe.shared_experts:
                sh = n_moe * m.moe.shared_experts * ffn_params(m, m.moe.expert_ffn_hidden)
                gemms.append(("shared_experts", sh / shard, 2.0 * sh / shard,
                              n_moe * 2 * m.hidden / pp))
        self.gemm_coeffs = [(n, w * wb, f, a * ab) for n, w, f, a in gemms]
        fpt = forward_flops_per_token(m, 1)
        self.router_flops = fpt.router / shard  # per token
        self.attn_flops_per_pair = fpt.attn_scores / tp / pp  # per (query, key) pair
        self.logit_w = m.hidden * m.vocab / tp  # elements, on the last stage
        self.kv_bytes_tok = kv_bytes_per_token_per_device(m, comp, tp, pp, attn_dp)
        self.kv_read_factor = kv_read_factor
        self.hidden = m.hidden
        # communication per step (Shoeybi et al. 2019: one all-reduce after attention and one
        # after the FFN per layer; EP: dispatch + combine all-to-all per MoE layer)
        n_ar = 0.0 if (tp == 1 or attn_dp) else float(m.layers)  # after attention
        n_ar += n_dense if (tp > 1) else 0.0
        n_a2a = 0.0
        if n_moe and tp > 1:
            if ep > 1:
                n_a2a = 2.0 * n_moe
            else:
                n_ar += n_moe
        self.ar_per_step, self.a2a_per_step = n_ar / pp, n_a2a / pp
        self.a2a_tok_share = 1.0 / tp if attn_dp else 1.0 / max(ep, 1)
        inside = tp <= system.scale_up_domain
        link = system.scale_up_gbs if inside else system.scale_out_gbs
        lat = system.scale_up_latency_us if inside else system.scale_out_latency_us
        self.link_bw, self.link_alpha = link * 1e9, lat * 1e-6  # bytes/s, seconds

    def expert_bytes(self, tokens: float) -> float:
        """Expected bytes of routed-expert weights one step reads per device (module doc)."""
        moe = self.model.moe
        if moe is None or not self.expert_w:
            return 0.0
        e, k = moe.num_experts, moe.top_k
        touched = e * (1.0 - (1.0 - k / e) ** tokens)  # distinct experts per layer
        return self.n_moe_per_device * touched * self.expert_w * self.comp.weight_bytes_moved

    def ops(self, tokens: float, seqs: float, pairs: float, kv_read_tokens: float) -> list[OpCost]:
        """Per-op costs of a step: ``tokens`` new tokens of ``seqs`` sequences, ``pairs``
        attended (query, key) pairs, ``kv_read_tokens`` cached tokens read."""
        out = []
        for name, wbytes, flops_tok, act in self.gemm_coeffs:
            f, b = flops_tok * tokens, wbytes + act * tokens
            out.append(OpCost(name, f, b, f / self.peak, b / self.bw))
        if self.expert_w:
            moe = self.model.moe
            assert moe is not None
            f = 2.0 * self.expert_w * moe.top_k * self.n_moe_per_device * tokens \
                + self.router_flops * tokens
            b = self.expert_bytes(tokens) + self.n_moe_per_device * 2 * self.hidden \
                * self.comp.act_bytes * tokens * moe.top_k
            out.append(OpCost("experts", f, b, f / self.peak, b / self.bw))
        f = self.attn_flops_per_pair * pairs
        b = self.kv_bytes_tok * (self.kv_read_factor * kv_read_tokens + tokens)
        out.append(OpCost("attention", f, b, f / self.peak_attn, b / self.bw_kv))
        f = 2.0 * self.logit_w * seqs / self.pp
        b = (self.logit_w * 2.0 + seqs * self.model.vocab / self.tp * 4.0) / self.pp
        out.append(OpCost("logits", f, b, f / self.peak, b / self.bw))
        if self.ar_per_step:
            msg = tokens * self.hidden * 2.0  # bytes per all-reduce
            t = self.ar_per_step * ring_allreduce_s(msg, self.tp, self.link_bw, self.link_alpha)
            out.append(OpCost("tp_allreduce", 0.0, self.ar_per_step * msg, 0.0, 0.0, t))
        if self.a2a_per_step and self.model.moe is not None:
            msg = tokens * self.a2a_tok_share * self.hidden * 2.0 * self.model.moe.top_k
            t = self.a2a_per_step * all_to_all_s(msg, self.tp, self.link_bw, self.link_alpha)
            out.append(OpCost("ep_all_to_all", 0.0, self.a2a_per_step * msg, 0.0, 0.0, t))
        out.append(OpCost("step_overhead", 0.0, 0.0, 0.0, 0.0, self.eff.step_overhead_s))
        return out

    def time(self, tokens: float, seqs: float, pairs: float, kv_read_tokens: float) -> float:
        """Seconds of one step on one pipeline stage: the sum of ``ops`` without building
        them (the simulator's hot path; a test checks both agree)."""
        t = self.eff.step_overhead_s
        peak, bw = self.peak, self.bw
        for _, wbytes, flops_tok, act in self.gemm_coeffs:
            t += max(flops_tok * tokens / peak, (wbytes + act * tokens) / bw)
        if self.expert_w:
            moe = self.model.moe
            assert moe is not None
            f = (2.0 * self.expert_w * moe.top_k * self.n_moe_per_device + self.router_flops) \
                * tokens
            b = self.expert_bytes(tokens) + self.n_moe_per_device * 2 * self.hidden \
                * self.comp.act_bytes * tokens * moe.top_k
            t += max(f / peak, b / bw)
        t += max(self.attn_flops_per_pair * pairs / self.peak_attn,
                 self.kv_bytes_tok * (self.kv_read_factor * kv_read_tokens + tokens) / self.bw_kv)
        t += max(2.0 * self.logit_w * seqs / self.pp / peak,
                 (self.logit_w * 2.0 + seqs * self.model.vocab / self.tp * 4.0) / self.pp / bw)
        if self.ar_per_step:
            t += self.ar_per_step * ring_allreduce_s(tokens * self.hidden * 2.0, self.tp,
                                                     self.link_bw, self.link_alpha)
        if self.a2a_per_step and self.model.moe is not None:
            msg = tokens * self.a2a_tok_share * self.hidden * 2.0 * self.model.moe.top_k
            t += self.a2a_per_step * all_to_all_s(msg, self.tp, self.link_bw, self.link_alpha)
        return t

    # --- the two phases, for ``n`` identical sequences --------------------------------------
    def prefill_ops(self, n: float, prompt: int, chunk_tokens: int = 8192) -> list[OpCost]:
        """Prefill ``n`` prompts of ``prompt`` tokens, in chunks of ``chunk_tokens`` (weights are
        re-read per chunk, as in chunked prefill); causal attention: s(s+1)/2 pairs each."""
        tokens = n * prompt
        chunks = max(1, math.ceil(tokens / chunk_tokens))
        per = self.ops(tokens / chunks, n / chunks, n * prompt * (prompt + 1) / 2 / chunks, 0.0)
        return [_scale(op, chunks) for op in per]

    def decode_ops(self, n: float, context: float) -> list[OpCost]:
        """One decode step: ``n`` sequences, each one new token attending ``context`` keys."""
        return self.ops(n, n, n * context, n * context)


def _scale(op: OpCost, k: float) -> OpCost:
    return OpCost(op.name, op.flops * k, op.bytes * k, op.compute_s * k, op.memory_s * k,
                  op.other_s * k)


def total_s(ops: list[OpCost]) -> float:
    return sum(op.time_s for op in ops)
