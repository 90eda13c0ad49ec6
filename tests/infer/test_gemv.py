"""Instructions per weight element of a GEMV (``infer.kernels.gemv_instr_s``): weight-only
dequantisation and gathered routed experts on the stacks that count them (gpt-fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.catalog import load_catalog
from suanli.errors import CatalogError
from suanli.infer.compression import parse_compression
from suanli.infer.estimate import deployment, step_model
from suanli.infer.kernels import cuda_core_rate, gemv_instr_s
from suanli.infer.model import total_s
from suanli.infer.stacks import stack, stacks


def test_cuda_core_rate_is_one_fma_per_lane_per_clock() -> None:
    """A100: 19.5 TFLOP/s of FP32 = 9.75e12 FMA lane-instructions per second; no catalog
    figure, no charge."""
    assert cuda_core_rate(19.5) == pytest.approx(9.75e12)
    assert gemv_instr_s(1.0, cuda_core_rate(19.5)) == pytest.approx(1 / 9.75e12)
    assert gemv_instr_s(3.0, cuda_core_rate(None)) == 0.0
    assert gemv_instr_s(0.0, 1e12) == 0.0


def test_int4_group_32_carries_a_bf16_scale_and_zero_per_group() -> None:
    """gpt-fast's int4 (G=32): 4 bits + 2 x 2 B per 32 weights = 0.625 B, against the GPTQ /
    AWQ group of 128 (0.53125 B); both weight-only, unlike w8a8 and fp8."""
    g32, g128 = parse_compression("w4a16-g32"), parse_compression("w4a16")
    assert g32.weight_bytes == pytest.approx(0.625)
    assert g128.weight_bytes == pytest.approx(0.53125)
    assert g32.weight_only and g128.weight_only and parse_compression("w8a16").weight_only
    assert not any(parse_compression(p).weight_only for p in ("bf16", "fp8", "w8a8"))


@pytest.mark.parametrize(("name", "tp", "prec"), [
    ("llama2-7b", 1, "w8a16"), ("llama2-70b", 8, "w4a16-g32"), ("mixtral-8x7b", 2, "w8a16"),
    ("mixtral-8x7b", 4, "bf16")])
def test_batch1_gemv_instructions_add_to_the_stream(name: str, tp: int, prec: str) -> None:
    """At batch 1 the gpt-fast step is the step without the GEMV term plus, per weight element
    read, its counted instructions at the CUDA-core rate: 1 for the dequantisation of a
    weight-only format, 3 more for the gathered experts; bf16 dense GEMVs add nothing. The
    fast path (``time``) agrees with the ops."""
    sm = step_model(deployment(name, "dgx-a100-80gb", tp=tp, precision=prec, stack="gpt-fast"))
    dequant, gather = stack("gpt-fast").gemv
    assert (dequant, gather) == (1.0, 3.0)
    ops = {o.name: o for o in sm.decode_ops(1, 100)}
    wb = sm.comp.weight_bytes_moved
    rate = cuda_core_rate(sm.acc.fp32_tflops)
    d = dequant if sm.comp.weight_only else 0.0
    for n in ("qkv", "attn_out", "mlp"):
        if n in ops:
            o = ops[n]
            elems = next(c[1] for c in sm.gemm_coeffs if c[0] == n) / wb
            stream = o.bytes / sm.bw
            assert o.memory_s == pytest.approx(stream + elems * d / rate, rel=1e-9), n
    if "experts" in ops:
        e = ops["experts"]
        elems = sm.expert_bytes(1) / wb
        assert e.memory_s == pytest.approx(e.bytes / sm.bw + elems * (d + gather) / rate,
                                           rel=1e-9)
        # top-2 of 8 experts at batch 1: the bytes of 2 experts per MoE layer
        m = sm.model
        assert elems == pytest.approx(m.layers * 2 * sm.expert_w)
    for args in [(1, 1, 100, 100), (300, 30, 4e5, 3e5)]:
        assert sm.time(*args) == pytest.approx(total_s(sm.ops(*args)), rel=1e-12)


def test_int8_converts_twice_the_elements_per_byte_of_bf16() -> None:
    """Same bytes per GPU (Llama-2 70B int8 on 1 GPU, bf16 on 2): the int8 GEMVs carry the
    dequantisation of twice the elements; bf16 none. The default stack counts nothing."""
    int8 = step_model(deployment("llama2-70b", "dgx-a100-80gb", tp=1, precision="w8a16",
                                 stack="gpt-fast"))
    bf16 = step_model(deployment("llama2-70b", "dgx-a100-80gb", tp=2, precision="bf16",
                                 stack="gpt-fast"))
    plain = step_model(deployment("llama2-70b", "dgx-a100-80gb", tp=1, precision="w8a16"))
    assert int8.instr_s == pytest.approx(1 / 9.75e12) and bf16.instr_s == 0.0
    assert plain.instr_s == plain.expert_instr_s == 0.0
    i8 = {o.name: o for o in int8.decode_ops(1, 100)}["mlp"]
    b16 = {o.name: o for o in bf16.decode_ops(1, 100)}["mlp"]
    assert i8.bytes == pytest.approx(b16.bytes, rel=1e-3)
    n = i8.bytes / 1.0
    assert i8.memory_s - b16.memory_s == pytest.approx(n / 9.75e12, rel=1e-3)


def test_gemv_counts_say_where_they_come_from_and_are_checked(tmp_path: Path) -> None:
    """A stack's GEMV counts cite the kernels they are read from; a negative count is a
    catalog error, not a silent zero."""
    st = stacks()["gpt-fast"]
    assert "WeightOnlyInt8Linear" in st.source and "expert_indices" in st.source
    assert all(s.gemv == (0.0, 0.0) for k, s in stacks().items() if k != "gpt-fast")
    bad = tmp_path / "stacks.yaml"
    bad.write_text("default: {kernels: {dense: 5, moe: 8}}\n"
                   "x: {gemv: {dequant: -1}}\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="must be >= 0"):
        stacks(bad)


def test_catalog_a100_has_the_fp32_peak_the_term_uses() -> None:
    cat = load_catalog()
    acc = cat.accelerator(cat.system("dgx-a100-80gb").accelerator)
    assert acc.fp32_tflops == pytest.approx(19.5)
