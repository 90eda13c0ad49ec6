"""MoE / expert-parallel serving: laws of the imbalance, grouped GEMMs, the all-to-all, the
attention-DP layout and memory (suanli.infer.moe, model.py, memory.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.errors import InputError
from suanli.infer.estimate import deployment, memory_only, step_model
from suanli.infer.memory import weight_terms
from suanli.infer.model import StepModel, total_s
from suanli.infer.moe import (
    a2a_bytes,
    a2a_time_s,
    experts_per_rank,
    gather_bytes,
    gather_time_s,
    load_imbalance,
    moe_params,
    padded_rows,
    routed_expert_cost,
)


def test_imbalance_is_one_without_ep_and_shrinks_with_load() -> None:
    assert load_imbalance(1000, 8, 256, 1, 0.35) == 1.0
    small, big = load_imbalance(64, 8, 256, 32, 0.35), load_imbalance(65536, 8, 256, 32, 0.35)
    assert small > big > 1.0
    # at large load only the popularity skew remains: 1 + sqrt(2 ln ep) cv / sqrt(E/ep)
    assert big == pytest.approx(1 + math.sqrt(2 * math.log(32)) * 0.35 / math.sqrt(8), rel=0.01)


def test_tile_quantization() -> None:
    assert padded_rows(1, 64) == 64 and padded_rows(64, 64) == 64 and padded_rows(65, 64) == 128
    assert padded_rows(0, 64) == 0


def test_whole_tile_of_expected_rows_is_not_padded_by_float_error() -> None:
    """Mixtral 8x7B (8 experts, top 2) at batch 64: 128 pairs over 8 touched experts is 16 rows
    each, one 16-row tile; ``touched_experts`` is 8 - 8e-8, so before the tolerance the rows
    came out 16.0000002 and two tiles were charged (twice the FLOPs of batch 32)."""
    kw = dict(top_k=2, num_experts=8, ep=1, expert_weights=1.0, weight_bytes=1.0,
              act_bytes=2.0, hidden=4096, inner=7168, layers=1.0, cv=0.35, tile=16)
    b64 = routed_expert_cost(64, **kw)  # type: ignore[arg-type]
    b32 = routed_expert_cost(32, **kw)  # type: ignore[arg-type]
    assert b64.tokens_per_expert == pytest.approx(16.0)
    assert b64.padded_flops == pytest.approx(b64.flops, rel=1e-6)  # exactly one tile each
    assert b32.padded_flops == pytest.approx(2 * b32.flops, rel=1e-3)  # 8 rows in a 16-row tile
    assert b64.padded_flops == pytest.approx(b32.padded_flops, rel=1e-3)


def test_mixtral_128_token_prefill_reads_every_expert() -> None:
    """S033's step (Mixtral 8x7B FP16, TP2, 128-token prompt): top-2 of 8 leaves a given
    expert untouched with probability (6/8)^128 ~ 1e-16, and an expert with no rows costs
    nothing (CUTLASS's grouped problem visitor: ceil(M / tile) x ceil(N / tile) tiles), so the
    step reads every expert's half on each GPU: 32 layers x 8 experts x 3 x 4096 x 14336 / 2
    FP16 elements, 45.1 GB (docs/inference.md, "Mixtral 8x7B on TensorRT-LLM v0.9")."""
    sm = step_model(deployment("mixtral-8x7b", "dgx-a100-80gb", tp=2, precision="fp16",
                               stack="trtllm-0.9"))
    full = 32 * 8 * 3 * 4096 * 14336 / 2 * 2.0
    assert sm.expert_bytes(128) == pytest.approx(full, rel=1e-12)
    assert sm.expert_bytes(0) == 0.0
    assert sm.expert_bytes(1) == pytest.approx(full * 2 / 8, rel=1e-12)  # top-2 of 8


def test_a2a_is_bandwidth_bound_with_one_latency() -> None:
    kw = dict(hidden=7168, top_k=8, ep=144, nodes=18, elem_bytes=1.0, scale_up_bw=160e9,
              scale_out_bw=40e9, alpha=5e-6)
    tiny = a2a_time_s(1, **kw)  # type: ignore[arg-type]
    assert tiny < 2 * 5e-6  # one latency, not (ep - 1) of them
    t1, t2 = a2a_time_s(128, **kw), a2a_time_s(256, **kw)  # type: ignore[arg-type]
    assert t2 - 5e-6 == pytest.approx(2 * (t1 - 5e-6), rel=1e-9)
    # inside one node nothing crosses the NIC; across nodes each remote node touched once
    assert a2a_bytes(100, hidden=10, top_k=8, ep=8, nodes=1, elem_bytes=1)[1] == 0.0
    nvl, nic = a2a_bytes(100, hidden=10, top_k=8, ep=32, nodes=4, elem_bytes=1)
    assert 0 < nic <= 100 * 10 * 3 and nvl == pytest.approx(100 * 10 * 8 * 31 / 32)


def test_routed_expert_work_per_rank_is_one_over_ep() -> None:
    """The fixed bug: every rank was charged the routed-expert activations of all tokens."""
    sm = step_model(deployment("qwen3-235b-a22b", "hgx-h200", tp=8, ep=8, attn_dp=True,
                               precision="fp8"))
    sm.imbalance = 1.0
    moe = sm.model.moe
    assert moe is not None
    t = 4096
    op = {o.name: o for o in sm.decode_ops(t, 1000)}["experts"]
    act = op.bytes - sm.expert_bytes(t)  # bytes of activations on one rank
    per_pair = (2 * sm.model.hidden + 3 * moe.expert_ffn_hidden) * sm.comp.act_bytes
    assert act == pytest.approx(sm.n_moe_per_device * t * moe.top_k / 8 * per_pair, rel=1e-9)


def _ds(**kw: object) -> StepModel:
    return step_model(deployment("deepseek-v3", "hgx-h800", precision="fp8", attn_dp=True,
                                 **kw))  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(st.floats(1.0, 3.0), st.floats(0.0, 2.0), st.integers(16, 40000))
def test_more_imbalance_never_speeds_up(imb: float, extra: float, batch: int) -> None:
    sm = _ds(nodes=4)
    sm.imbalance = imb
    a = sm.time(batch, batch, batch * 2000.0, batch * 2000.0)
    sm.imbalance = imb + extra
    assert sm.time(batch, batch, batch * 2000.0, batch * 2000.0) >= a * (1 - 1e-12)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([8, 16, 32, 64, 72, 128, 144, 256]),
       st.sampled_from([8, 16, 32, 64, 72, 128, 144, 256]))
def test_more_ep_never_raises_expert_memory_per_device(a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    m = deployment("deepseek-v3", "hgx-h800", precision="fp8").model
    mem = [weight_terms(m, deployment(m, "hgx-h800", precision="fp8").compression, ep, 1,
                        True, ep)["routed_experts"] for ep in (lo, hi)]
    assert mem[1] <= mem[0]
    assert experts_per_rank(256, hi) <= experts_per_rank(256, lo)


LAYOUTS = [dict(model="llama3-70b", tp=t, pp=p) for t in (1, 2, 4, 8) for p in (1, 2, 4)] + [
    dict(model="deepseek-v3", attn_dp=True, nodes=n) for n in (1, 2, 4, 18)] + [
    dict(model="mixtral-8x7b", tp=t, ep=e) for t, e in ((2, 1), (2, 2), (8, 4), (8, 8))] + [
    dict(model="qwen3-235b-a22b", tp=8, ep=8, attn_dp=True)]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(LAYOUTS), st.integers(0, 512), st.integers(1, 8192))
def test_memory_is_the_sum_of_its_terms(lay: dict[str, object], batch: int, ctx: int) -> None:
    kw = dict(lay)
    model = str(kw.pop("model"))
    dep = deployment(model, "hgx-h800", precision="fp8", **kw)  # type: ignore[arg-type]
    mb = memory_only(dep, batch, ctx)
    terms = weight_terms(dep.model, dep.compression, dep.tp, dep.pp, dep.attn_dp, dep.ep)
    assert mb.weights == pytest.approx(sum(terms.values()), rel=1e-12)
    assert mb.total == pytest.approx(mb.weights + mb.kv_cache + mb.activations, rel=1e-12)
    assert all(v >= 0 for v in terms.values())


def test_attention_dp_has_no_tp_allreduce_and_replicates_dense_weights() -> None:
    sm = _ds(nodes=2)
    names = {o.name for o in sm.decode_ops(1024, 2000)}
    assert "tp_allreduce" not in names and "ep_dispatch_combine" in names
    dep = deployment("deepseek-v3", "hgx-h800", precision="fp8", attn_dp=True, nodes=2)
    t16 = weight_terms(dep.model, dep.compression, 16, 1, True, 16)
    t1 = weight_terms(dep.model, dep.compression, 1, 1, True, 1)
    assert t16["attention"] == t1["attention"]  # replicated on every rank
    assert t16["routed_experts"] == pytest.approx(t1["routed_experts"] / 16)


def test_two_batch_overlap_never_slower_and_helps_when_comm_is_large() -> None:
    on, off = _ds(nodes=4), step_model(deployment("deepseek-v3", "hgx-h800", precision="fp8",
                                                  attn_dp=True, nodes=4, overlap=False))
    for b in (32, 2048, 16384):
        args = (b, b, b * 2000.0, b * 2000.0)
        assert on.time(*args) <= off.time(*args)
    big = (16384, 16384, 16384 * 2000.0, 16384 * 2000.0)
    assert any(o.name == "two_batch_overlap" for o in on.ops(*big))


def test_mla_decode_uses_absorbed_attention() -> None:
    sm = _ds(nodes=2)
    a = sm.model.mla
    assert a is not None
    per_layer = 2 * sm.model.heads * (2 * a.kv_lora_rank + a.qk_rope_head_dim)
    assert sm.attn_flops_per_pair_decode == pytest.approx(sm.model.layers * per_layer)
    assert sm.attn_flops_per_pair_decode > sm.attn_flops_per_pair


def test_fast_path_agrees_with_ops_for_moe() -> None:
    sm = _ds(nodes=4)
    for args in [(1, 1, 100, 100), (3000, 3000, 6e6, 6e6), (65536, 32, 1e9, 0)]:
        assert sm.time(*args) == pytest.approx(total_s(sm.ops(*args)), rel=1e-12)


def test_tp_must_divide_heads_with_a_hint() -> None:
    with pytest.raises(InputError, match=r"valid --tp: 1, 2, 4, 8, 16, 32"):
        deployment("llama3-8b", "dgx-h100", tp=3)
    with pytest.raises(InputError, match="--ep"):
        deployment("deepseek-v3", "hgx-h800", tp=8, ep=3, attn_dp=True)


def test_parameters_carry_sources() -> None:
    p = moe_params()
    assert 0 <= p.expert_load_cv < 1 and p.gemm_tile_m >= 1 and 0 < p.comm_efficiency <= 1


def test_all_gather_path_moves_ep_over_k_times_the_all_to_all_bytes() -> None:
    """TensorRT-LLM's all-gather MoE path: each rank receives every other rank's rows, so it
    equals the all-to-all's dispatch when ep = top_k and moves ep / top_k times more below."""
    for k, ep in ((8, 8), (2, 8), (4, 16)):
        a2a = sum(a2a_bytes(100, hidden=4096, top_k=k, ep=ep, nodes=1, elem_bytes=1.0))
        gat = sum(gather_bytes(100, hidden=4096, ranks=ep, nodes=1, elem_bytes=1.0))
        assert gat == pytest.approx(a2a * ep / k)
    # across nodes the remote rows cross the NIC; the slower link sets the time
    nvl, nic = gather_bytes(100, hidden=4096, ranks=16, nodes=2, elem_bytes=1.0)
    assert nvl == pytest.approx(7 * 100 * 4096) and nic == pytest.approx(8 * 100 * 4096)
    t = gather_time_s(100, hidden=4096, ranks=16, nodes=2, elem_bytes=1.0,
                      scale_up_bw=400e9, scale_out_bw=50e9, alpha=1e-5)
    assert t == pytest.approx(1e-5 + nic / 50e9)
    assert gather_time_s(100, hidden=4096, ranks=1, nodes=1, elem_bytes=1.0,
                         scale_up_bw=1.0, scale_out_bw=1.0, alpha=1.0) == 0.0


def test_trtllm_attention_dp_uses_the_gather_path() -> None:
    dep = deployment("qwen3-235b-a22b", "hgx-h200", tp=8, ep=8, precision="fp8", attn_dp=True,
                     stack="trtllm-1.x")
    names = {o.name for o in step_model(dep).decode_ops(512, 3000)}
    assert "ep_gather_scatter" in names and "ep_dispatch_combine" not in names
    dep = deployment("qwen3-235b-a22b", "hgx-h200", tp=8, ep=8, precision="fp8", attn_dp=True)
    names = {o.name for o in step_model(dep).decode_ops(512, 3000)}
    assert "ep_dispatch_combine" in names and "ep_gather_scatter" not in names
