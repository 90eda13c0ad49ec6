"""The batch limits a benchmark harness sets by itself: part of what a published max-load row
measured, not a property of the hardware.

``trtllm-bench throughput`` (TensorRT-LLM PyTorch backend, the perf-overview tables) run
without ``--max_batch_size`` / ``--max_num_tokens``, as the perf-overview commands are, picks
both from a memory estimate (``tensorrt_llm/bench/benchmark/utils/general.py`` ``get_settings``
-> ``tensorrt_llm/bench/build/tuning.py`` ``calc_engine_setting`` and ``finetune_setting``,
read from the stored repository files):

* KV bytes per token ``2 x layers x max(tp, kv_heads) x head_size x kv_bytes`` (every rank
  of the TP group counted with at least one KV head; attention-DP is not considered);
* engine bytes ``params x weight_bytes``; free memory ``tp x pp x device GiB - engine``; the
  KV share ``free x kv_fraction``; requests that fit ``share / (KV per token x (isl + osl))``;
* ``raw_bs = min(requests, 4096) / pp``, rounded *up* (optimistic): to a multiple of 32 with
  a floor of 64 below 256, of 128 below 1024, else of 256;
* ``raw_tokens = min(raw_bs x (1 + isl / osl), 32768)``, rounded up: to 256 with a floor of
  2048 below 4096, to 512 below 8192, else to 1024; without chunked prefill (the default)
  ``max_num_tokens = max(that, isl + max_batch_size)``.

The runtime then runs at most ``max_batch_size`` sequences, and fewer when its real KV pool
(``infer.memory``) holds fewer.
"""

from __future__ import annotations

import math

from suanli.catalog.schema import Accelerator, ModelSpec
from suanli.infer.compression import Compression
from suanli.perf.ops import param_count

MAX_REQUESTS = 4096  # finetune_setting: "Cap total batch size to avoid decoder buffer ..."
MAX_TOKENS = 32768  # "Cap num tokens to avoid TRT activation buffer becoming too large"


def _round_up(raw: float, floor: int, bands: tuple[tuple[float, int], ...]) -> int:
    """``raw`` rounded up to the step of the first band whose upper end it is below, at least
    ``floor`` (``finetune_setting``'s rounding, module doc)."""
    step = next(step for below, step in bands if raw < below)
    return max(floor, step * math.ceil(raw / step))


def _round_batch(raw: float) -> int:
    return _round_up(raw, 64, ((256, 32), (1024, 128), (math.inf, 256)))


def _round_tokens(raw: float) -> int:
    return _round_up(raw, 2048, ((4096, 256), (8192, 512), (math.inf, 1024)))


def trtllm_bench_limits(model: ModelSpec, acc: Accelerator, comp: Compression, *, tp: int,
                        pp: int, isl: int, osl: int, kv_fraction: float = 0.9
                        ) -> tuple[int, int]:
    """``(max_batch_size, max_num_tokens)`` that ``trtllm-bench throughput`` sets for a
    dataset of ``isl`` / ``osl`` tokens (module docstring); ``kv_fraction`` is its
    ``--kv_cache_free_gpu_mem_fraction`` (0.90 by default, 0.95 "in many cases" per the
    perf-overview page)."""
    gib = 2.0 ** 30
    kv_per_token = (2 * model.layers * max(tp, model.n_kv_heads) * model.d_head
                    * comp.kv_bytes / gib)
    engine = param_count(model) * comp.weight_bytes / gib
    free = tp * pp * acc.memory_bytes / gib - engine
    requests = max(free * kv_fraction / (kv_per_token * (isl + osl)), 0.0)
    raw_bs = min(requests, MAX_REQUESTS) / pp
    raw_tokens = min(raw_bs * (1 + isl / osl), MAX_TOKENS)
    max_bs = _round_batch(raw_bs)
    return max_bs, max(_round_tokens(raw_tokens), isl + max_bs)
