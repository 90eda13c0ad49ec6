"""Serving software stacks (engine and version) as an explicit input: documented features that
change what a forward step costs on the same hardware. Data in ``data/stacks.yaml``, each
feature with its source; nothing here is fitted.

* ``allreduce``: how tensor-parallel all-reduces run inside an NVLink domain
  (``infer.allreduce``). ``peer``: the one-shot / two-shot peer-access kernels of current
  runtimes (TensorRT-LLM >= v0.10 and vLLM custom all-reduce), one latency per phase;
  ``nccl``: the NCCL ring, ``2 (t-1)`` latencies per call, as runtimes did before the custom
  kernels (a 70B on TP4 runs 160 all-reduces per step); ``custom``: the TensorRT-LLM v0.6-v0.9
  engine plugin, a 24-CTA peer-access kernel up to its workspace size, NCCL beyond it;
  ``custom_grid``: the same plugin with the grid its kernel launch configuration gives
  (``trtllm-0.9``; docs/inference.md).
* ``step_overhead``: the host time between forward steps is exposed
  (``Efficiency.step_overhead_s`` per step and ``layer_overhead_s`` per decoder layer):
  runtimes that enqueue an engine per step and synchronise on it (TensorRT-LLM's static
  gptSession loop, which sets every per-layer input tensor of the engine and re-runs its shape
  inference each step; its v0.10 release notes "reduced overheads between enqueue calls of
  TensorRT engines"). Runtimes that replay CUDA graphs and prepare
  the next step while the GPU runs the current one (TensorRT-LLM PyTorch backend's overlap
  scheduler, vLLM >= 0.6 multi-step / async output processing, SGLang's overlap scheduler)
  hide it, so batch-1 decode is the weight + KV read plus the all-reduces.
* ``legacy_gqa_kernel``: decode attention reads each K/V head once per *query* head (masked
  MHA before TensorRT-LLM's XQA kernel, v0.8).
* ``mmha_l2_reuse``: with ``legacy_gqa_kernel``, the blocks of one query group share their K/V
  lines through L2 (DRAM reads each once) and the kernel's loads run at its own rate
  (``Efficiency.legacy_kv_gbs``; ``infer.kernels.masked_mha_read_s``). Off: every load from
  HBM. Measured, not shipped on by default (docs/inference.md).
* ``moe_gather``: under attention-DP the routed experts run over the tokens of all DP ranks
  gathered on every rank (TensorRT-LLM's CUTLASS fused MoE with all-gather / reduce-scatter),
  so the MoE workspace is sized for ``max_num_tokens x dp`` rows (``memory.moe_workspace_bytes``);
  DeepEP-style all-to-all sends each rank only its experts' rows.
* ``kernels``: kernels per dense and per MoE decoder layer in the stack's decode graph (the
  TP all-reduces apart), each charged ``Efficiency.kernel_s`` of GPU time per step
  (``infer.kernels``); counted from the stack's model code, with the count's source.
  Stacks without a count charge nothing (their fitted host overheads hold it).
* ``gemv``: instructions per weight element a weight GEMV issues beyond a plain 16-bit GEMV's,
  for weight-only dequantisation and for gathered (indexed) routed experts
  (``infer.kernels.gemv_instr_s``); counted from the stack's kernels, with the source.
  Stacks without a count charge nothing.
* ``fused_parallel_allreduce``: for models whose layers run attention and MLP in parallel
  (Falcon), the stack sums the two partial outputs and all-reduces once per layer instead of
  twice (``infer.allreduce.allreduces_per_layer``; TensorRT-LLM >= v0.7, vLLM). Default on;
  off for engines built from the 2023 layer that reduced each.
* ``bench_limits``: the stack's benchmark harness sets ``max_batch_size`` and
  ``max_num_tokens`` itself from a memory estimate (``trtllm-bench``;
  ``infer.benchsettings``); max-load rows of that stack run under those limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from suanli.errors import CatalogError, InputError

DATA = Path(__file__).parent / "data" / "stacks.yaml"
DEFAULT = "default"
ALLREDUCE = ("peer", "nccl", "custom", "custom_grid")


@dataclass(frozen=True)
class Stack:
    id: str
    allreduce: str = "peer"
    legacy_gqa_kernel: bool = False
    step_overhead: bool = False
    moe_gather: bool = False
    bench_limits: bool = False
    kernels: tuple[float, float] = (0.0, 0.0)  # per dense / per MoE decoder layer (infer.kernels)
    gemv: tuple[float, float] = (0.0, 0.0)  # dequant / gather instructions per weight element
    source: str = ""
    fused_parallel_allreduce: bool = True  # one all-reduce per parallel-attention layer
    mmha_l2_reuse: bool = False  # legacy kernel's repeated K/V loads served by L2

    @property
    def kv_loads_via_l2(self) -> bool:
        """The per-query-head K/V loads of the legacy kernel are served by L2 at the kernel's
        rate (``Efficiency.legacy_kv_gbs``; ``infer.kernels.masked_mha_read_s``)."""
        return self.legacy_gqa_kernel and self.mmha_l2_reuse


@cache
def stacks(path: Path = DATA) -> dict[str, Stack]:
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = {}
    for sid, v in raw.items():
        k = v.get("kernels") or {}
        g = v.get("gemv") or {}
        st = Stack(str(sid), str(v.get("allreduce", "peer")),
                   bool(v.get("legacy_gqa_kernel", False)), bool(v.get("step_overhead", False)),
                   bool(v.get("moe_gather", False)), bool(v.get("bench_limits", False)),
                   (float(k.get("dense", 0)), float(k.get("moe", 0))),
                   (float(g.get("dequant", 0)), float(g.get("gather", 0))),
                   str(v.get("source", "")), bool(v.get("fused_parallel_allreduce", True)),
                   bool(v.get("mmha_l2_reuse", False)))
        if min(st.kernels) < 0 or min(st.gemv) < 0:
            raise CatalogError("kernels per layer and gemv instructions must be >= 0",
                               file=str(path), row=sid)
        if st.allreduce not in ALLREDUCE:
            raise CatalogError(f"allreduce must be one of {', '.join(ALLREDUCE)}, got "
                               f"'{st.allreduce}'", file=str(path), row=sid)
        out[st.id] = st
    if DEFAULT not in out:
        raise CatalogError(f"needs a '{DEFAULT}' stack", file=str(path))
    return out


def stack(name: str | Stack | None) -> Stack:
    """The named stack (None: ``default``; a :class:`Stack` is returned as it is, so a caller
    that looked one up passes it on); a clear error listing the known ones."""
    if isinstance(name, Stack):
        return name
    table = stacks()
    key = name or DEFAULT
    if key not in table:
        raise InputError(f"unknown serving stack '{key}'; known: {', '.join(sorted(table))}")
    return table[key]
