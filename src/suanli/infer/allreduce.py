"""Seconds of one tensor-parallel all-reduce as serving runtimes run it (split from
``infer.model``). Three algorithms, chosen by the serving stack (``infer.stacks``
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
* Across nodes every algorithm is the ring.
"""

from __future__ import annotations

from suanli.perf.comm import ring_allreduce_s

ALGORITHMS = ("peer", "nccl", "custom")


def custom_workspace_bytes(t: int) -> float:
    """Largest message (bytes) TensorRT-LLM's custom all-reduce takes; larger ones fall back to
    NCCL: ``CustomAllReduceHelper.max_workspace_size_auto`` (``tensorrt_llm/plugin/plugin.py``,
    v0.9 era): 16 MB on up to 2 ranks, 8 MB above."""
    return 16e6 if t <= 2 else 8e6


def peer_allreduce_s(nbytes: float, t: int, bw: float, alpha: float) -> float:
    """One-shot or two-shot peer-access all-reduce, whichever is faster (module doc)."""
    return min(alpha + (t - 1) * nbytes / bw, 2.0 * alpha + 2.0 * (t - 1) / t * nbytes / bw)


def custom_allreduce_s(nbytes: float, t: int, bw: float, alpha: float,
                       kernel_bw: float) -> float:
    """TensorRT-LLM engine-era custom all-reduce (module doc): ``alpha + (t-1) B / kernel_bw``
    within the workspace, the NCCL ring beyond it."""
    if nbytes > custom_workspace_bytes(t) or kernel_bw <= 0:
        return ring_allreduce_s(nbytes, t, bw, alpha)
    return alpha + (t - 1) * nbytes / min(kernel_bw, bw)


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
    return peer_allreduce_s(nbytes, t, bw, alpha)
