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
"""

from __future__ import annotations


def kernel_count(dense_layers: float, moe_layers: float, per_dense: float, per_moe: float,
                 pp: int = 1) -> float:
    """Counted (non-GEMM) kernels of one step on one pipeline stage."""
    return (dense_layers * per_dense + moe_layers * per_moe) / pp


def kernels_s(kernels: float, kernel_s: float, traffic_s: float) -> float:
    """Seconds the ``kernels`` add to a step: each takes at least ``kernel_s``; the model
    charges the excess over ``traffic_s``, the time to stream the step's hidden states in and
    out once (module doc), so the term vanishes at large batch."""
    return kernels * max(kernel_s - traffic_s, 0.0)
