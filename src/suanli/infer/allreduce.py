"""Seconds of one tensor-parallel all-reduce as serving runtimes run it (split from
``infer.model``). Four algorithms, chosen by the serving stack (``infer.stacks``
``allreduce``); scalar forms, since the serving simulator calls them every step.

* ``peer``: current runtimes' peer-access kernels inside an NVLink/NVSwitch domain
  (TensorRT-LLM >= v0.10 and vLLM custom all-reduce): every rank reads its peers' buffers
  directly, one-shot ``alpha + (t-1) B / bw`` for small messages, two-shot (reduce-scatter +
  all-gather by direct peer access) ``2 alpha + 2 (t-1)/t B / bw`` for large ones, whichever is
  faster; one latency per phase, not one per ring step.
* ``nccl``: the NCCL ring, ``2 (t-1)`` link latencies and ``2 (t-1)/t B`` per rank
  (``perf.comm.ring_allreduce_s``).
* ``custom``: the custom all-reduce plugin of TensorRT-LLM engines v0.6-v0.9
  (``use_custom_all_reduce``, on by default in that era's ``PluginConfig``): messages up to the
  IPC workspace (``custom_workspace_bytes``) go through a peer-access kernel launched with at
  most ``MAX_ALL_REDUCE_BLOCKS = 24`` CTAs (``cpp/tensorrt_llm/kernels/customAllReduceKernels.h``),
  larger ones through the NCCL ring. Each rank reads every peer's whole buffer
  (``(t-1) B``); 24 CTAs cannot keep an NVLink port busy, so the bytes move at the kernel's
  own rate (``kernel_bw``: ``Efficiency.custom_allreduce_gbs``, fitted once for every chip,
  since the CTA count, not the link, sets it; held out, a prior measured on H100,
  ``fit.PRIOR_CUSTOM_ALLREDUCE_GBS``), capped by the link's. The one-shot byte count is the
  one the published first-token rows follow: their time beyond the GEMMs grows as
  ``(t-1) B`` (Llama-2 70B and Falcon-180B on TP4, Falcon-180B on TP8: the same rate within
  a few percent), where the two-shot count ``2 (t-1)/t B`` would need TP8 twice as slow per
  byte as TP4. The plugin's later ``selectImplementation`` picks two-shot above 1 MB (4 ranks)
  / 500 KB (8); which one the v0.9 engines ran was not found (docs/inference.md, "TP
  all-reduce at small batch").
* ``custom_grid``: the same plugin as its kernel runs (the ``trtllm-0.9`` stack;
  docs/inference.md, "Falcon-180B: one all-reduce per layer, and the custom kernel's grid").
  The plugin picks one-shot (each rank reads every peer's whole buffer, ``(t-1) B``) on 2
  ranks and below 1 MB (4 ranks) / 500 KB (8 ranks), two-shot (reduce-scatter
  + all-gather by peer access, ``2 (t-1)/t B``) above (``selectImplementation``;
  ``custom_strategy``). The kernel runs few CTAs and moves bytes at the rate of its grid, not
  the link's: ``kernel_bw`` (``Efficiency.custom_allreduce_gbs``, fitted once for every chip;
  held out, ``fit.PRIOR_CUSTOM_GRID_GBS``, from the same H100 measurement) is the rate of a full
  grid of ``MAX_ALL_REDUCE_BLOCKS = 24`` CTAs, a smaller grid moves ``blocks / 24`` of it, and
  the link caps it. How many CTAs a call gets is the kernel's launch configuration
  (``custom_blocks``): two-shot takes the smallest block count that divides its thread count
  with at most 1,024 threads a block, and, above 24, divides it by its smallest factor that
  brings it to 24 or fewer (``kernelLaunchConfig``, ``cpp/tensorrt_llm/kernels/
  customAllReduceKernels.cu``, the same loop from the 2023 kernel to the stored 2025 one). A
  hidden size with a large prime factor collapses the grid: Falcon-180B's 14,848 = 2^9 x 29
  gives 128 tokens on 4 ranks 59,392 threads, 58 blocks, cut by 29 to **2** CTAs, and on 8 ranks
  29 blocks cut to **1**, where Llama-2 70B's 8,192 keeps 16 (docs/inference.md, "Falcon-180B:
  one all-reduce per layer, and the custom kernel's grid").
* Across nodes every algorithm is the ring.
"""

from __future__ import annotations

import math
from functools import lru_cache

from suanli.perf.comm import ring_allreduce_s

ALGORITHMS = ("peer", "nccl", "custom", "custom_grid")
MAX_ALL_REDUCE_BLOCKS = 24  # customAllReduceKernels.h
BLOCK_THREADS = 1024  # DEFAULT_BLOCK_SIZE
WARP = 32
VECTOR_BYTES = 16  # each thread moves one 16-byte vector per rank per iteration
# Model families whose decoder layer runs attention and MLP in parallel on the same input
# (Falcon: ``parallel_attn`` / ``new_decoder_architecture`` in every tiiuae config.json).
PARALLEL_ATTENTION_FAMILIES = ("falcon",)


def custom_workspace_bytes(t: int) -> float:
    """Largest message (bytes) TensorRT-LLM's custom all-reduce takes; larger ones fall back to
    NCCL: ``CustomAllReduceHelper.max_workspace_size_auto`` (``tensorrt_llm/plugin/plugin.py``,
    v0.9 era): 16 MB on up to 2 ranks, 8 MB above."""
    return 16e6 if t <= 2 else 8e6


def peer_allreduce_s(nbytes: float, t: int, bw: float, alpha: float) -> float:
    """One-shot or two-shot peer-access all-reduce, whichever is faster (module doc)."""
    return min(alpha + (t - 1) * nbytes / bw, 2.0 * alpha + 2.0 * (t - 1) / t * nbytes / bw)


def allreduces_per_layer(family: str, fused_parallel: bool) -> int:
    """TP all-reduces per dense decoder layer: one after attention and one after the MLP
    (Shoeybi et al. 2019), or one where the layer runs attention and MLP in parallel and the
    stack sums their partial outputs before a single all-reduce (``fused_parallel``, a stack
    feature: TensorRT-LLM's ``FalconDecoderLayer`` builds both with ``tp_group=None`` and
    all-reduces ``mlp + attention`` once when ``is_parallel_attention``,
    ``tensorrt_llm/models/falcon/model.py`` at 585c7565, CHANGELOG 0.7.0 "Optimize AllReduce for
    parallel attention on Falcon and GPT-J"; vLLM's ``FalconAttention`` sets
    ``reduce_row_parallel_results = not (new_decoder_architecture or parallel_attn)``). The 2023
    TensorRT-LLM layer (commit 027cd518, the v0.5 engines) reduced each of the two."""
    return 1 if fused_parallel and family in PARALLEL_ATTENTION_FAMILIES else 2


def custom_strategy(nbytes: float, t: int) -> str:
    """``oneshot`` or ``twoshot``: the plugin's choice (module doc) for ``nbytes`` on ``t``
    ranks."""
    if t <= 2 or nbytes < (1e6 if t <= 4 else 5e5):
        return "oneshot"
    return "twoshot"


@lru_cache(maxsize=4096)
def custom_blocks(elements: int, t: int, strategy: str, elem_bytes: int = 2) -> int:
    """CTAs of one custom all-reduce of ``elements`` on ``t`` ranks: the kernel's launch
    configuration (``kernelLaunchConfig``, module doc). One-shot: one block per 1,024 threads
    up to 24. Two-shot: the smallest block count that divides the thread count of one rank's
    share (rounded up to a warp) with at most 1,024 threads a block; above 24 it is divided by
    its smallest factor that brings it to 24 or fewer."""
    per_thread = VECTOR_BYTES // elem_bytes
    if strategy == "oneshot":
        threads = math.ceil(elements / per_thread)
        return max(1, min(MAX_ALL_REDUCE_BLOCKS, math.ceil(threads / BLOCK_THREADS)))
    threads = WARP * math.ceil(math.ceil(elements / (per_thread * t)) / WARP)
    blocks = max(1, math.ceil(threads / BLOCK_THREADS))
    while threads % blocks or threads // blocks > BLOCK_THREADS:
        blocks += 1
    if blocks > MAX_ALL_REDUCE_BLOCKS:
        factor = 1
        while blocks / factor > MAX_ALL_REDUCE_BLOCKS or blocks % factor:
            factor += 1
        blocks //= factor
    return blocks


def custom_allreduce_s(nbytes: float, t: int, bw: float, alpha: float,
                       kernel_bw: float) -> float:
    """TensorRT-LLM engine-era custom all-reduce (module doc): ``alpha + (t-1) B / kernel_bw``
    within the workspace, the NCCL ring beyond it."""
    if nbytes > custom_workspace_bytes(t) or kernel_bw <= 0:
        return ring_allreduce_s(nbytes, t, bw, alpha)
    return alpha + (t - 1) * nbytes / min(kernel_bw, bw)


def custom_grid_allreduce_s(nbytes: float, t: int, bw: float, alpha: float,
                            kernel_bw: float, elem_bytes: int = 2) -> float:
    """TensorRT-LLM engine-era custom all-reduce as its kernel runs (``custom_grid``, module
    doc): within the workspace, the strategy's peer bytes at the rate of the kernel's grid
    (``kernel_bw x blocks / 24``, capped by the link ``bw``), one ``alpha`` per phase; the NCCL
    ring beyond it."""
    if nbytes > custom_workspace_bytes(t) or kernel_bw <= 0:
        return ring_allreduce_s(nbytes, t, bw, alpha)
    strategy = custom_strategy(nbytes, t)
    blocks = custom_blocks(max(1, round(nbytes / elem_bytes)), t, strategy, elem_bytes)
    rate = min(kernel_bw * blocks / MAX_ALL_REDUCE_BLOCKS, bw)
    if strategy == "oneshot":
        return alpha + (t - 1) * nbytes / rate
    return 2.0 * alpha + 2.0 * (t - 1) / t * nbytes / rate


def serving_allreduce_s(nbytes: float, t: int, bw: float, alpha: float, algo: str,
                        inside: bool = True, kernel_bw: float = 0.0) -> float:
    """Seconds of one all-reduce of ``nbytes`` over ``t`` ranks with link ``bw`` (bytes/s) and
    latency ``alpha`` (s), under the stack's algorithm ``algo`` (module doc)."""
    if t <= 1:
        return 0.0
    if not inside or algo == "nccl":
        return ring_allreduce_s(nbytes, t, bw, alpha)
    if algo == "custom":
        return custom_allreduce_s(nbytes, t, bw, alpha, kernel_bw)
    if algo == "custom_grid":
        return custom_grid_allreduce_s(nbytes, t, bw, alpha, kernel_bw)
    return peer_allreduce_s(nbytes, t, bw, alpha)
