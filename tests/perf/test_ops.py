"""FLOP and parameter counting: checks against published figures and the model's laws."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.perf import ops


def test_gpt3_six_nd_is_the_famous_number(catalog):
    m = catalog.model("gpt3-175b")
    six = ops.six_nd(m, 300e9)
    assert six == pytest.approx(3.14e23, rel=0.01)
    assert six / 8.64e19 == pytest.approx(3640, rel=0.01)  # PF-days


def test_per_layer_count_exceeds_six_nd_by_the_attention_term(catalog):
    m = catalog.model("gpt3-175b")
    full = ops.training_flops(m, 300e9, 2048)
    # attention adds 12 L h s per token (PaLM appendix B): s / (6 h) of the dense term ~ 2.8%
    expected_ratio = 1 + 12 * m.layers * m.hidden * 2048 / (6 * ops.param_count(m))
    assert full / ops.six_nd(m, 300e9) == pytest.approx(expected_ratio, rel=0.01)


def test_causal_convention_halves_only_the_attention_scores(catalog):
    m = catalog.model("llama3-8b")
    full = ops.forward_flops_per_token(m, 8192, causal=False)
    causal = ops.forward_flops_per_token(m, 8192, causal=True)
    assert causal.attn_scores == pytest.approx(full.attn_scores / 2)
    assert causal.matmul == pytest.approx(full.matmul)


def test_megatron_eq3_with_full_recompute(catalog):
    """Narayanan et al. 2021 eq. 3: 96 B s l h^2 (1 + s/(6h) + V/(16 l h)) per step."""
    m = catalog.model("megatron-145.6b")
    s, batch = 2048, 2304
    fw = ops.forward_flops_per_token(m, s)
    hw_per_step = batch * s * (4 * fw.total - fw.logits)  # fwd, 2x bwd, recomputed fwd
    eq3 = 96 * batch * s * m.layers * m.hidden**2 * (
        1 + s / (6 * m.hidden) + m.vocab / (16 * m.layers * m.hidden))
    assert hw_per_step == pytest.approx(eq3, rel=1e-3)


def test_moe_memory_uses_total_and_compute_uses_active(catalog):
    m = catalog.model("mixtral-8x7b")
    assert ops.param_count(m) / 1e9 == pytest.approx(46.7, rel=0.01)
    assert ops.active_param_count(m) / 1e9 == pytest.approx(12.9, rel=0.02)
    fw = ops.forward_flops_per_token(m, 1)
    # forward matmul FLOPs per token ~ 2 x active (non-embedding) params
    active_body = ops.active_param_count(m) - m.vocab * m.hidden * 2
    assert fw.matmul - fw.logits == pytest.approx(2 * active_body, rel=0.01)


def test_deepseek_v3_mla_and_moe_counts(catalog):
    m = catalog.model("deepseek-v3")
    assert ops.param_count(m) / 1e9 == pytest.approx(671, rel=0.01)
    assert ops.active_param_count(m) / 1e9 == pytest.approx(37, rel=0.03)


@settings(max_examples=30, deadline=None)
@given(tokens=st.floats(min_value=1e6, max_value=1e13), k=st.floats(min_value=1.1, max_value=50))
def test_flops_scale_linearly_with_tokens(catalog, tokens, k):
    m = catalog.model("llama2-7b")
    a = ops.training_flops(m, tokens, 4096)
    b = ops.training_flops(m, tokens * k, 4096)
    assert b == pytest.approx(a * k, rel=1e-9)
