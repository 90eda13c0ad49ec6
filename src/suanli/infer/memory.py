"""Memory of a serving replica: weights, KV cache, activations, and how many sequences fit.

* Weights: **total** parameters (all experts of an MoE model are resident) x bytes per weight,
  split evenly over the replica's ``tp x pp`` devices (tensor/expert slices and pipeline stages).
* KV cache per token (Pope et al. 2022, sec. 3.1; Kwon et al. 2023 vLLM):
  ``2 x layers x kv_heads x head_dim x bytes`` (K and V). MLA (DeepSeek-V2, Liu et al. 2024)
  caches the compressed latent: ``layers x (kv_lora_rank + qk_rope_head_dim) x bytes``.
  Under TP the KV heads are split ``min(tp, kv_heads)`` ways (replicated beyond that); the MLA
  latent is replicated on every TP rank. Pipeline stages each hold ``layers / pp``.
  With attention data parallelism (``attn_dp``: DeepSeek-V3 / TensorRT-LLM MoE serving) each
  of the ``tp`` ranks keeps its own sequences' whole KV cache (no replication), and the
  attention, dense and shared-expert weights are replicated while the routed experts stay
  split ``ep`` ways (``weight_terms``: one term per weight group, summed).
* Activations: a workspace for the largest forward pass, ``tokens x (hidden + ffn/tp) x 2 x
  bytes`` (buffers are reused layer to layer), plus the logits ``tokens x vocab x 4 B``.
* MoE under attention-DP with an all-gather expert path (``moe_gather``; TensorRT-LLM's
  CUTLASS fused MoE): every rank runs the experts over the tokens of all ``tp`` DP ranks, up to
  ``moe_max_num_tokens = max_num_tokens x dp_size`` rows (``_torch/modules/fused_moe``), and the
  kernel's workspace holds ``k`` copies of each row (``CutlassMoeFCRunner::
  getWorkspaceDeviceBufferSizes``: permuted input ``k rows hidden``, the gated FC1 output ``k
  rows 2 inter`` in 16-bit, its activation ``k rows inter``, the FC2 output ``k rows hidden`` in
  16-bit): ``moe_workspace_bytes``, added to the activations.
* KV capacity = ``kv_mem_fraction x (device memory - weights - activations)`` (vLLM's
  ``gpu_memory_utilization`` plays the same role).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from suanli.catalog.schema import Accelerator, ModelSpec
from suanli.infer.compression import Compression
from suanli.perf.ops import attention_params, param_count


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per device."""

    weights: float
    kv_cache: float  # at the given batch and context
    activations: float
    capacity: float  # device memory
    kv_capacity: float  # bytes usable for KV cache

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.activations

    @property
    def fits(self) -> bool:
        return self.weights + self.activations < self.capacity and \
            self.kv_cache <= self.kv_capacity * (1 + 1e-9)

    def as_gb(self) -> dict[str, float]:
        return {"weights_gb": self.weights / 1e9, "kv_cache_gb": self.kv_cache / 1e9,
                "activations_gb": self.activations / 1e9, "total_gb": self.total / 1e9,
                "capacity_gb": self.capacity / 1e9, "kv_capacity_gb": self.kv_capacity / 1e9}


def kv_elements_per_token(m: ModelSpec) -> int:
    """Cached elements per token for the whole model (all layers, K and V)."""
    if m.mla is not None:
        return m.layers * (m.mla.kv_lora_rank + m.mla.qk_rope_head_dim)
    return 2 * m.layers * m.n_kv_heads * m.d_head


def kv_shards(m: ModelSpec, tp: int) -> int:
    """Ways the KV cache is split over a TP group (replicated beyond ``kv_heads``)."""
    if m.mla is not None:
        return 1
    return min(tp, m.n_kv_heads)


def kv_bytes_per_token_per_device(m: ModelSpec, comp: Compression, tp: int, pp: int,
                                  attn_dp: bool = False) -> float:
    """Bytes of KV cache one token of the replica's batch occupies on one device, on average
    (attention-DP spreads whole sequences over the ``tp`` ranks)."""
    if attn_dp:
        return kv_elements_per_token(m) * comp.kv_bytes / pp / tp  # bytes
    return kv_elements_per_token(m) * comp.kv_bytes / kv_shards(m, tp) / pp  # bytes


def weight_terms(m: ModelSpec, comp: Compression, tp: int, pp: int, attn_dp: bool = False,
                 ep: int = 1) -> dict[str, float]:
    """Bytes per device of each weight group; their sum is ``weight_bytes_per_device``.

    Routed experts: ``ceil(E / ep)`` experts per rank, each split ``tp / ep`` ways
    (``suanli.infer.moe``). Everything else (attention, dense FFN, shared experts, router,
    norms, embeddings) is split ``tp`` ways, or replicated on every rank under ``attn_dp``.
    Embeddings stay in 16-bit under weight quantization (GPTQ/AWQ/TRT-LLM practice)."""
    from suanli.infer.moe import experts_per_rank
    from suanli.perf.ops import ffn_params, moe_layer_count

    n = param_count(m)
    emb = m.vocab * m.hidden * (1 if m.tied_embeddings else 2)
    attn = m.layers * attention_params(m)
    routed = 0.0
    per_rank_routed = 0.0
    if m.moe is not None:
        n_moe = moe_layer_count(m)
        one = ffn_params(m, m.moe.expert_ffn_hidden)
        routed = n_moe * m.moe.num_experts * one
        etp = max(tp // max(ep, 1), 1)
        per_rank_routed = n_moe * experts_per_rank(m.moe.num_experts, ep) * one / etp / pp
    rest = n - emb - attn - routed
    ways = pp if attn_dp else tp * pp  # devices sharing one copy of the non-expert weights
    return {"attention": attn / ways * comp.weight_bytes,
            "dense_and_shared": rest / ways * comp.weight_bytes,
            "routed_experts": per_rank_routed * comp.weight_bytes,
            "embeddings": emb * 2.0 / ways}  # bytes


@lru_cache(maxsize=512)
def weight_bytes_per_device(m: ModelSpec, comp: Compression, tp: int, pp: int,
                            attn_dp: bool = False, ep: int = 1) -> float:
    """All parameters (MoE: every expert) stored, the sum of ``weight_terms``."""
    return sum(weight_terms(m, comp, tp, pp, attn_dp, ep).values())  # bytes


def moe_workspace_bytes(m: ModelSpec, comp: Compression, rows: int, etp: int = 1) -> float:
    """Bytes of the all-gather fused-MoE workspace for ``rows`` gathered tokens (module
    docstring); ``etp``: ways each expert's intermediate size is split."""
    if m.moe is None:
        return 0.0
    inter = m.moe.expert_ffn_hidden / etp
    a = comp.act_bytes
    return rows * m.moe.top_k * (m.hidden * (a + 2.0) + inter * (a + 2.0 * 2.0))  # bytes


def activation_bytes_per_device(m: ModelSpec, comp: Compression, tokens: int, tp: int,
                                attn_dp: bool = False, moe_gather: bool = False,
                                ep: int = 1) -> float:
    """Workspace of the largest forward pass of ``tokens`` tokens (see module docstring); under
    ``attn_dp`` each rank runs its own step of ``tokens`` with unsplit dense layers, and with
    ``moe_gather`` the experts' workspace over all ``tp`` ranks' tokens."""
    ways = 1 if attn_dp else tp
    inner = m.ffn_hidden if m.moe is None else max(m.ffn_hidden, m.moe.expert_ffn_hidden
                                                    * m.moe.top_k)
    per_token = 2.0 * (m.hidden + inner / ways) * max(comp.act_bytes, 2.0)
    gathered = moe_workspace_bytes(m, comp, tokens * tp, max(tp // max(ep, 1), 1)) \
        if attn_dp and moe_gather else 0.0
    return tokens * per_token + tokens * m.vocab / ways * 4.0 + gathered  # bytes


def memory_breakdown(m: ModelSpec, acc: Accelerator, comp: Compression, *, tp: int, pp: int,
                     batch: int, context: int, max_step_tokens: int,
                     kv_mem_fraction: float = 0.9, attn_dp: bool = False,
                     ep: int = 1, moe_gather: bool = False) -> MemoryBreakdown:
    """Per-device memory with ``batch`` sequences of ``context`` tokens cached."""
    w = weight_bytes_per_device(m, comp, tp, pp, attn_dp, ep)
    act = activation_bytes_per_device(m, comp, max_step_tokens, tp, attn_dp, moe_gather, ep)
    kv = batch * context * kv_bytes_per_token_per_device(m, comp, tp, pp, attn_dp)
    free = max(acc.memory_bytes - w - act, 0.0)
    return MemoryBreakdown(w, kv, act, acc.memory_bytes, kv_mem_fraction * free)


def max_concurrent_seqs(m: ModelSpec, acc: Accelerator, comp: Compression, *, tp: int, pp: int,
                        context: int, max_step_tokens: int, kv_mem_fraction: float = 0.9,
                        attn_dp: bool = False, ep: int = 1, moe_gather: bool = False) -> int:
    """Sequences of ``context`` tokens whose KV cache fits next to weights and workspace."""
    mb = memory_breakdown(m, acc, comp, tp=tp, pp=pp, batch=0, context=context,
                          max_step_tokens=max_step_tokens, kv_mem_fraction=kv_mem_fraction,
                          attn_dp=attn_dp, ep=ep, moe_gather=moe_gather)
    per_seq = context * kv_bytes_per_token_per_device(m, comp, tp, pp, attn_dp)
    return int(mb.kv_capacity // per_seq) if per_seq > 0 else 0
