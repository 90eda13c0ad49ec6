"""Hugging Face config.json import: real configs give the published parameter counts, agree
with the built-in catalog rows of the same model, and bad configs fail with a clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.catalog import load_catalog
from suanli.catalog.hf import model_from_hf_config, model_from_hf_dict
from suanli.catalog.loader import ENV_VAR
from suanli.errors import CatalogError
from suanli.perf.ops import active_param_count, is_moe_layer, param_count

CONFIGS = Path(__file__).parent / "hf_configs"


@pytest.fixture(autouse=True)
def _builtin_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def _cfg(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONFIGS / f"{name}.json").read_text(encoding="utf-8"))
    return data


# (fixture, published total, published active or None, tolerance, where the number is stated)
PUBLISHED = [
    ("meta-llama-3-8b", 8.03e9, None, 0.01, "Hub model card: 8.03B"),
    ("llama-2-70b-hf", 69.0e9, None, 0.01, "Hub: 69.0B (Llama 2 paper: 70B)"),
    ("mistral-7b-v0.1", 7.3e9, None, 0.02, "Mistral AI announcement: 7.3B"),
    ("mixtral-8x7b-v0.1", 46.7e9, 12.9e9, 0.01, "Mistral AI: 46.7B total, 12.9B per token"),
    ("qwen2.5-7b", 7.61e9, None, 0.01, "Qwen2.5 report (arXiv:2412.15115) Table 1: 7.61B"),
    ("qwen1.5-moe-a2.7b", 14.3e9, 2.7e9, 0.02, "Qwen1.5-MoE blog: 14.3B total, 2.7B active"),
    ("qwen3-8b", 8.2e9, None, 0.01, "Qwen3-8B model card: 8.2B"),
    ("qwen3-30b-a3b", 30.5e9, 3.3e9, 0.02, "Qwen3 report: 30.5B total, 3.3B activated"),
    ("deepseek-v2", 236e9, 21e9, 0.02, "DeepSeek-V2 (arXiv:2405.04434): 236B total, 21B active"),
    ("deepseek-v3", 671e9, 37e9, 0.02, "DeepSeek-V3 (arXiv:2412.19437): 671B total, 37B active"),
    ("falcon-40b", 41.8e9, None, 0.02, "Hub: 41.8B (counts the tied lm_head twice: 41.3B real)"),
    ("falcon-7b-refinedwebmodel", 7.0e9, None, 0.02, "Falcon-7B model card: 7B"),
    ("mpt-7b", 6.7e9, None, 0.01, "MosaicML MPT-7B announcement: 6.7B"),
    ("gpt2", 124_439_808, None, 0.002, "HF gpt2: 124,439,808"),
    ("gpt2-xl", 1_557_611_200, None, 0.002, "HF gpt2-xl: 1,557,611,200"),
    ("gpt-neox-20b", 20_554_567_680, None, 0.002, "Black et al. 2022: 20,554,567,680"),
    ("gpt-j-6b", 6_053_381_344, None, 0.002, "EleutherAI GPT-J-6B model card: 6,053,381,344"),
    ("bloom", 176_247_271_424, None, 0.002, "bigscience/bloom model card: 176,247,271,424"),
    ("opt-1.3b", 1.3e9, None, 0.02, "Zhang et al. 2022 Table 1: 1.3B"),
    ("gemma-7b", 8.54e9, None, 0.01, "Gemma report (arXiv:2403.08295) Table 2: 8.54B"),
    ("gemma-2-9b", 9.24e9, None, 0.01, "Gemma 2 report (arXiv:2408.00118): 9.24B"),
    ("phi-3-mini-4k-instruct", 3.8e9, None, 0.01, "Phi-3 report (arXiv:2404.14219): 3.8B"),
    ("internlm2-7b", 7.74e9, None, 0.01, "Hub internlm/internlm2-7b: 7.74B (generic reader)"),
]


@pytest.mark.parametrize(("name", "total", "active", "tol", "source"), PUBLISHED,
                         ids=[p[0] for p in PUBLISHED])
def test_imported_counts_match_published(name: str, total: float, active: float | None,
                                         tol: float, source: str) -> None:
    m = model_from_hf_config(CONFIGS / f"{name}.json")
    assert param_count(m) == pytest.approx(total, rel=tol), source
    assert m.params_b == pytest.approx(param_count(m) / 1e9)
    if active is None:
        assert m.moe is None
    else:
        assert active_param_count(m) == pytest.approx(active, rel=tol), source


def test_every_fixture_is_covered() -> None:
    assert {p.stem for p in CONFIGS.glob("*.json")} == {p[0] for p in PUBLISHED}


# (fixture, built-in catalog id, tolerance on the total): same model, two routes
SAME_MODEL = [
    ("meta-llama-3-8b", "llama3-8b", 0.0),
    ("llama-2-70b-hf", "llama2-70b", 0.0),
    ("mixtral-8x7b-v0.1", "mixtral-8x7b", 0.0),
    ("qwen2.5-7b", "qwen2.5-7b", 0.0),
    ("deepseek-v3", "deepseek-v3", 0.0),
    ("falcon-40b", "falcon-40b", 0.0),
    ("gpt-neox-20b", "gpt-neox-20b", 0.0),
    ("bloom", "bloom-176b", 0.0),
    ("mpt-7b", "mpt-7b", 0.001),  # the Hub config pads the vocabulary to 50432, llm-foundry 50368
]


@pytest.mark.parametrize(("name", "builtin", "tol"), SAME_MODEL, ids=[s[0] for s in SAME_MODEL])
def test_import_agrees_with_builtin_row(name: str, builtin: str, tol: float) -> None:
    imported = model_from_hf_config(CONFIGS / f"{name}.json")
    row = load_catalog().model(builtin)
    for field in ("layers", "hidden", "heads", "n_kv_heads", "d_head", "ffn_hidden", "mlp",
                  "norm", "position", "tied_embeddings", "moe", "mla", "attention_kind"):
        assert getattr(imported, field) == getattr(row, field), field
    assert param_count(imported) == pytest.approx(param_count(row), rel=tol, abs=0)
    assert active_param_count(imported) == pytest.approx(active_param_count(row), rel=tol, abs=0)


def test_architecture_mapping_details() -> None:
    falcon7 = model_from_hf_config(CONFIGS / "falcon-7b-refinedwebmodel.json")
    assert (falcon7.family, falcon7.attention_kind, falcon7.d_head) == ("falcon", "MQA", 64)
    gemma = model_from_hf_config(CONFIGS / "gemma-7b.json")
    assert (gemma.mlp, gemma.d_head, gemma.tied_embeddings) == ("geglu", 256, True)
    assert "tie_word_embeddings absent" in gemma.source
    qwen3 = model_from_hf_config(CONFIGS / "qwen3-8b.json")
    assert qwen3.d_head == 128 and qwen3.head_dim is None  # 4096 / 32: no explicit override
    moe = model_from_hf_config(CONFIGS / "qwen1.5-moe-a2.7b.json").moe
    assert moe is not None and (moe.shared_experts, moe.expert_ffn_hidden) == (4, 1408)
    gpt2 = model_from_hf_config(CONFIGS / "gpt2.json")
    assert (gpt2.position, gpt2.max_seq_len, gpt2.mlp, gpt2.norm) == (
        "learned", 1024, "gelu", "layernorm")
    mpt = model_from_hf_config(CONFIGS / "mpt-7b.json")
    assert (mpt.position, mpt.ffn_hidden, mpt.tied_embeddings) == ("alibi", 16384, True)
    opt = model_from_hf_config(CONFIGS / "opt-1.3b.json")
    assert (opt.id, opt.name, opt.mlp) == ("opt-1.3b", "facebook/opt-1.3b", "relu")
    generic = model_from_hf_config(CONFIGS / "internlm2-7b.json")
    assert generic.mlp == "swiglu" and "generic mapping" in generic.source


def test_new_falcon_keys_and_old_ones_agree() -> None:
    new = _cfg("falcon-40b")
    old = {"model_type": "RefinedWeb", "hidden_size": 8192, "n_head": 128, "n_head_kv": 8,
           "n_layer": 60, "vocab_size": 65024, "alibi": False}
    a, b = model_from_hf_dict(new, name="a"), model_from_hf_dict(old, name="b")
    assert (a.n_kv_heads, a.layers, a.heads) == (b.n_kv_heads, b.layers, b.heads) == (8, 60, 128)
    mha = {**new, "new_decoder_architecture": False, "multi_query": False}
    assert model_from_hf_dict(mha, name="c").attention_kind == "MHA"


def test_model_type_from_architectures_and_text_config() -> None:
    cfg = _cfg("meta-llama-3-8b")
    del cfg["model_type"]
    assert model_from_hf_dict(cfg, name="x").family == "llama"
    nested = {"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"],
              "text_config": _cfg("mistral-7b-v0.1"), "vision_config": {"hidden_size": 1024}}
    m = model_from_hf_dict(nested, name="llava")
    assert param_count(m) == param_count(model_from_hf_config(CONFIGS / "mistral-7b-v0.1.json"))


def test_names_from_hub_cache_folders(tmp_path: Path) -> None:
    snap = tmp_path / "hub" / "models--meta-llama--Meta-Llama-3-8B" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(_cfg("meta-llama-3-8b")), encoding="utf-8")
    m = model_from_hf_config(snap / "config.json")
    assert (m.id, m.name) == ("meta-llama-3-8b", "meta-llama/Meta-Llama-3-8B")
    plain = tmp_path / "my-model"
    plain.mkdir()
    (plain / "config.json").write_text(json.dumps(_cfg("gpt2")), encoding="utf-8")
    assert model_from_hf_config(plain / "config.json").id == "my-model"


def _error(cfg: dict[str, Any], tmp_path: Path) -> CatalogError:
    f = tmp_path / "config.json"
    f.write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        model_from_hf_config(f)
    assert str(f) in str(err.value), "the error must name the file"
    return err.value


def test_missing_field_names_it_and_says_what_to_add(tmp_path: Path) -> None:
    cfg = _cfg("meta-llama-3-8b")
    del cfg["intermediate_size"]
    err = _error(cfg, tmp_path)
    assert err.field == "intermediate_size"
    assert "add it" in str(err) and '"intermediate_size"' in str(err)


def test_generic_fallback_needs_the_core_fields(tmp_path: Path) -> None:
    cfg = _cfg("internlm2-7b")
    del cfg["vocab_size"]
    assert _error(cfg, tmp_path).field == "vocab_size"


def test_bad_values_are_named(tmp_path: Path) -> None:
    cfg = {**_cfg("meta-llama-3-8b"), "num_attention_heads": "32"}
    err = _error(cfg, tmp_path)
    assert err.field == "num_attention_heads" and "whole number" in str(err)
    cfg = {**_cfg("meta-llama-3-8b"), "num_key_value_heads": 5}
    assert "kv_heads" in str(_error(cfg, tmp_path))
    cfg = {**_cfg("meta-llama-3-8b"), "hidden_act": "tanh"}
    err = _error(cfg, tmp_path)
    assert err.field == "hidden_act" and "tanh" in str(err)
    cfg = {**_cfg("meta-llama-3-8b"), "tie_word_embeddings": "no"}
    assert _error(cfg, tmp_path).field == "tie_word_embeddings"


def test_moe_layouts_it_cannot_represent_are_refused(tmp_path: Path) -> None:
    cfg = {**_cfg("qwen3-30b-a3b"), "mlp_only_layers": [3, 7]}
    assert _error(cfg, tmp_path).field == "mlp_only_layers"
    cfg = _cfg("mixtral-8x7b-v0.1")
    del cfg["num_experts_per_tok"]
    assert _error(cfg, tmp_path).field == "num_experts_per_tok"


def test_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama", ', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"not valid JSON at line 1") as err:
        model_from_hf_config(bad)
    assert err.value.file == str(bad)
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(CatalogError, match="JSON object"):
        model_from_hf_config(bad)
    with pytest.raises(CatalogError, match="file not found"):
        model_from_hf_config(tmp_path / "missing.json")


@given(step=st.integers(1, 4), dense=st.integers(0, 6), layers=st.integers(1, 40))
def test_qwen_moe_layers_match_transformers_rule(step: int, dense: int, layers: int) -> None:
    """transformers Qwen2MoeDecoderLayer: layer i is sparse iff i not in mlp_only_layers and
    (i + 1) % decoder_sparse_step == 0."""
    cfg = {**_cfg("qwen3-30b-a3b"), "num_hidden_layers": layers, "decoder_sparse_step": step,
           "mlp_only_layers": list(range(dense))}
    m = model_from_hf_dict(cfg, name="q")
    expected = [i >= dense and (i + 1) % step == 0 for i in range(layers)]
    assert [is_moe_layer(m, i) for i in range(layers)] == expected


@given(freq=st.integers(1, 4), k=st.integers(0, 6), layers=st.integers(1, 40))
def test_deepseek_moe_layers_match_transformers_rule(freq: int, k: int, layers: int) -> None:
    """transformers DeepseekV3DecoderLayer: MoE iff i >= first_k_dense_replace and
    i % moe_layer_freq == 0."""
    cfg = {**_cfg("deepseek-v3"), "num_hidden_layers": layers, "moe_layer_freq": freq,
           "first_k_dense_replace": k}
    m = model_from_hf_dict(cfg, name="d")
    assert [is_moe_layer(m, i) for i in range(layers)] == [
        i >= k and i % freq == 0 for i in range(layers)]
