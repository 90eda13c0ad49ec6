"""Fixed per-kernel cost of a forward step: the small-prefill and small-batch time that no
roofline of the GEMMs holds, in the shape the published rows demand.

TensorRT-LLM v0.5's first-token rows (docs/source/performance.md, commit 138f96d4) need, beyond
the GEMM / attention roofline and the NCCL ring, ~2 ms for Llama-2 7B on one H100 at 128 tokens
but ~10 ms for Llama-2 70B on 4 H100: a fixed time per request (8.3 ms fitted before) gives the
7B +93%. The extra time grows with the layers (and the all-reduce kernels), so it is charged
per kernel of each step, on the host, overlapped with the GPU's work (docs/inference.md,
"Fixed costs per kernel"):

    host_s = kernels_per_step x kernel_s        step = max(GPU work, host_s) + step overhead

Launches are asynchronous: the host enqueues the next kernels while the GPU runs the current
ones, so the launches cost nothing while the GPU is busier than the host (large batches and
long prompts, and Mixtral FP16 on A100 at 128 tokens, bound by its 46.7 GB of weights per GPU)
and bind the step when it is not (Llama-2 7B at 128 tokens). That is also why Mixtral's
128-token TTFT is 12.1 ms on H200 and 13.4 ms on H100, a ratio of 0.90 where a bandwidth-bound
step would give the HBM ratio 0.70: both sit near the host's enqueue time.

* ``kernel_s`` (``Efficiency.kernel_s``, fitted per kernel-launch class of the serving stacks,
  ``infer.stacks`` ``launch``): the launch gap and minimum duration of one kernel enqueued
  without CUDA graphs; the small norm / rotary / activation / residual kernels the roofline
  ignores cost about this. One value for every stack of a class (TensorRT-LLM v0.5 and v0.9
  engines), so it transfers between their publications. CUDA-graph runtimes have no TTFT row
  to fit it: not charged.
* The TP all-reduce's latency is the algorithm's (``model.serving_allreduce_s``: the NCCL ring's
  ``2 (t-1)`` link latencies, or one per phase for peer-access kernels), plus its kernel here.
  A separate fitted NCCL cost per call was tried with these rows and fitted to 0.

Kernel counts per decoder layer, from the layer's graph as TensorRT-LLM built it
(``tensorrt_llm/models/llama/model.py`` LLaMADecoderLayer of v0.5-v0.9 with the gpt_attention,
rmsnorm and gemm plugins): attention block 5 (input RMSNorm, QKV GEMM, the gpt_attention plugin's
rotary + KV-cache write, its attention kernel, output GEMM); dense MLP block 4 (residual +
post-attention RMSNorm, gate-up GEMM (``--use_fused_mlp``), SwiGLU, down GEMM with the
residual); an MoE block replaces the MLP's 3 GEMM / activation kernels by 7 (router GEMM,
softmax + top-k, expand / permute, two grouped GEMMs, activation, finalize / unpermute: the
mixture-of-experts plugin of v0.9); +1 per TP all-reduce; +3 per step (embedding, final norm,
logits). The counts are judgement from the graph, not fitted; only ``kernel_s`` is.
"""

from __future__ import annotations

ATTN_KERNELS = 5  # input norm, QKV GEMM, rotary + KV write, attention, output GEMM
MLP_KERNELS = 4  # residual + norm, gate-up GEMM, activation, down GEMM (+ residual)
MOE_EXTRA_KERNELS = 4  # router GEMM, top-k, permute, finalize (7 FFN kernels instead of 3)
STEP_KERNELS = 3  # embedding lookup, final norm, logits GEMM (sampling: the step overhead)


def kernels_per_step(layers: float, moe_layers: float, allreduces: float) -> float:
    """Kernels one device launches per forward step: ``layers`` decoder layers of which
    ``moe_layers`` are MoE, plus ``allreduces`` TP all-reduce kernels (module doc)."""
    return (layers * (ATTN_KERNELS + MLP_KERNELS) + moe_layers * MOE_EXTRA_KERNELS
            + allreduces + STEP_KERNELS)


def launch_s(kernels: float, kernel_s: float) -> float:
    """Seconds the host takes to enqueue ``kernels`` kernels (module doc)."""
    return kernels * kernel_s


def launch_bound_s(gpu_s: float, host_s: float) -> float:
    """Seconds the GPU waits for the host: launches are asynchronous, so the host enqueues the
    next kernels while the GPU runs the current ones and a step takes the longer of its GPU
    work and its host enqueue time (module doc)."""
    return host_s - gpu_s if host_s > gpu_s else 0.0
