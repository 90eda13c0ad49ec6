"""Fixed GPU time per kernel: the step-time term of small-batch decode (issue 10).

At batch 1 a decode step is a chain of small kernels: per decoder layer the weight GEMVs and,
between them, the norm, rotary-embedding, KV-cache-write, attention and activation kernels.
The GEMVs stream their weights and are timed by the roofline. The others move a few kilobytes
at batch 1, yet even replayed from a CUDA graph (no host launch time) each costs the GPU a
minimum: the gap between dependent kernels (a grid starts only after the previous one drains)
and the ramp-up and tail of a grid that does almost no work. Each takes
``max(kernel_s, traffic)``, ``traffic`` the time to stream the step's hidden states in and out
(``2 x tokens x hidden x activation bytes / bandwidth``). The model never costed these
kernels' activation traffic (small next to the weights and the KV cache, held at serving
batches by the fitted efficiencies), so it adds only the excess:

    kernels_s = kernels per step x max(kernel_s - traffic, 0)
    kernels per step = (dense layers x per dense layer + MoE layers x per MoE layer) / pp

``kernel_s`` is the per-kernel minimum (``Efficiency.kernel_s``, one value per hardware family,
fitted on the rows of stacks with a count, apart from the other parameters:
``fit._fit_kernel_s``; ``data/efficiency.yaml`` lists the rows), the counts come from the
serving stack's decoder-layer graph (``data/stacks.yaml`` ``kernels``, with their source). TP
all-reduces are not counted here: ``infer.allreduce`` costs them with the link latency.

At batch 1 the term is 20-50% of a 7B-405B step (docs/inference.md "Batch-1 decode"). It
vanishes once a kernel streams ``kernel_s`` worth of hidden states: ~1,400 tokens per step for
a hidden size of 8,192 in BF16 on an H100 at 15 us. Stacks without a count charge nothing
(their fitted host overheads hold it: ``step_overhead_s``, ``request_overhead_s``).

**Instructions per weight element of a GEMV** (``gemv_instr_s``). At batch 1 a weight GEMV is
timed by its weight stream. The bandwidth the model uses is what a plain 16-bit GEMV reaches,
its few instructions per element (vector load share, convert, FMA) hidden behind the stream.
A kernel that issues more per element pays for them: a loop that computes between its loads
keeps fewer bytes in flight, so the extra issue time adds to the stream rather than hiding
under it (the additive, no-overlap bound). The extra instructions are counted per kind of GEMV
from the kernel the stack runs (``data/stacks.yaml`` ``gemv``, with their source), each costing
one issue slot of a CUDA-core lane at the catalog's FP32 rate (``fp32_tflops / 2``: an FMA is
2 FLOP), so nothing here is fitted:

    gemv_instr_s = weight elements read x extra instructions per element / (fp32 peak / 2)

* ``dequant``: weight-only integer weights (``w8a16``, ``w4a16``) are converted to the 16-bit
  compute dtype per element inside the GEMV (gpt-fast ``WeightOnlyInt8Linear``:
  ``F.linear(x, weight.to(x.dtype)) * scales``, one int8 -> float conversion per element under
  Inductor; ``aten._weight_int4pack_mm``: nibble extraction and the group's scale / zero).
* ``gather``: routed-expert GEMVs that read the selected experts through an index inside the
  reduction (gpt-fast ``mixtral-moe/model.py``: ``w1[expert_indices]`` fused into the
  ``einsum``): per element an address from the loaded expert index.

Per element the byte-per-element ratio matters: an int8 GEMV converts twice the elements per
byte of a bf16 one, so at equal bytes its extra time doubles.

**The masked multi-head attention kernel before XQA** (``masked_mha_read_s``; stacks with
``legacy_gqa_kernel``, TensorRT-LLM v0.5 / v0.6.1). Its grid is ``(num_heads, batch)``, one
thread block per (query head, sequence), and a block reads the K/V head of its group,
``hi_kv = hi / qhead_per_kv`` (NVIDIA/TensorRT-LLM ``cpp/tensorrt_llm/kernels/
decoderMaskedMultiheadAttention/decoderMaskedMultiheadAttentionTemplate.h``; its launcher
``mmha_launch_kernel_ex``: ``dim3 grid{num_heads, batch_size, 1}``). So the kernel loads each
cached K/V head once per query head, ``heads / kv_heads`` times; but the blocks of one group
are adjacent in the grid (x, the query head, varies fastest), run together and stream the same
K/V lines, so DRAM serves each line once and L2 the repeats (one K/V head of one sequence and
layer is 1 MB at 2,048 tokens in FP16, against an L2 of 40-50 MB). The kernel's loads then run
at its own rate, not the HBM's:

    read_s = max(K/V bytes once / (HBM bandwidth x attention_memory),
                 K/V bytes x loads per head / kernel rate)

``kernel rate`` (``Efficiency.legacy_kv_gbs``) is the bytes per second this kernel's K/V loads
reach wherever they hit; software, so fitted once in ``default`` from the rows of the stacks that
run it (``fit.software_fields``) and kept by every family. The same ceiling holds for MHA models
(one load per head), where it binds only on a chip whose HBM outruns it (H200).
"""

from __future__ import annotations

import math


def kernel_count(dense_layers: float, moe_layers: float, per_dense: float, per_moe: float,
                 pp: int = 1) -> float:
    """Counted (non-GEMM) kernels of one step on one pipeline stage."""
    return (dense_layers * per_dense + moe_layers * per_moe) / pp


def kernels_s(kernels: float, kernel_s: float, traffic_s: float) -> float:
    """Seconds the ``kernels`` add to a step: each takes at least ``kernel_s``; the model
    charges the excess over ``traffic_s``, the time to stream the step's hidden states in and
    out once (module doc), so the term vanishes at large batch."""
    return kernels * max(kernel_s - traffic_s, 0.0)


def cuda_core_rate(fp32_tflops: float | None) -> float:
    """Instructions per second the CUDA cores issue over all lanes: one FMA (2 FLOP) per lane
    per clock, so ``fp32_tflops / 2`` (A100: 19.5 TFLOP/s -> 9.75e12). 0: unknown (the
    catalog lists no FP32 peak), and the GEMV instruction term is then not charged."""
    return (fp32_tflops or 0.0) * 1e12 / 2.0


def gemv_instr_s(instructions_per_element: float, rate: float) -> float:
    """Seconds per weight element a GEMV adds for ``instructions_per_element`` issued beyond
    the plain 16-bit GEMV's, at ``rate`` (:func:`cuda_core_rate`; module doc)."""
    return instructions_per_element / rate if rate > 0 and instructions_per_element > 0 else 0.0


def masked_mha_read_s(kv_bytes: float, loads_per_head: float, hbm_bw: float,
                      kernel_bw: float) -> float:
    """Seconds the pre-XQA masked MHA kernel takes to read ``kv_bytes`` of cached K/V (each
    head's bytes once) when every K/V head is loaded ``loads_per_head`` times (``heads /
    kv_heads``; the blocks of a group share the lines through L2, module doc): the DRAM read
    at ``hbm_bw`` or the kernel's loads at ``kernel_bw`` (bytes/s; ``inf``: no ceiling),
    whichever is slower."""
    once = kv_bytes / hbm_bw
    if math.isinf(kernel_bw):
        return loads_per_head * once
    return max(once, loads_per_head * kv_bytes / kernel_bw)
