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
  FLOPs use the ``top_k`` (+ shared) **active** experts per token. Under expert parallelism a
  rank computes ``1/ep`` of the (token, expert) pairs times the load imbalance, in tiles of
  ``gemm_tile_m`` rows, and dispatch/combine all-to-alls move the tokens
  (``suanli.infer.moe``, which also has the attention-DP layout and the two-batch overlap).
* Efficiency by shape: an op's time is the p-norm ``(c^p + m^p)^(1/p)`` of its compute and
  memory times (``Efficiency.roofline_sharpness``; p = inf is the plain roofline), so GEMMs with
  M near the ridge reach neither peak; grouped expert GEMMs compute whole tiles of
  ``gemm_tile_m`` rows (small per-expert batches cost more FLOPs than they use; dense GEMMs at
  small M run GEMV/split-K kernels without padding).
* Attention core: ``flops = pairs x f_attn`` where ``pairs`` counts (query, key) pairs and
  ``f_attn = forward_flops_per_token(m, 1).attn_scores`` (QK^T and AV, 4 x heads x d_head per
  layer; MLA decode with absorbed up-projections: ``2 h (2 c + r)`` per layer); bytes = KV
  cache read (decode: every cached token) + written (new tokens), at the
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
from suanli.perf.comm import ring_allreduce_s
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
    sharpness: float = math.inf  # p of the roofline p-norm (Efficiency.roofline_sharpness)

    @property
    def time_s(self) -> float:
        return roofline(self.compute_s, self.memory_s, self.sharpness) + self.other_s

    @property
    def bound(self) -> str:
        if self.other_s > 0 and self.other_s >= max(self.compute_s, self.memory_s):
            return "communication" if self.name.endswith(("reduce", "all")) else "overhead"
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP per byte."""
        return self.flops / self.bytes if self.bytes else math.inf


def roofline(c: float, m: float, p: float) -> float:
    """``(c^p + m^p)^(1/p)``: the roofline max for ``p = inf``, smoother near the ridge."""
    if math.isinf(p):
        return max(c, m)
    hi = max(c, m)
    if hi <= 0.0:
        return 0.0
    return hi * ((c / hi) ** p + (m / hi) ** p) ** (1.0 / p)


class StepModel:
    """Coefficients of one replica's forward step, precomputed so a step costs microseconds
    (the serving simulator calls it once per batch iteration).

    ``tp``: ranks per pipeline stage. ``attn_dp``: attention data-parallel over those ranks
    (DeepSeek-V3 / TensorRT-LLM / SGLang MoE layout): each rank runs attention, dense FFN
    layers, shared experts and the logits on its own ``1/tp`` of the sequences with replicated
    weights and no TP all-reduce; routed experts split ``ep`` ways (``suanli.infer.moe``).
    ``kv_read_factor``: how many times the decode kernel reads each cached K/V head; 1 for
    kernels that share a KV head across its query group (FlashInfer, vLLM, TensorRT-LLM XQA
    since v0.7), ``heads / kv_heads`` for the per-query-head masked-MHA kernels before them.
    ``overlap``: two-micro-batch overlap of the EP all-to-all (kept only where it is faster).
    ``imbalance``: override the routed-load imbalance (None: ``moe.load_imbalance``).
    """

    def __init__(self, model: ModelSpec, acc: Accelerator, system: System, comp: Compression,
                 eff: Efficiency, *, tp: int = 1, pp: int = 1, ep: int = 1,
                 attn_dp: bool = False, kv_read_factor: float = 1.0, overlap: bool = True,
                 imbalance: float | None = None) -> None:
        from suanli.infer.moe import moe_params, nodes_spanned

        self.model, self.acc, self.system, self.comp, self.eff = model, acc, system, comp, eff
        self.tp, self.pp, self.ep, self.attn_dp = tp, pp, ep, attn_dp
        self.overlap, self.imbalance = overlap, imbalance
        self.mp = moe_params()
        m = model
        dp = tp if attn_dp else 1  # data-parallel ranks for everything but routed experts
        mtp = 1 if attn_dp else tp  # tensor-parallel ways of attention / dense / shared
        shard = mtp * pp  # devices holding one copy of a dense weight
        tok_share = 1.0 / dp  # share of the step's tokens one rank processes
        self.tok_share, self.mtp = tok_share, mtp
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
        # (name, weight elements per device, FLOP per token of the step per device, activation
        # elements in + out per token of the step per device)
        gemms: list[tuple[str, float, float, float]] = [
            ("qkv", m.layers * qkv_w / shard, 2.0 * m.layers * qkv_w / shard * tok_share,
             tok_share * m.layers * (m.hidden + qkv_w / m.hidden / mtp) / pp),
            ("attn_out", m.layers * out_w / shard, 2.0 * m.layers * out_w / shard * tok_share,
             tok_share * m.layers * (out_w / m.hidden / mtp + m.hidden) / pp),
        ]
        if n_dense:
            ffn = n_dense * ffn_params(m, m.ffn_hidden)
            gemms.append(("mlp", ffn / shard, 2.0 * ffn / shard * tok_share,
                          tok_share * n_dense * (2 * m.hidden + 2 * m.ffn_hidden / mtp) / pp))
        self.n_moe_per_device = n_moe / pp
        self.expert_w = 0.0
        self.etp = max(tp // max(ep, 1), 1)  # ways each routed expert is split
        if m.moe is not None and n_moe:
            self.expert_w = ffn_params(m, m.moe.expert_ffn_hidden) / self.etp  # one expert
            if m.moe.shared_experts:
                sh = n_moe * m.moe.shared_experts * ffn_params(m, m.moe.expert_ffn_hidden)
                gemms.append(("shared_experts", sh / shard, 2.0 * sh / shard * tok_share,
                              tok_share * n_moe * 2 * m.hidden / pp))
        self.gemm_coeffs = [(n, w * wb, f, a * ab) for n, w, f, a in gemms]
        fpt = forward_flops_per_token(m, 1)
        self.router_flops = fpt.router / shard * tok_share  # per token of the step
        # attention core per (query, key) pair per device. MLA decode runs with the up-
        # projections absorbed (DeepSeek-V2 sec. 2.1.2; FlashMLA): scores over the latent +
        # rope dims and the value sum over the latent, ``2 h (2 c + r)`` per pair per layer,
        # reading only the latent cache; prefill runs the plain form (``fpt.attn_scores``).
        self.attn_flops_per_pair = fpt.attn_scores / mtp / pp
        self.attn_flops_per_pair_decode = self.attn_flops_per_pair
        if m.mla is not None:
            a = m.mla
            self.attn_flops_per_pair_decode = (m.layers * 2.0 * m.heads
                                               * (2 * a.kv_lora_rank + a.qk_rope_head_dim)
                                               / mtp / pp)
        self.logit_w = m.hidden * m.vocab / mtp  # elements, on the last stage
        self.kv_bytes_tok = kv_bytes_per_token_per_device(m, comp, tp, pp, attn_dp)
        self.kv_read_factor = kv_read_factor
        self.hidden = m.hidden
        # communication per step (Shoeybi et al. 2019: one all-reduce after attention and one
        # after the FFN per layer; EP: dispatch + combine all-to-all per MoE layer)
        n_ar = 0.0 if (tp == 1 or attn_dp) else float(m.layers)  # after attention
        n_ar += n_dense if (tp > 1 and not attn_dp) else 0.0
        self.moe_a2a = bool(n_moe and ep > 1)
        if n_moe and tp > 1 and ep == 1 and not attn_dp:
            n_ar += n_moe
        self.ar_per_step = n_ar / pp
        inside = tp <= system.scale_up_domain
        link = system.scale_up_gbs if inside else system.scale_out_gbs
        lat = system.scale_up_latency_us if inside else system.scale_out_latency_us
        self.link_bw, self.link_alpha = link * 1e9, lat * 1e-6  # bytes/s, seconds
        self.nodes = nodes_spanned(ep, system.devices_per_node)
        ce = self.mp.comm_efficiency
        self.a2a_up_bw = system.scale_up_gbs * 1e9 * ce  # bytes/s per rank
        self.a2a_out_bw = system.scale_out_gbs * 1e9 * ce
        self.a2a_alpha = (system.scale_out_latency_us if self.nodes > 1
                          else system.scale_up_latency_us) * 1e-6

    def expert_bytes(self, tokens: float) -> float:
        """Expected bytes of routed-expert weights one step reads per device (module doc)."""
        from suanli.infer.moe import experts_per_rank, touched_experts

        moe = self.model.moe
        if moe is None or not self.expert_w:
            return 0.0
        local = experts_per_rank(moe.num_experts, self.ep)
        used = touched_experts(tokens, moe.top_k, moe.num_experts, local)
        return self.n_moe_per_device * used * self.expert_w * self.comp.weight_bytes_moved

    def _compute_ops(self, tokens: float, seqs: float, pairs: float, kv_read_tokens: float
                     ) -> list[OpCost]:
        from suanli.infer.moe import routed_expert_cost

        tile, p = self.mp.gemm_tile_m, self.eff.roofline_sharpness
        out = []
        for name, wbytes, flops_tok, act in self.gemm_coeffs:
            f, b = flops_tok * tokens, wbytes + act * tokens
            out.append(OpCost(name, f, b, f / self.peak, b / self.bw, 0.0, p))
        moe = self.model.moe
        if self.expert_w and moe is not None:
            c = routed_expert_cost(
                tokens, top_k=moe.top_k, num_experts=moe.num_experts, ep=self.ep,
                expert_weights=self.expert_w, weight_bytes=self.comp.weight_bytes_moved,
                act_bytes=self.comp.act_bytes, hidden=self.hidden,
                inner=moe.expert_ffn_hidden // self.etp, layers=self.n_moe_per_device,
                cv=self.mp.expert_load_cv, tile=tile, imbalance=self.imbalance)
            f = c.flops + self.router_flops * tokens
            x = self.eff.expert_efficiency  # grouped GEMM vs dense GEMM compute efficiency
            out.append(OpCost("experts", f, c.bytes, f / (self.peak * x), c.bytes / self.bw,
                              0.0, p))
        # decode tokens attend their cached keys (``kv_read_tokens`` pairs); the rest are prefill
        dec_pairs = min(kv_read_tokens, pairs)
        f = self.attn_flops_per_pair_decode * dec_pairs \
            + self.attn_flops_per_pair * (pairs - dec_pairs)
        f *= self.tok_share
        b = self.kv_bytes_tok * (self.kv_read_factor * kv_read_tokens + tokens)
        out.append(OpCost("attention", f, b, f / self.peak_attn, b / self.bw_kv, 0.0, p))
        s = seqs * self.tok_share
        f = 2.0 * self.logit_w * s / self.pp
        b = (self.logit_w * 2.0 + s * self.model.vocab / self.mtp * 4.0) / self.pp
        out.append(OpCost("logits", f, b, f / self.peak, b / self.bw, 0.0, p))
        return out

    def _comm_ops(self, tokens: float) -> list[OpCost]:
        from suanli.infer.moe import a2a_bytes, a2a_time_s, load_imbalance

        out = []
        if self.ar_per_step:
            msg = tokens * self.hidden * 2.0  # bytes per all-reduce
            t = self.ar_per_step * ring_allreduce_s(msg, self.tp, self.link_bw, self.link_alpha)
            out.append(OpCost("tp_allreduce", 0.0, self.ar_per_step * msg, 0.0, 0.0, t))
        moe = self.model.moe
        if self.moe_a2a and moe is not None:
            per_rank = tokens / self.tp  # tokens each rank dispatches
            imb = self.imbalance if self.imbalance is not None else load_imbalance(
                tokens, moe.top_k, moe.num_experts, self.ep, self.mp.expert_load_cv)
            t = nbytes = 0.0
            for eb in (self.mp.dispatch_bytes, self.mp.combine_bytes):
                kw = dict(hidden=self.hidden, top_k=moe.top_k, ep=self.ep, nodes=self.nodes,
                          elem_bytes=eb)
                t += a2a_time_s(per_rank, scale_up_bw=self.a2a_up_bw,
                                scale_out_bw=self.a2a_out_bw, alpha=self.a2a_alpha,
                                imbalance=imb, **kw)  # type: ignore[arg-type]
                nbytes += sum(a2a_bytes(per_rank, **kw))  # type: ignore[arg-type]
            n = self.n_moe_per_device
            out.append(OpCost("ep_dispatch_combine", 0.0, n * nbytes, 0.0, 0.0, n * t))
        return out

    def ops(self, tokens: float, seqs: float, pairs: float, kv_read_tokens: float) -> list[OpCost]:
        """Per-op costs of a step: ``tokens`` new tokens of ``seqs`` sequences, ``pairs``
        attended (query, key) pairs, ``kv_read_tokens`` cached tokens read (over the replica;
        the costs are per device). The step time is the plain sum of the rows; with EP and
        ``overlap``, a ``two_batch_overlap`` row (<= 0) says what the overlap saves."""
        comp = self._compute_ops(tokens, seqs, pairs, kv_read_tokens)
        comm = self._comm_ops(tokens)
        out = comp + comm
        if self.overlap and self.moe_a2a and tokens >= 2:
            plain = total_s(out)
            half = total_s(self._compute_ops(tokens / 2, seqs / 2, pairs / 2,
                                             kv_read_tokens / 2))
            from suanli.infer.moe import overlapped_s

            saved = min(0.0, overlapped_s(half, total_s(comm)) - plain)
            if saved < 0:
                out.append(OpCost("two_batch_overlap", 0.0, 0.0, 0.0, 0.0, saved))
        out.append(OpCost("step_overhead", 0.0, 0.0, 0.0, 0.0, self.eff.step_overhead_s
                          + self.eff.seq_overhead_s * seqs * self.tok_share))
        return out

    def time(self, tokens: float, seqs: float, pairs: float, kv_read_tokens: float) -> float:
        """Seconds of one step on one pipeline stage: the sum of ``ops`` (a fast path without
        building them for dense models, the simulator's hot path; a test checks both agree)."""
        if self.expert_w or self.attn_dp or self.model.mla is not None:
            return total_s(self.ops(tokens, seqs, pairs, kv_read_tokens))
        t = self.eff.step_overhead_s + self.eff.seq_overhead_s * seqs
        peak, bw, p = self.peak, self.bw, self.eff.roofline_sharpness
        for _, wbytes, flops_tok, act in self.gemm_coeffs:
            t += roofline(flops_tok * tokens / peak, (wbytes + act * tokens) / bw, p)
        dec = min(kv_read_tokens, pairs)
        t += roofline((self.attn_flops_per_pair_decode * dec
                       + self.attn_flops_per_pair * (pairs - dec)) / self.peak_attn,
                      self.kv_bytes_tok * (self.kv_read_factor * kv_read_tokens + tokens)
                      / self.bw_kv, p)
        t += roofline(2.0 * self.logit_w * seqs / self.pp / peak,
                      (self.logit_w * 2.0 + seqs * self.model.vocab / self.tp * 4.0)
                      / self.pp / bw, p)
        if self.ar_per_step:
            t += self.ar_per_step * ring_allreduce_s(tokens * self.hidden * 2.0, self.tp,
                                                     self.link_bw, self.link_alpha)
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
                  op.other_s * k, op.sharpness)


def total_s(ops: list[OpCost]) -> float:
    return sum(op.time_s for op in ops)
