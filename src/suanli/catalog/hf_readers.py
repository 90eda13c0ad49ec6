"""Per-architecture readers for Hugging Face ``config.json`` files (used by
:mod:`suanli.catalog.hf`).

Each reader maps one ``model_type``'s keys onto :class:`~suanli.catalog.schema.ModelSpec`
fields. Key names and defaults follow the ``transformers`` configuration class of each
architecture (``LlamaConfig``, ``FalconConfig``, ``MptConfig``, ``DeepseekV3Config``...): where a
key is absent, the reader uses the default ``transformers`` would use and records it in
``HFConfig.notes`` (which end up in the model's ``source``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from suanli.catalog.schema import MLA, MoE
from suanli.errors import CatalogError

_MISSING: Any = object()


class HFConfig:
    """Typed access to config.json values; every error names the file and the key."""

    def __init__(self, raw: dict[str, Any], file: str) -> None:
        self.raw = raw
        self.file = file
        self.notes: list[str] = []

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def get(self, *keys: str) -> Any:
        """The first of ``keys`` present with a non-null value, else None."""
        for key in keys:
            if self.raw.get(key) is not None:
                return self.raw[key]
        return None

    def num(self, *keys: str, default: Any = _MISSING, what: str = "", min_value: int = 1) -> int:
        """A whole number under the first present key (aliases are tried in order)."""
        value = self.get(*keys)
        if value is None:
            if default is _MISSING:
                raise CatalogError(
                    f"config.json has no '{keys[0]}'{f' ({what})' if what else ''}; add it, "
                    f"e.g. \"{keys[0]}\": 4096", file=self.file, field=keys[0])
            return int(default)
        key = next(k for k in keys if self.raw.get(k) is not None)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) \
                or value < min_value:
            raise CatalogError(f"expected a whole number >= {min_value}, got {value!r}; fix the "
                               "value in config.json", file=self.file, field=key)
        return int(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise CatalogError(f"expected true or false, got {value!r}", file=self.file,
                               field=key)
        return value

    def text(self, *keys: str, default: str = "") -> str:
        value = self.get(*keys)
        return default if value is None else str(value)

    def tied(self, default: bool) -> bool:
        """``tie_word_embeddings``, with the architecture's transformers default."""
        if "tie_word_embeddings" not in self.raw:
            self.notes.append(f"tie_word_embeddings absent: {str(default).lower()} "
                              "(the transformers default for this model_type)")
        return self.flag("tie_word_embeddings", default)


# --- activation, MLP kind ---------------------------------------------------------------------

_GELU = re.compile(r"^(gelu|gelu_new|gelu_fast|gelu_pytorch_tanh|gelu_python|quick_gelu|"
                   r"gelu_accurate|gelu_10|fast_gelu)$")


def _mlp_kind(cfg: HFConfig, act_keys: tuple[str, ...], gated: bool | None,
              default_act: str) -> str:
    """Map ``hidden_act`` (plus whether the FFN has a gate matrix) to the catalog's ``mlp``.

    ``gated=None`` (unknown architectures) infers the gate from the activation: SiLU FFNs are
    SwiGLU in every open model family (Shazeer 2020, arXiv:2002.05202), GELU FFNs are plain.
    """
    act = cfg.text(*act_keys, default=default_act).lower()
    key = next((k for k in act_keys if cfg.has(k)), act_keys[0])
    return _act_to_mlp(cfg, act, key, gated)


def _act_to_mlp(cfg: HFConfig, act: str, key: str, gated: bool | None) -> str:
    is_gelu, is_silu = bool(_GELU.match(act)), act in ("silu", "swish", "swiglu")
    if gated is None:
        gated = is_silu
        cfg.notes.append(f"unknown architecture: FFN taken as {'gated' if gated else 'plain'} "
                         f"from {key}={act}")
    if gated:
        if is_silu:
            return "swiglu"
        if is_gelu or act == "geglu":
            return "geglu"
    else:
        if is_gelu:
            return "gelu"
        if act == "relu":
            return "relu"
        if act in ("relu2", "squared_relu", "relu_squared"):
            return "relu2"
    kind = "gated" if gated else "plain (two-matrix)"
    raise CatalogError(f"activation '{act}' in a {kind} FFN is not supported; use one of silu, "
                       "gelu, relu, relu2, or add the model to a models.yaml by hand "
                       "(see docs/catalog.md)", file=cfg.file, field=key)


# --- architecture readers: config -> ModelSpec fields ----------------------------------------

Fields = dict[str, Any]


def _common(cfg: HFConfig, *, hidden: tuple[str, ...] = ("hidden_size",),
            layers: tuple[str, ...] = ("num_hidden_layers",),
            heads: tuple[str, ...] = ("num_attention_heads",)) -> Fields:
    return {
        "hidden": cfg.num(*hidden, what="model width"),
        "layers": cfg.num(*layers, what="number of transformer blocks"),
        "heads": cfg.num(*heads, what="attention heads"),
        "vocab": cfg.num("vocab_size", what="vocabulary size"),
    }


def _head_dim(cfg: HFConfig, f: Fields) -> int | None:
    """Explicit ``head_dim`` only when it differs from hidden / heads (Gemma, Qwen3)."""
    hd = cfg.num("head_dim", default=0, min_value=0) or None
    if hd is not None and f["hidden"] % f["heads"] == 0 and hd == f["hidden"] // f["heads"]:
        return None
    return hd


def _llama_like(cfg: HFConfig, gate_default_act: str = "silu", tied: bool = False) -> Fields:
    """Llama, Mistral, Qwen2/3, Gemma, Phi-3: pre-norm RMSNorm, RoPE, gated FFN, GQA."""
    f = _common(cfg)
    f.update(
        kv_heads=cfg.num("num_key_value_heads", default=f["heads"]),
        head_dim=_head_dim(cfg, f),
        ffn_hidden=cfg.num("intermediate_size", what="FFN inner size"),
        max_seq_len=cfg.num("max_position_embeddings", default=2048),
        mlp=_mlp_kind(cfg, ("hidden_activation", "hidden_act"), True, gate_default_act),
        norm="rmsnorm", position="rope", tied_embeddings=cfg.tied(tied),
    )
    f["moe"] = _moe_qwen_or_mixtral(cfg, f)
    return f


def _moe_qwen_or_mixtral(cfg: HFConfig, f: Fields) -> MoE | None:
    """Mixtral (``num_local_experts``, expert size = ``intermediate_size``) or Qwen-MoE
    (``num_experts``, ``moe_intermediate_size``, optional shared expert, sparse step)."""
    top_k = cfg.num("num_experts_per_tok", default=0, min_value=0)
    if cfg.has("num_local_experts"):  # Mixtral, Jiang et al. 2024
        n = cfg.num("num_local_experts", min_value=0)
        if n < 2:
            return None
        return MoE(num_experts=n, top_k=_need_top_k(cfg, top_k), expert_ffn_hidden=f["ffn_hidden"])
    n = cfg.num("num_experts", default=0, min_value=0)
    if n < 2:
        return None
    expert = cfg.num("moe_intermediate_size", what="routed expert FFN size")
    shared = 0
    shared_size = cfg.num("shared_expert_intermediate_size", default=0, min_value=0)
    if shared_size:  # Qwen2-MoE: one shared expert of its own size, counted in expert units
        shared = max(1, round(shared_size / expert))
        if shared * expert != shared_size:
            cfg.notes.append(f"shared expert {shared_size} modelled as {shared} x {expert}")
    step = cfg.num("decoder_sparse_step", default=1)
    dense_prefix = _dense_prefix(cfg, "mlp_only_layers")
    # transformers Qwen2MoeDecoderLayer: layer i is sparse when i is not in mlp_only_layers and
    # (i + 1) % step == 0, i.e. i = first, first + step, ... with first = step*ceil((k+1)/step)-1
    first = step * math.ceil((dense_prefix + 1) / step) - 1
    return MoE(num_experts=n, top_k=_need_top_k(cfg, top_k), expert_ffn_hidden=expert,
               shared_experts=shared, first_dense_layers=first, layer_freq=step)


def _need_top_k(cfg: HFConfig, top_k: int) -> int:
    if top_k < 1:
        raise CatalogError("an MoE config needs the experts each token is routed to; add e.g. "
                           "\"num_experts_per_tok\": 2", file=cfg.file, field="num_experts_per_tok")
    return top_k


def _dense_prefix(cfg: HFConfig, key: str) -> int:
    """Length k of ``mlp_only_layers`` when it is [0, 1, ..., k-1]; other layouts are refused."""
    layers = cfg.get(key) or []
    if not isinstance(layers, list) or sorted(layers) != list(range(len(layers))):
        raise CatalogError(f"only a leading run of dense layers ([0, 1, ..., k-1]) is supported, "
                           f"got {layers!r}; edit it or add the model to a models.yaml by hand",
                           file=cfg.file, field=key)
    return len(layers)


def _deepseek(cfg: HFConfig) -> Fields:
    """DeepSeek-V2/V3: MLA attention (DeepSeek-AI 2024, arXiv:2405.04434 section 2.1) and
    DeepSeekMoE with shared experts and leading dense layers."""
    f = _common(cfg)
    f.update(
        kv_heads=cfg.num("num_key_value_heads", default=f["heads"]),
        ffn_hidden=cfg.num("intermediate_size", what="dense FFN inner size"),
        max_seq_len=cfg.num("max_position_embeddings", default=4096),
        mlp=_mlp_kind(cfg, ("hidden_act",), True, "silu"),
        norm="rmsnorm", position="rope", tied_embeddings=cfg.tied(False),
    )
    if f["heads"] % f["kv_heads"]:
        f["kv_heads"] = f["heads"]  # MLA has no separate KV heads; the key is informational
    f["mla"] = MLA(
        q_lora_rank=cfg.num("q_lora_rank", default=0, min_value=0),
        kv_lora_rank=cfg.num("kv_lora_rank", what="compressed KV size"),
        qk_nope_head_dim=cfg.num("qk_nope_head_dim", what="non-rotary Q/K head size"),
        qk_rope_head_dim=cfg.num("qk_rope_head_dim", min_value=0, what="rotary Q/K head size"),
        v_head_dim=cfg.num("v_head_dim", what="value head size"),
    )
    n = cfg.num("n_routed_experts", default=0, min_value=0)
    if n >= 2:
        k = cfg.num("first_k_dense_replace", default=0, min_value=0)
        freq = cfg.num("moe_layer_freq", default=1)
        # transformers DeepseekV3: MoE when i >= k and i % freq == 0 -> first = ceil(k/freq)*freq
        f["moe"] = MoE(
            num_experts=n,
            top_k=_need_top_k(cfg, cfg.num("num_experts_per_tok", default=0, min_value=0)),
            expert_ffn_hidden=cfg.num("moe_intermediate_size", what="routed expert FFN size"),
            shared_experts=cfg.num("n_shared_experts", default=0, min_value=0),
            first_dense_layers=math.ceil(k / freq) * freq,
            layer_freq=freq,
        )
    if cfg.num("num_nextn_predict_layers", default=0, min_value=0):
        cfg.notes.append("multi-token-prediction module not counted")
    return f


def _gpt2(cfg: HFConfig) -> Fields:
    """GPT-2 (Radford et al. 2019): learned positions, GELU 4h FFN, tied embeddings."""
    f = _common(cfg, hidden=("n_embd", "hidden_size"), layers=("n_layer", "num_hidden_layers"),
                heads=("n_head", "num_attention_heads"))
    f.update(ffn_hidden=cfg.num("n_inner", default=4 * f["hidden"]),
             max_seq_len=cfg.num("n_positions", "n_ctx", default=1024),
             mlp=_mlp_kind(cfg, ("activation_function",), False, "gelu_new"),
             norm="layernorm", position="learned", tied_embeddings=cfg.tied(True))
    return f


def _gptj(cfg: HFConfig) -> Fields:
    """GPT-J (Wang & Komatsuzaki 2021): parallel block, rotary, untied head."""
    f = _gpt2(cfg)
    f.update(position="rope", tied_embeddings=cfg.tied(False),
             max_seq_len=cfg.num("n_positions", default=2048))
    return f


def _gpt_neox(cfg: HFConfig) -> Fields:
    """GPT-NeoX / Pythia (Black et al. 2022): rotary, GELU 4h FFN, untied head."""
    f = _common(cfg)
    f.update(ffn_hidden=cfg.num("intermediate_size", default=4 * f["hidden"]),
             max_seq_len=cfg.num("max_position_embeddings", default=2048),
             mlp=_mlp_kind(cfg, ("hidden_act",), False, "gelu"),
             norm="layernorm", position="rope", tied_embeddings=cfg.tied(False))
    return f


def _falcon(cfg: HFConfig) -> Fields:
    """Falcon (Almazrouei et al. 2023). KV heads follow transformers ``FalconAttention``:
    ``new_decoder_architecture`` -> ``num_kv_heads`` groups (old key ``n_head_kv``; the 40B/180B
    "RefinedWeb" configs imply it); else ``multi_query`` (default true) -> 1; else MHA.
    Embeddings are tied (transformers ``FalconForCausalLM``; vLLM PR 3590)."""
    f = _common(cfg, layers=("num_hidden_layers", "n_layer"),
                heads=("num_attention_heads", "n_head"))
    new_arch = cfg.flag("new_decoder_architecture", False) or cfg.text("model_type") == "RefinedWeb"
    if new_arch or (cfg.has("n_head_kv") and not cfg.has("multi_query")):
        kv = cfg.num("num_kv_heads", "n_head_kv", default=f["heads"])
    elif cfg.flag("multi_query", True):
        kv = 1
    else:
        kv = f["heads"]
    alibi = cfg.flag("alibi", False)
    f.update(kv_heads=kv, ffn_hidden=cfg.num("ffn_hidden_size", default=4 * f["hidden"]),
             max_seq_len=cfg.num("max_position_embeddings", default=2048),
             mlp=_mlp_kind(cfg, ("activation",), False, "gelu"), norm="layernorm",
             position="alibi" if alibi else "rope", tied_embeddings=cfg.tied(True))
    return f


def _mpt(cfg: HFConfig) -> Fields:
    """MPT (MosaicML llm-foundry): ``d_model``, ``n_heads``, ``n_layers``, FFN =
    ``expansion_ratio`` x d_model (or ``ffn_config.ffn_hidden_size``), ALiBi, always tied."""
    f = _common(cfg, hidden=("d_model",), layers=("n_layers",), heads=("n_heads",))
    attn = cfg.get("attn_config") or {}
    ffn_cfg = cfg.get("ffn_config") or {}
    ratio = cfg.get("expansion_ratio") or 4
    if not isinstance(ratio, int | float) or ratio <= 0:
        raise CatalogError(f"expected a positive number, got {ratio!r}", file=cfg.file,
                           field="expansion_ratio")
    ffn = ffn_cfg.get("ffn_hidden_size") or int(ratio * f["hidden"])
    alibi = bool(attn.get("alibi", False))
    learned = cfg.flag("learned_pos_emb", True) and not alibi
    if not alibi and not learned:
        cfg.notes.append("no position encoding (NoPE) modelled as rope (no parameters)")
    kv = attn.get("kv_n_heads") if attn.get("attn_type") == "grouped_query_attention" else None
    if attn.get("attn_type") == "multiquery_attention":
        kv = 1
    act_fn = ffn_cfg.get("ffn_act_fn")
    act = str(act_fn.get("name", "gelu")).lower() if isinstance(act_fn, dict) else "gelu"
    gated = ffn_cfg.get("ffn_type") == "mptglu"
    f.update(kv_heads=kv, ffn_hidden=int(ffn), max_seq_len=cfg.num("max_seq_len", default=2048),
             mlp=_act_to_mlp(cfg, act, "ffn_config.ffn_act_fn", gated),
             norm="layernorm", position="alibi" if alibi else "learned" if learned else "rope",
             tied_embeddings=cfg.flag("tie_word_embeddings", True))
    return f


def _bloom(cfg: HFConfig) -> Fields:
    """BLOOM (BigScience 2022): ALiBi, GELU 4h FFN, tied embeddings."""
    f = _common(cfg, hidden=("hidden_size", "n_embed"), layers=("n_layer", "num_hidden_layers"),
                heads=("n_head", "num_attention_heads"))
    f.update(ffn_hidden=4 * f["hidden"], max_seq_len=cfg.num("seq_length", default=2048),
             mlp="gelu", norm="layernorm", position="alibi", tied_embeddings=cfg.tied(True))
    return f


def _opt(cfg: HFConfig) -> Fields:
    """OPT (Zhang et al. 2022): learned positions, ReLU FFN of ``ffn_dim``, tied embeddings."""
    f = _common(cfg)
    proj = cfg.num("word_embed_proj_dim", default=f["hidden"])
    if proj != f["hidden"]:
        cfg.notes.append(f"word_embed_proj_dim {proj} projections not modelled")
    f.update(ffn_hidden=cfg.num("ffn_dim", what="FFN inner size"),
             max_seq_len=cfg.num("max_position_embeddings", default=2048),
             mlp=_mlp_kind(cfg, ("activation_function",), False, "relu"),
             norm="layernorm", position="learned", tied_embeddings=cfg.tied(True))
    return f


def generic(cfg: HFConfig) -> Fields:
    """Unknown ``model_type``: the Llama-style keys, with the FFN gate inferred from the
    activation, the norm from its epsilon key, and the position encoding from rope/alibi keys."""
    if cfg.has("n_routed_experts") or cfg.has("kv_lora_rank"):
        return _deepseek(cfg)
    f = _common(cfg)
    rms = cfg.has("rms_norm_eps")
    if cfg.get("alibi") or (cfg.get("attn_config") or {}).get("alibi"):
        position = "alibi"
    elif cfg.text("position_embedding_type") == "absolute":
        position = "learned"
    else:
        position = "rope"
        if not any("rope" in k or "rotary" in k for k in cfg.raw):
            cfg.notes.append("no position keys: rotary assumed")
    f.update(
        kv_heads=cfg.num("num_key_value_heads", default=f["heads"]),
        head_dim=_head_dim(cfg, f),
        ffn_hidden=cfg.num("intermediate_size", what="FFN inner size"),
        max_seq_len=cfg.num("max_position_embeddings", default=2048),
        mlp=_mlp_kind(cfg, ("hidden_act", "activation_function"), None, "silu"),
        norm="rmsnorm" if rms else "layernorm", position=position,
        tied_embeddings=cfg.tied(True),
    )
    f["moe"] = _moe_qwen_or_mixtral(cfg, f)
    return f


READERS: dict[str, Callable[[HFConfig], Fields]] = {
    "llama": _llama_like, "mistral": _llama_like, "mixtral": _llama_like,
    "qwen2": _llama_like, "qwen2_moe": _llama_like, "qwen3": _llama_like,
    "qwen3_moe": _llama_like, "phi3": _llama_like,
    "gemma": lambda c: _llama_like(c, "gelu_pytorch_tanh", tied=True),
    "gemma2": lambda c: _llama_like(c, "gelu_pytorch_tanh", tied=True),
    "gemma3_text": lambda c: _llama_like(c, "gelu_pytorch_tanh", tied=True),
    "deepseek_v2": _deepseek, "deepseek_v3": _deepseek,
    "gpt2": _gpt2, "gptj": _gptj, "gpt_neox": _gpt_neox,
    "falcon": _falcon, "RefinedWeb": _falcon, "RefinedWebModel": _falcon,
    "mpt": _mpt, "bloom": _bloom, "opt": _opt,
}
SUPPORTED_MODEL_TYPES = tuple(sorted(READERS))

# architectures[0] -> model_type, for configs that lack model_type
ARCH_PREFIX = {"Llama": "llama", "Mistral": "mistral", "Mixtral": "mixtral",
               "Qwen2Moe": "qwen2_moe", "Qwen2": "qwen2", "Qwen3Moe": "qwen3_moe",
               "Qwen3": "qwen3", "Gemma2": "gemma2", "Gemma": "gemma", "Phi3": "phi3",
               "GPT2": "gpt2", "GPTJ": "gptj", "GPTNeoX": "gpt_neox", "Falcon": "falcon",
               "RW": "falcon", "MPT": "mpt", "Bloom": "bloom", "OPT": "opt",
               "DeepseekV2": "deepseek_v2", "DeepseekV3": "deepseek_v3"}
