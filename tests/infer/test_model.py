"""Per-op roofline laws of the step model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.infer.estimate import deployment, step_model
from suanli.infer.model import total_s
from suanli.perf.ops import active_param_count


@pytest.mark.parametrize(("name", "hw", "tp", "prec", "attn_dp"), [
    ("llama2-70b", "dgx-h100", 4, "fp8", False),
    ("mixtral-8x7b", "dgx-a100-80gb", 2, "bf16", False),
    ("deepseek-v3", "hgx-h200", 8, "fp8", True), ("llama3-8b", "l4-server", 1, "w4a16", False)])
def test_fast_time_equals_sum_of_ops(name: str, hw: str, tp: int, prec: str,
                                     attn_dp: bool) -> None:
    sm = step_model(deployment(name, hw, tp=tp, precision=prec, attn_dp=attn_dp,
                               ep=tp if attn_dp else 1))
    for args in [(1, 1, 100, 100), (300, 30, 4e5, 3e5), (6000, 6, 2e6, 0)]:
        assert sm.time(*args) == pytest.approx(total_s(sm.ops(*args)), rel=1e-12)


def test_decode_memory_bound_prefill_compute_bound() -> None:
    sm = step_model(deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8"))
    dec = {op.name: op for op in sm.decode_ops(1, 1000)}
    assert dec["mlp"].bound == "memory" and dec["attention"].bound == "memory"
    pre = {op.name: op for op in sm.prefill_ops(4, 2048)}
    assert pre["mlp"].bound == "compute" and pre["qkv"].bound == "compute"


def test_moe_decode_reads_active_experts_at_batch_1_and_all_at_large_batch() -> None:
    dep = deployment("mixtral-8x7b", "dgx-h100", tp=1, precision="bf16")
    sm = step_model(dep)
    one = sm.expert_bytes(1)
    assert one == pytest.approx(2 / 8 * sm.expert_bytes(1e6), rel=1e-6)  # top-2 of 8
    # decode FLOPs per token follow the active parameters (~2 x 12.9B), not the 46.7B total
    flops = sum(op.flops for op in sm.decode_ops(1, 1))
    assert flops == pytest.approx(2 * active_param_count(dep.model), rel=0.02)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4096), st.integers(1, 4096), st.integers(1, 8192))
def test_step_time_never_falls_with_more_work(tokens: int, extra: int, ctx: int) -> None:
    sm = step_model(deployment("llama3-8b", "dgx-h100", precision="fp8"))
    a = sm.time(tokens, tokens, tokens * ctx, tokens * ctx)
    b = sm.time(tokens + extra, tokens + extra, (tokens + extra) * ctx, (tokens + extra) * ctx)
    assert b >= a


def test_legacy_gqa_kernel_reads_kv_per_query_head() -> None:
    new = step_model(deployment("llama2-70b", "dgx-h100", tp=2, precision="fp8"))
    old = step_model(deployment("llama2-70b", "dgx-h100", tp=2, precision="fp8",
                                legacy_gqa_kernel=True))
    a = {o.name: o for o in new.decode_ops(64, 3000)}["attention"].bytes
    b = {o.name: o for o in old.decode_ops(64, 3000)}["attention"].bytes
    assert b / a == pytest.approx(8.0, rel=0.01)  # 64 query heads / 8 KV heads


@pytest.mark.parametrize(("name", "hw", "tp", "prec"), [
    ("llama2-70b", "dgx-h100", 2, "fp8"), ("llama3.1-70b", "hgx-h200", 1, "fp8"),
    ("llama2-70b", "dgx-a100-80gb", 4, "fp16"), ("llama3.1-405b", "hgx-h200", 8, "fp8")])
def test_batch1_decode_streams_weights_at_achieved_bandwidth(name: str, hw: str, tp: int,
                                                             prec: str) -> None:
    """Batch-1 decode = weight bytes / achieved bandwidth + the fixed per-step costs: the
    weight GEMMs add < 3% to the floor (no efficiency fitted at max load leaks in)."""
    from suanli.infer.memory import weight_bytes_per_device

    dep = deployment(name, hw, tp=tp, precision=prec)
    sm = step_model(dep)
    ops = {o.name: o for o in sm.decode_ops(1, 1024)}
    floor = weight_bytes_per_device(dep.model, dep.compression, tp, 1) \
        / (dep.accelerator.memory_bw * sm.eff.memory)
    gemms = sum(ops[n].time_s for n in ("qkv", "attn_out", "mlp", "logits"))
    assert gemms == pytest.approx(floor, rel=0.03)  # the floor counts the unread input table
    fixed = sum(o.time_s for o in ops.values()
                if o.name in ("step_overhead", "tp_allreduce", "attention"))
    assert total_s(list(ops.values())) == pytest.approx(gemms + fixed, rel=1e-9)
    kernels = sm.kernels_step * max(sm.eff.kernel_s - sm.kernel_tok_s, 0.0)  # infer.kernels
    if hw == "hgx-h200" and tp == 1:  # one device, large weights: within the 15%
        assert total_s(list(ops.values())) - kernels <= 1.15 * floor


@pytest.mark.parametrize(("name", "hw", "tp", "prec"), [
    ("llama2-70b", "dgx-h100", 2, "fp8"), ("mixtral-8x7b", "dgx-a100-80gb", 2, "bf16"),
    ("llama3.1-8b", "dgx-h100", 1, "fp8")])
def test_kernel_time_is_counted_at_batch_1_and_vanishes_at_large_batch(
        name: str, hw: str, tp: int, prec: str) -> None:
    """``infer.kernels``: the counted kernels cost ``kernel_s`` each at batch 1 (their hidden
    states take nanoseconds to stream), less as the step's tokens grow, nothing once streaming
    them takes longer than ``kernel_s``; a stack without a count charges nothing."""
    sm = step_model(deployment(name, hw, tp=tp, precision=prec))
    bare = step_model(deployment(name, hw, tp=tp, precision=prec, stack="trtllm-1.x"))
    m = sm.model
    n_moe = m.layers if m.moe is not None else 0
    assert sm.kernels_step == 5 * (m.layers - n_moe) + 8 * n_moe and bare.kernels_step == 0
    k = sm.eff.kernel_s
    assert k > 0

    def extra(tokens: int) -> float:
        s = sm.ops(tokens, tokens, tokens * 100, tokens * 100)
        b = bare.ops(tokens, tokens, tokens * 100, tokens * 100)
        return total_s(s) - total_s(b)

    assert extra(1) == pytest.approx(sm.kernels_step * k, rel=0.01)
    assert 0 < extra(64) < extra(1)
    big = int(2 * k / sm.kernel_tok_s)  # streaming the hidden states takes 2 x kernel_s
    assert extra(big) == pytest.approx(0.0, abs=1e-12)
