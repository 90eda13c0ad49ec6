"""trtllm-bench's own batch limits (infer.benchsettings), checked against hand arithmetic of
its heuristic (tensorrt_llm/bench/build/tuning.py) and its rounding laws."""

from __future__ import annotations

import pytest

from suanli.catalog import load_catalog
from suanli.infer.benchsettings import _round_batch, _round_tokens, trtllm_bench_limits
from suanli.infer.compression import parse_compression
from suanli.perf.ops import param_count


def _limits(model: str, system: str, tp: int, isl: int, osl: int, frac: float = 0.9
            ) -> tuple[int, int]:
    cat = load_catalog()
    acc = cat.accelerator(cat.system(system).accelerator)
    return trtllm_bench_limits(cat.model(model), acc, parse_compression("fp8"), tp=tp, pp=1,
                               isl=isl, osl=osl, kv_fraction=frac)


def test_hand_arithmetic_llama70b_h100_tp2() -> None:
    """Llama-3.1 70B FP8 on 2 H100, 2048/2048 (S037): KV per token 2 x 80 layers x 8 heads x
    128 x 1 B; engine = params x 1 B; free = 2 x device GiB - engine; 0.9 of it over 4,096
    tokens per request -> ~144 requests -> rounded up to a multiple of 32 (160); tokens
    max(2048, 2048 + 160)."""
    cat = load_catalog()
    m = cat.model("llama3.1-70b")
    acc = cat.accelerator(cat.system("dgx-h100").accelerator)
    gib = 2.0**30
    free = 2 * acc.memory_bytes / gib - param_count(m) / gib
    requests = 0.9 * free / (2 * 80 * 8 * 128 / gib * 4096)
    assert 128 < requests < 160
    assert _limits("llama3.1-70b", "dgx-h100", 2, 2048, 2048) == (160, 2048 + 160)


def test_rounding_is_optimistic_with_floors() -> None:
    assert _round_batch(1) == 64 and _round_batch(65) == 96
    assert _round_batch(300) == 384 and _round_batch(1025) == 1280
    assert _round_tokens(100) == 2048 and _round_tokens(4097) == 4608
    assert _round_tokens(8193) == 9216
    for raw in (1.0, 63.0, 255.0, 256.0, 1000.0, 5000.0):
        assert _round_batch(raw) >= raw and _round_tokens(raw) >= raw


@pytest.mark.parametrize("frac", [0.5, 0.9])
def test_more_memory_never_lowers_the_batch(frac: float) -> None:
    h100 = _limits("qwen3-235b-a22b", "dgx-h100", 8, 2048, 2048, frac)
    h200 = _limits("qwen3-235b-a22b", "hgx-h200", 8, 2048, 2048, frac)
    assert h200[0] >= h100[0]
    # the request cap: a small model with short sequences stops at 4,096
    assert _limits("llama3.1-8b", "hgx-h200", 1, 128, 128, frac)[0] <= 4096


def test_only_the_trtllm_bench_stack_sets_its_own_limits() -> None:
    """trtllm-1.x rows (trtllm-bench) take the limits; other stacks state their batch."""
    from suanli.infer.stacks import stack

    assert stack("trtllm-1.x").bench_limits and not stack("default").bench_limits
