"""Compression bytes, KV-cache and weight memory against hand-computed values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.catalog import load_catalog
from suanli.errors import InputError
from suanli.infer.compression import parse_compression
from suanli.infer.memory import (
    kv_bytes_per_token_per_device,
    kv_elements_per_token,
    max_concurrent_seqs,
    weight_bytes_per_device,
)
from suanli.perf.ops import active_param_count, param_count

CAT = load_catalog()


def test_kv_bytes_llama2_70b_by_hand() -> None:
    m = CAT.model("llama2-70b")  # 80 layers, 8 KV heads of 128: 2 x 80 x 8 x 128 x 2 B
    assert kv_elements_per_token(m) == 2 * 80 * 8 * 128
    bf16 = parse_compression("bf16")
    assert kv_bytes_per_token_per_device(m, bf16, 1, 1) == 327_680
    assert kv_bytes_per_token_per_device(m, bf16, 8, 1) == 327_680 / 8
    # beyond 8 KV heads the cache is replicated, not split further
    assert kv_bytes_per_token_per_device(m, bf16, 16, 1) == 327_680 / 8
    assert kv_bytes_per_token_per_device(m, parse_compression("bf16", kv="fp8"), 1, 1) == 163_840


def test_mla_caches_the_latent() -> None:
    m = CAT.model("deepseek-v3")  # 61 layers x (512 + 64)
    assert kv_elements_per_token(m) == 61 * (512 + 64)


def test_moe_memory_uses_total_params_and_flops_use_active() -> None:
    m = CAT.model("mixtral-8x7b")
    w = weight_bytes_per_device(m, parse_compression("bf16"), 1, 1)
    assert w == pytest.approx(2.0 * param_count(m), rel=1e-9)
    assert active_param_count(m) < 0.3 * param_count(m)


def test_weight_bytes_per_format() -> None:
    assert parse_compression("fp8").weight_bytes == 1.0
    assert parse_compression("w4a16").weight_bytes == pytest.approx(0.5 + 4 / 128)
    sp = parse_compression("bf16", sparsity="2:4")
    assert sp.weight_bytes == pytest.approx(1.0 + 0.125)
    un = parse_compression("bf16", sparsity="unstructured50")
    assert un.weight_bytes == pytest.approx(1.125)
    assert un.weight_bytes_moved == 2.0  # no kernel: memory saved, time not
    assert parse_compression("bf16", sparsity="unstructured50",
                             sparse_kernel=True).weight_bytes_moved == pytest.approx(1.125)


def test_two_four_doubles_peak_only_where_supported() -> None:
    h100 = CAT.accelerator("H100")
    sp = parse_compression("fp8", sparsity="2:4")
    assert sp.peak_flops(h100) == 2 * h100.peak_flops("fp8")
    with pytest.raises(InputError, match="2:4"):
        sp.check(CAT.accelerator("MI250X"))


def test_fp8_on_a100_is_refused_with_a_fix() -> None:
    with pytest.raises(InputError, match="w8a8"):
        parse_compression("fp8").check(CAT.accelerator("A100"))


def test_unknown_precision() -> None:
    with pytest.raises(InputError, match="unknown precision"):
        parse_compression("fp3")


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["llama2-7b", "llama2-70b", "mixtral-8x7b", "llama3-8b"]),
       st.sampled_from([1, 2, 4]), st.sampled_from(["bf16", "fp8", "w4a16"]))
def test_more_devices_never_need_more_memory_per_device(name: str, tp: int, prec: str) -> None:
    m, comp = CAT.model(name), parse_compression(prec)
    assert weight_bytes_per_device(m, comp, 2 * tp, 1) <= weight_bytes_per_device(m, comp, tp, 1)
    assert kv_bytes_per_token_per_device(m, comp, 2 * tp, 1) <= \
        kv_bytes_per_token_per_device(m, comp, tp, 1)


def test_capacity_grows_with_shorter_sequences() -> None:
    m, acc, comp = CAT.model("llama2-7b"), CAT.accelerator("H100"), parse_compression("bf16")
    short = max_concurrent_seqs(m, acc, comp, tp=1, pp=1, context=512, max_step_tokens=8192)
    long = max_concurrent_seqs(m, acc, comp, tp=1, pp=1, context=4096, max_step_tokens=8192)
    assert short >= 8 * long - 8 and long >= 1


def test_all_gather_moe_workspace_shrinks_the_kv_cache_under_attention_dp() -> None:
    """TensorRT-LLM's CUTLASS fused MoE under attention-DP runs the experts over all ranks'
    gathered tokens (``max_num_tokens x dp`` rows, ``k`` copies each): its workspace is
    activation memory, so fewer sequences fit; it scales with the ranks and is absent without
    attention-DP or on an all-to-all stack."""
    from suanli.infer.estimate import Deployment, deployment
    from suanli.infer.memory import MemoryBreakdown, memory_breakdown, moe_workspace_bytes

    def mem(stack: str, attn_dp: bool = True) -> tuple[MemoryBreakdown, Deployment]:
        d = deployment("qwen3-235b-a22b", "dgx-h100", tp=8, ep=8, precision="fp8",
                       attn_dp=attn_dp, stack=stack)
        return memory_breakdown(d.model, d.accelerator, d.compression, tp=8, pp=1, batch=0,
                                context=4096, max_step_tokens=d.chunk_tokens, attn_dp=attn_dp,
                                ep=8, moe_gather=d.stack.moe_gather), d

    gather, d = mem("trtllm-1.x")
    a2a, _ = mem("default")
    ws = moe_workspace_bytes(d.model, d.compression, 8192 * 8)
    assert gather.activations - a2a.activations == pytest.approx(ws)
    assert ws > 5e9 and gather.kv_capacity < a2a.kv_capacity  # GB-scale: 65,536 rows x 8
    assert moe_workspace_bytes(d.model, d.compression, 2 * 8192) == pytest.approx(ws / 4)
    no_dp, _ = mem("trtllm-1.x", attn_dp=False)
    assert no_dp.activations < gather.activations - ws / 2
