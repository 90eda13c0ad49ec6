"""Parameters and FLOPs of a decoder-only transformer, counted per layer and per op.

Conventions (said, because tools differ):

* A multiply-accumulate is 2 FLOPs. Forward FLOPs of a matmul ``[m, k] x [k, n]`` = ``2 m k n``.
* Backward = 2 x forward (gradients w.r.t. inputs and weights): Narayanan et al. 2021, eq. 3.
* Attention scores ``QK^T`` and ``AV`` are counted over the **full** ``s x s`` matrix by default
  (``causal=False``), the convention of Megatron-LM eq. 3 and PaLM appendix B, so MFU matches
  published figures; ``causal=True`` halves them (what a causal FlashAttention kernel executes).
* Embedding lookups, norms, activations and softmax cost no matmul FLOPs (their time is
  memory traffic, see ``suanli.perf.training``).

Check: for GPT-3 175B, 6 x N x D with N = 174.6B and D = 300B tokens gives 3.14e23 FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.catalog.schema import ModelSpec


@dataclass(frozen=True)
class LayerParams:
    """Weights (element counts) of one transformer layer."""

    attention: int  # Q, K, V, O projections (+ MLA down/up projections)
    mlp_dense: int  # dense FFN (0 on MoE layers)
    experts: int  # all routed experts of one MoE layer (0 on dense layers)
    expert_one: int  # one routed expert
    shared: int  # shared experts
    router: int
    norms: int

    @property
    def total(self) -> int:
        return self.attention + self.mlp_dense + self.experts + self.shared + self.router \
            + self.norms


def attention_params(m: ModelSpec) -> int:
    """Q, K, V and output projection weights of one layer (biases ignored: < 0.1%)."""
    h = m.hidden
    if m.mla is not None:  # DeepSeek-V2/V3 multi-head latent attention
        a = m.mla
        qk_head = a.qk_nope_head_dim + a.qk_rope_head_dim
        q = (h * a.q_lora_rank + a.q_lora_rank * m.heads * qk_head) if a.q_lora_rank \
            else h * m.heads * qk_head
        kv = h * (a.kv_lora_rank + a.qk_rope_head_dim) \
            + a.kv_lora_rank * m.heads * (a.qk_nope_head_dim + a.v_head_dim)
        o = m.heads * a.v_head_dim * h
        return q + kv + o
    q_dim = m.heads * m.d_head
    kv_dim = m.n_kv_heads * m.d_head
    return h * q_dim + 2 * h * kv_dim + q_dim * h


def ffn_params(m: ModelSpec, inner: int) -> int:
    """One FFN block of inner size ``inner``: 2 matrices, or 3 when gated (SwiGLU/GeGLU)."""
    return (3 if m.gated else 2) * m.hidden * inner


def is_moe_layer(m: ModelSpec, index: int) -> bool:
    """Whether layer ``index`` (0-based) has a routed-expert FFN."""
    if m.moe is None or index < m.moe.first_dense_layers:
        return False
    return (index - m.moe.first_dense_layers) % m.moe.layer_freq == 0


def moe_layer_count(m: ModelSpec) -> int:
    return sum(is_moe_layer(m, i) for i in range(m.layers))


def layer_params(m: ModelSpec, moe: bool) -> LayerParams:
    norms = 2 * m.hidden * (2 if m.norm == "layernorm" else 1)
    if moe and m.moe is not None:
        one = ffn_params(m, m.moe.expert_ffn_hidden)
        return LayerParams(attention_params(m), 0, m.moe.num_experts * one, one,
                           m.moe.shared_experts * one, m.hidden * m.moe.num_experts, norms)
    return LayerParams(attention_params(m), ffn_params(m, m.ffn_hidden), 0, 0, 0, 0, norms)


def embedding_params(m: ModelSpec) -> int:
    """Token embedding, output head (unless tied) and learned positions."""
    emb = m.vocab * m.hidden * (1 if m.tied_embeddings else 2)
    if m.position == "learned":
        emb += m.max_seq_len * m.hidden
    return emb


def param_count(m: ModelSpec) -> int:
    """Total parameters computed from the architecture."""
    n_moe = moe_layer_count(m)
    body = (m.layers - n_moe) * layer_params(m, False).total
    if n_moe:
        body += n_moe * layer_params(m, True).total
    return body + embedding_params(m) + m.hidden  # + final norm


def active_param_count(m: ModelSpec) -> int:
    """Parameters one token touches: MoE layers count top-k routed + shared experts only."""
    if m.moe is None:
        return param_count(m)
    lp = layer_params(m, True)
    inactive = (m.moe.num_experts - m.moe.top_k) * lp.expert_one
    return param_count(m) - moe_layer_count(m) * inactive


@dataclass(frozen=True)
class ForwardFlops:
    """Forward FLOPs per token for the whole model, split by op (sum = ``total``)."""

    qkv: float  # Q, K, V projections (MLA: down + up projections)
    attn_scores: float  # QK^T and AV: grows with sequence length
    attn_out: float  # output projection
    mlp: float  # dense FFN, routed experts (top-k) and shared experts
    router: float
    logits: float  # output head over the vocabulary

    @property
    def total(self) -> float:
        return self.qkv + self.attn_scores + self.attn_out + self.mlp + self.router + self.logits

    @property
    def matmul(self) -> float:
        """Dense matmul FLOPs (GEMMs with weights): everything but the attention core."""
        return self.total - self.attn_scores


def forward_flops_per_token(m: ModelSpec, seq_len: int, causal: bool = False) -> ForwardFlops:
    """Forward FLOPs per token at context ``seq_len`` (training: the sequence length).

    Per layer: 2 x (weights touched) for the projections and FFN, plus the attention core
    ``2 * 2 * s * heads * d_head`` (QK^T and AV over ``s`` keys; halved when ``causal``).
    """
    s = float(seq_len)
    causal_factor = 0.5 if causal else 1.0
    if m.mla is not None:
        a = m.mla
        attn_w = attention_params(m)
        o_w = m.heads * a.v_head_dim * m.hidden
        qkv = 2.0 * (attn_w - o_w)
        out = 2.0 * o_w
        core = 2.0 * s * m.heads * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim)
    else:
        q_dim = m.heads * m.d_head
        kv_dim = m.n_kv_heads * m.d_head
        qkv = 2.0 * m.hidden * (q_dim + 2 * kv_dim)
        out = 2.0 * q_dim * m.hidden
        core = 4.0 * s * q_dim
    n_moe = moe_layer_count(m)
    n_dense = m.layers - n_moe
    mlp = n_dense * 2.0 * ffn_params(m, m.ffn_hidden)
    router = 0.0
    if m.moe is not None and n_moe:
        one = ffn_params(m, m.moe.expert_ffn_hidden)
        mlp += n_moe * 2.0 * one * (m.moe.top_k + m.moe.shared_experts)
        router = n_moe * 2.0 * m.hidden * m.moe.num_experts
    return ForwardFlops(
        qkv=m.layers * qkv,
        attn_scores=m.layers * core * causal_factor,
        attn_out=m.layers * out,
        mlp=mlp,
        router=router,
        logits=2.0 * m.hidden * m.vocab,
    )


def training_flops(m: ModelSpec, tokens: float, seq_len: int, causal: bool = False) -> float:
    """Model FLOPs of training on ``tokens`` tokens: 3 x forward (no recompute)."""
    return 3.0 * forward_flops_per_token(m, seq_len, causal).total * tokens


def six_nd(m: ModelSpec, tokens: float) -> float:
    """The 6ND rule of thumb (Kaplan et al. 2020) with N = active parameters: a check only."""
    return 6.0 * active_param_count(m) * tokens
