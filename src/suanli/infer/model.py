"""Per-op roofline of one forward step of a serving replica (prefill, decode or mixed).

A step processes ``tokens`` new tokens belonging to ``seqs`` sequences. Per device and per op
(Williams et al. 2009 roofline; the DESIGN.md modeling note):

    time_op = max(flops_op / (peak x eff.compute), bytes_op / (bw x eff.memory))

and the step time is the visible sum ``sum(time_op) + TP/EP communication + step overhead``
(host time, and the GPU's minimum per kernel of small-batch decode: ``suanli.infer.kernels``).
On stacks that expose the host time between steps it is ``step_overhead_s + layers / pp x
layer_overhead_s``: the TensorRT-LLM GptSession runtime sets each decoder layer's input tensors
and re-runs the engine's shape inference before it enqueues a step (docs/inference.md).

* GEMMs with weights (QKV, output projection, dense FFN, routed and shared experts, router,
  logits): ``flops = 2 x tokens x weights`` (``suanli.perf.ops``); bytes = weights read once
  per step + activations in and out. Decode (few tokens) is memory-bound; prefill compute-bound.
  The arithmetic intensity of a weight GEMM is ~``2 x tokens / bytes_per_weight`` FLOP/B.
* MoE: memory holds **all** experts, but a step reads only the experts its tokens route to:
  expected distinct experts per layer ``E x (1 - (1 - k/E)^tokens)`` (uniform routing), and the
  FLOPs use the ``top_k`` (+ shared) **active** experts per token. Under expert parallelism a
  rank computes ``1/ep`` of the (token, expert) pairs times the load imbalance, in tiles of
  ``gemm_tile_m`` rows, and dispatch/combine all-to-alls move the tokens (or, on stacks with
  ``moe_gather``, an all-gather and a reduce-scatter; ``suanli.infer.moe``, which also has the
  attention-DP layout and the two-batch overlap).
* Efficiency by shape: an op's time is the p-norm ``(c^p + m^p)^(1/p)`` of its compute and
  memory times (``Efficiency.roofline_sharpness``; p = inf is the plain roofline), so GEMMs with
  M near the ridge reach neither peak; grouped expert GEMMs compute whole tiles of
  ``gemm_tile_m`` rows (small per-expert batches cost more FLOPs than they use; dense GEMMs at
  small M run GEMV/split-K kernels without padding).
* Attention core: ``flops = pairs x f_attn`` (``pairs``: (query, key) pairs; ``f_attn =
  forward_flops_per_token(m, 1).attn_scores``: QK^T and AV, 4 x heads x d_head per layer; MLA
  decode with absorbed up-projections: ``2 h (2 c + r)``); bytes = KV cache read (decode: every
  cached token) + written (new tokens), at the ``attention_memory`` efficiency.
* TP all-reduce: 2 per layer of ``tokens x hidden x 2 B`` (Shoeybi et al. 2019; 1 for
  parallel attention + MLP layers on stacks that sum them first:
  ``allreduce.allreduces_per_layer``), by the stack's algorithm (``suanli.infer.allreduce``:
  peer-access one-shot / two-shot, the NCCL ring, or the TensorRT-LLM engine-era custom
  kernel), on links at the achieved fraction ``comm_efficiency``
  of their rate (``data/moe.yaml``: nccl-tests bus bandwidth is 70-85% of the link rate).
* Pipeline parallelism: each device holds ``layers / pp``; the caller runs ``pp`` micro-batches.
"""

from __future__ import annotations

import math
from functools import lru_cache

from suanli.catalog.schema import Accelerator, ModelSpec, System
from suanli.infer.allreduce import allreduces_per_layer, serving_allreduce_s
from suanli.infer.compression import Compression
from suanli.infer.efficiency import Efficiency
from suanli.infer.kernels import (
    cuda_core_rate,
    gemv_instr_s,
    kernel_count,
    kernels_s,
    masked_mha_read_s,
)
from suanli.infer.memory import kv_bytes_per_token_per_device
from suanli.infer.moe import (
    a2a_bytes,
    a2a_time_s,
    experts_per_rank,
    gather_bytes,
    gather_time_s,
    load_imbalance,
    moe_params,
    nodes_spanned,
    overlapped_s,
    routed_expert_cost,
    touched_experts,
)
from suanli.infer.opcost import OpCost, roofline, scale_op, total_s
from suanli.infer.stacks import Stack
from suanli.infer.stacks import stack as stack_of
from suanli.perf.ops import (
    ForwardFlops,
    attention_params,
    ffn_params,
    forward_flops_per_token,
    moe_layer_count,
)


@lru_cache(maxsize=256)
def _counts(m: ModelSpec) -> tuple[int, int, ForwardFlops]:
    """MoE layers, attention weights per layer, forward FLOPs per token at context 1."""
    return moe_layer_count(m), attention_params(m), forward_flops_per_token(m, 1)


class StepModel:
    """Coefficients of one replica's forward step, precomputed so a step costs microseconds
    (the serving simulator calls it once per batch iteration).

    ``tp``: ranks per pipeline stage. ``attn_dp``: attention data-parallel over those ranks
    (DeepSeek-V3 / TensorRT-LLM / SGLang MoE layout): each rank runs attention, dense FFN
    layers, shared experts and the logits on its own ``1/tp`` of the sequences with replicated
    weights and no TP all-reduce; routed experts split ``ep`` ways (``suanli.infer.moe``).
    ``kv_read_factor``: how many times the decode kernel reads each cached K/V head; 1 for
    kernels that share a KV head across its query group (FlashInfer, vLLM, TensorRT-LLM XQA
    since v0.7), ``heads / kv_heads`` for the per-query-head masked-MHA kernels before them
    (whose repeated loads L2 serves, at the kernel's rate ``Efficiency.legacy_kv_gbs``, on
    stacks with ``mmha_l2_reuse``: ``infer.kernels.masked_mha_read_s``).
    ``overlap``: two-micro-batch overlap of the EP all-to-all (kept only where it is faster).
    ``imbalance``: override the routed-load imbalance (None: ``moe.load_imbalance``).
    ``stack``: the serving stack (``infer.stacks``; None: ``default``), read for its features:
    ``allreduce``, ``peer`` (one-shot / two-shot inside the domain), ``nccl`` (the ring with
    the domain's link and latency) or ``custom`` / ``custom_grid`` (TensorRT-LLM v0.6-v0.9's
    kernel; ``infer.allreduce``); ``step_overhead``, whether it exposes the host time between
    steps (``Efficiency.step_overhead_s`` plus ``layer_overhead_s`` per decoder layer of the
    stage); runtimes that replay CUDA graphs and prepare the
    next step while the GPU runs this one hide it; ``moe_gather``; ``kernels`` per dense / MoE
    layer, ``Efficiency.kernel_s`` each (``infer.kernels``; in that row); ``gemv``,
    instructions per weight element a GEMV issues beyond a 16-bit one for weight-only
    dequantisation / gathered routed experts, added to the weight stream (``infer.kernels``);
    ``fused_parallel_allreduce``, its per-layer all-reduce count.
    """

    def __init__(self, model: ModelSpec, acc: Accelerator, system: System, comp: Compression,
                 eff: Efficiency, *, tp: int = 1, pp: int = 1, ep: int = 1,
                 attn_dp: bool = False, kv_read_factor: float = 1.0, overlap: bool = True,
                 imbalance: float | None = None, stack: Stack | None = None) -> None:
        st = stack_of(stack)
        self.model, self.acc, self.system, self.comp, self.eff = model, acc, system, comp, eff
        self.tp, self.pp, self.ep, self.attn_dp = tp, pp, ep, attn_dp
        self.overlap, self.imbalance = overlap, imbalance
        # exposed host time per step (seconds): fixed, and per decoder layer of this stage
        self.step_s = (eff.step_overhead_s + eff.layer_overhead_s * model.layers / pp
                       if st.step_overhead else 0.0)
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
        n_moe, attn_w, fpt = _counts(m)
        n_dense = m.layers - n_moe
        self.kernels_step = kernel_count(n_dense, n_moe, *st.kernels, pp)  # ``infer.kernels``
        self.kernel_tok_s = 2.0 * m.hidden * comp.act_bytes / self.bw  # hidden state in + out
        rate = cuda_core_rate(acc.fp32_tflops)  # ``infer.kernels``: seconds per weight element
        dq = st.gemv[0] if comp.weight_only else 0.0
        self.instr_s = gemv_instr_s(dq, rate)  # seconds per weight element
        self.expert_instr_s = gemv_instr_s(dq + st.gemv[1], rate)
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
        self.gemm_instr = [w * self.instr_s for _, w, _, _ in gemms]  # seconds per step
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
        # the pre-XQA masked MHA kernel's K/V load rate (``infer.kernels.masked_mha_read_s``)
        self.kv_kernel_bw = (eff.legacy_kv_gbs * 1e9 if st.kv_loads_via_l2
                             and eff.legacy_kv_gbs > 0 else math.inf)
        self.hidden = m.hidden
        # communication per step (Shoeybi et al. 2019: one all-reduce after attention and one
        # after the FFN per layer; EP: dispatch + combine all-to-all per MoE layer)
        n_ar = 0.0 if (tp == 1 or attn_dp) else float(m.layers)  # after attention
        fused = allreduces_per_layer(m.family, st.fused_parallel_allreduce) == 1
        n_ar += n_dense if (tp > 1 and not attn_dp and not fused) else 0.0
        self.moe_a2a = bool(n_moe and ep > 1)
        self.moe_gather = st.moe_gather and attn_dp  # all-gather / reduce-scatter path (moe.py)
        if n_moe and tp > 1 and ep == 1 and not attn_dp:
            n_ar += n_moe
        self.ar_per_step = n_ar / pp
        inside = tp <= system.scale_up_domain
        self.inside, self.ar_algo = inside, st.allreduce  # ``infer.allreduce``
        self.ar_kernel_bw = eff.custom_allreduce_gbs * 1e9  # the ``custom`` kernel's bytes/s
        link = system.scale_up_gbs if inside else system.scale_out_gbs
        lat = system.scale_up_latency_us if inside else system.scale_out_latency_us
        # bytes/s reached on the link (achieved fraction, module doc), seconds per hop
        self.link_bw, self.link_alpha = link * 1e9 * self.mp.comm_efficiency, lat * 1e-6
        self.nodes = nodes_spanned(ep, system.devices_per_node)
        self.dp_nodes = nodes_spanned(tp, system.devices_per_node)  # all-gather path
        ce = self.mp.comm_efficiency
        self.a2a_up_bw = system.scale_up_gbs * 1e9 * ce  # bytes/s per rank
        self.a2a_out_bw = system.scale_out_gbs * 1e9 * ce
        self.a2a_alpha = (system.scale_out_latency_us if self.nodes > 1
                          else system.scale_up_latency_us) * 1e-6

    def expert_bytes(self, tokens: float) -> float:
        """Expected bytes of routed-expert weights one step reads per device (module doc)."""
        moe = self.model.moe
        if moe is None or not self.expert_w:
            return 0.0
        local = experts_per_rank(moe.num_experts, self.ep)
        used = touched_experts(tokens, moe.top_k, moe.num_experts, local)
        return self.n_moe_per_device * used * self.expert_w * self.comp.weight_bytes_moved

    def _compute_ops(self, tokens: float, seqs: float, pairs: float, kv_read_tokens: float,
                     kv_share: float = 1.0) -> list[tuple[str, float, float, float, float]]:
        """(name, FLOP, bytes, compute s, memory s) per op: plain tuples, so the hot path
        (``time``) builds no objects; ``ops`` wraps them in :class:`OpCost`."""
        tile = self.mp.gemm_tile_m
        out: list[tuple[str, float, float, float, float]] = []
        for (name, wbytes, flops_tok, act), ins in zip(self.gemm_coeffs, self.gemm_instr,
                                                       strict=True):
            f, b = flops_tok * tokens, wbytes + act * tokens
            out.append((name, f, b, f / self.peak, b / self.bw + ins))
        moe = self.model.moe
        if self.expert_w and moe is not None:
            c = routed_expert_cost(
                tokens, top_k=moe.top_k, num_experts=moe.num_experts, ep=self.ep,
                expert_weights=self.expert_w, weight_bytes=self.comp.weight_bytes_moved,
                act_bytes=self.comp.act_bytes, hidden=self.hidden,
                inner=moe.expert_ffn_hidden // self.etp, layers=self.n_moe_per_device,
                cv=self.mp.expert_load_cv, tile=tile, imbalance=self.imbalance)
            f = c.flops + self.router_flops * tokens
            fp = c.padded_flops + self.router_flops * tokens  # whole tiles are computed
            x = self.eff.expert_efficiency  # grouped GEMM vs dense GEMM compute efficiency
            ins = self.expert_bytes(tokens) / self.comp.weight_bytes_moved * self.expert_instr_s
            out.append(("experts", f, c.bytes, fp / (self.peak * x), c.bytes / self.bw + ins))
        # decode tokens attend their cached keys (``kv_read_tokens`` pairs); the rest are prefill
        dec_pairs = min(kv_read_tokens, pairs)
        f = self.attn_flops_per_pair_decode * dec_pairs \
            + self.attn_flops_per_pair * (pairs - dec_pairs)
        f *= self.tok_share
        b, m = self._kv_read(kv_read_tokens, kv_share, tokens)
        out.append(("attention", f, b, f / self.peak_attn, m))
        s = seqs * self.tok_share
        f = 2.0 * self.logit_w * s / self.pp
        b = (self.logit_w * 2.0 + s * self.model.vocab / self.mtp * 4.0) / self.pp
        out.append(("logits", f, b, f / self.peak, b / self.bw))
        return out

    def _kv_read(self, kv_read_tokens: float, kv_share: float, tokens: float
                 ) -> tuple[float, float]:
        """(HBM bytes, seconds) of the attention's K/V traffic: the cached K/V read (each head
        ``kv_read_factor`` times by the kernel, ``infer.kernels.masked_mha_read_s``) and the
        new tokens' K/V written."""
        read = self.kv_bytes_tok * kv_read_tokens / kv_share
        write = self.kv_bytes_tok * tokens
        loads = self.kv_read_factor if math.isinf(self.kv_kernel_bw) else 1.0
        return (loads * read + write, masked_mha_read_s(read, self.kv_read_factor, self.bw_kv,
                                                        self.kv_kernel_bw)
                + write / self.bw_kv)

    def _compute_s(self, tokens: float, seqs: float, pairs: float, kv_read_tokens: float,
                   kv_share: float = 1.0) -> float:
        p = self.eff.roofline_sharpness
        return sum(roofline(c, m, p) for _, _, _, c, m in
                   self._compute_ops(tokens, seqs, pairs, kv_read_tokens, kv_share))

    def _allreduce_s(self, nbytes: float) -> float:
        """Seconds of one TP all-reduce of ``nbytes`` (``infer.allreduce``)."""
        return serving_allreduce_s(nbytes, self.tp, self.link_bw, self.link_alpha,
                                   self.ar_algo, self.inside, self.ar_kernel_bw)

    def _comm(self, tokens: float) -> list[tuple[str, float, float]]:
        """(name, bytes, seconds) of the step's collectives per device."""
        out = []
        if self.ar_per_step:
            msg = tokens * self.hidden * 2.0  # bytes per all-reduce
            t = self.ar_per_step * self._allreduce_s(msg)
            out.append(("tp_allreduce", self.ar_per_step * msg, t))
        moe = self.model.moe
        if self.moe_a2a and moe is not None:
            per_rank = tokens / self.tp  # tokens each rank dispatches
            t = nbytes = 0.0
            if self.moe_gather:
                for eb in (self.mp.dispatch_bytes, self.mp.combine_bytes):
                    t += gather_time_s(per_rank, hidden=self.hidden, ranks=self.tp,
                                       nodes=self.dp_nodes, elem_bytes=eb,
                                       scale_up_bw=self.a2a_up_bw,
                                       scale_out_bw=self.a2a_out_bw, alpha=self.a2a_alpha)
                    nbytes += sum(gather_bytes(per_rank, hidden=self.hidden, ranks=self.tp,
                                               nodes=self.dp_nodes, elem_bytes=eb))
                n = self.n_moe_per_device
                out.append(("ep_gather_scatter", n * nbytes, n * t))
                return out
            imb = self.imbalance if self.imbalance is not None else load_imbalance(
                tokens, moe.top_k, moe.num_experts, self.ep, self.mp.expert_load_cv)
            for eb in (self.mp.dispatch_bytes, self.mp.combine_bytes):  # dispatch, combine
                t += a2a_time_s(per_rank, hidden=self.hidden, top_k=moe.top_k, ep=self.ep,
                                nodes=self.nodes, elem_bytes=eb, scale_up_bw=self.a2a_up_bw,
                                scale_out_bw=self.a2a_out_bw, alpha=self.a2a_alpha,
                                imbalance=imb)
                nbytes += sum(a2a_bytes(per_rank, hidden=self.hidden, top_k=moe.top_k,
                                        ep=self.ep, nodes=self.nodes, elem_bytes=eb))
            n = self.n_moe_per_device
            out.append(("ep_dispatch_combine", n * nbytes, n * t))
        return out

    def _comm_ops(self, tokens: float) -> list[OpCost]:
        return [OpCost(n, 0.0, b, 0.0, 0.0, t) for n, b, t in self._comm(tokens)]

    def ops(self, tokens: float, seqs: float, pairs: float, kv_read_tokens: float,
            kv_share: float = 1.0) -> list[OpCost]:
        """Per-op costs of a step: ``tokens`` new tokens of ``seqs`` sequences, ``pairs``
        attended (query, key) pairs, ``kv_read_tokens`` of them by decode queries over cached
        keys (over the replica; the costs are per device). ``kv_share``: decode query tokens of
        a sequence that share one read of its cache (speculative / MTP verification: FlashMLA
        reads a request's cache once for its ``s_q`` query tokens, ``2 s_k d_k`` bytes,
        github.com/deepseek-ai/FlashMLA docs/20250422-new-kernel-deep-dive.md). The step
        time is the plain sum of the rows; with EP and ``overlap``, a ``two_batch_overlap``
        row (<= 0) says what the overlap saves."""
        p = self.eff.roofline_sharpness
        out = [OpCost(n, f, b, c, m, 0.0, p) for n, f, b, c, m in
               self._compute_ops(tokens, seqs, pairs, kv_read_tokens, kv_share)]
        comm = self._comm_ops(tokens)
        saved = self._overlap_saving(tokens, seqs, pairs, kv_read_tokens,
                                     total_s(out), total_s(comm), kv_share)
        out += comm
        if saved < 0:
            out.append(OpCost("two_batch_overlap", 0.0, 0.0, 0.0, 0.0, saved))
        out.append(OpCost("step_overhead", 0.0, 0.0, 0.0, 0.0, self._fixed_s(tokens, seqs)))
        return out

    def _overlap_saving(self, tokens: float, seqs: float, pairs: float, kv_read_tokens: float,
                        compute_s: float, comm_s: float, kv_share: float = 1.0) -> float:
        """Seconds (<= 0) the two-micro-batch overlap saves over ``compute + comm``."""
        if not (self.overlap and self.moe_a2a and tokens >= 2):
            return 0.0
        half = self._compute_s(tokens / 2, seqs / 2, pairs / 2, kv_read_tokens / 2, kv_share)
        return min(0.0, overlapped_s(half, comm_s) - compute_s - comm_s)

    def time(self, tokens: float, seqs: float, pairs: float, kv_read_tokens: float,
             kv_share: float = 1.0) -> float:
        """Seconds of one step on one pipeline stage: the sum of ``ops`` without building
        them (the simulator's hot path; a test checks both agree)."""
        if self.expert_w or self.attn_dp or self.model.mla is not None:
            comp = self._compute_s(tokens, seqs, pairs, kv_read_tokens, kv_share)
            comm = sum(t for _, _, t in self._comm(tokens))
            gpu = comp + comm + self._overlap_saving(tokens, seqs, pairs, kv_read_tokens,
                                                     comp, comm, kv_share)
            return gpu + self._fixed_s(tokens, seqs)
        t = 0.0
        peak, bw, p = self.peak, self.bw, self.eff.roofline_sharpness
        for (_, wbytes, flops_tok, act), ins in zip(self.gemm_coeffs, self.gemm_instr,
                                                    strict=True):
            t += roofline(flops_tok * tokens / peak, (wbytes + act * tokens) / bw + ins, p)
        dec = min(kv_read_tokens, pairs)
        t += roofline((self.attn_flops_per_pair_decode * dec
                       + self.attn_flops_per_pair * (pairs - dec)) / self.peak_attn,
                      self._kv_read(kv_read_tokens, kv_share, tokens)[1], p)
        t += roofline(2.0 * self.logit_w * seqs / self.pp / peak,
                      (self.logit_w * 2.0 + seqs * self.model.vocab / self.tp * 4.0)
                      / self.pp / bw, p)
        if self.ar_per_step:
            t += self.ar_per_step * self._allreduce_s(tokens * self.hidden * 2.0)
        return t + self._fixed_s(tokens, seqs)

    def _fixed_s(self, tokens: float, seqs: float) -> float:
        """Host time per step and per sequence, and the per-kernel GPU time (``infer.kernels``)."""
        return self.step_s + self.eff.seq_overhead_s * seqs * self.tok_share + kernels_s(
            self.kernels_step, self.eff.kernel_s, tokens * self.tok_share * self.kernel_tok_s)

    # --- the two phases, for ``n`` identical sequences --------------------------------------
    def prefill_ops(self, n: float, prompt: int, chunk_tokens: int = 8192,
                    cached: float = 0.0) -> list[OpCost]:
        """Prefill ``n`` prompts of ``prompt`` tokens, in chunks of ``chunk_tokens`` (weights are
        re-read per chunk, as in chunked prefill); causal attention: s(s+1)/2 pairs each. The
        first ``cached`` tokens of each prompt come from a prefix cache: only ``prompt -
        cached`` are computed, attending the cached keys and the causal new ones."""
        new = max(prompt - cached, 1.0)
        tokens = n * new
        chunks = max(1, math.ceil(tokens / chunk_tokens))
        pairs = n * (new * (prompt - new) + new * (new + 1) / 2)
        per = self.ops(tokens / chunks, n / chunks, pairs / chunks, 0.0)
        return [scale_op(op, chunks) for op in per]

    def decode_ops(self, n: float, context: float) -> list[OpCost]:
        """One decode step: ``n`` sequences, each one new token attending ``context`` keys."""
        return self.ops(n, n, n * context, n * context)
