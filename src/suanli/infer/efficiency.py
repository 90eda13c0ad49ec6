"""Achievable-efficiency parameters of the serving model: data, not code.

``data/efficiency.yaml`` holds, per accelerator family (with a ``default``), the fractions of
peak FLOP/s and of memory bandwidth that serving kernels reach, and a fixed overhead per
forward step. The values are fitted by one procedure, ``suanli.infer.fit.fit_efficiency``
(least squares on log errors over the published validation rows); see docs/inference.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from suanli.errors import CatalogError

DATA = Path(__file__).parent / "data" / "efficiency.yaml"
FIELDS = ("compute", "memory", "attention_memory", "step_overhead_s", "request_overhead_s",
          "roofline_sharpness", "seq_overhead_s", "expert_efficiency", "custom_allreduce_gbs",
          "kernel_s", "layer_overhead_s", "legacy_kv_gbs")


@dataclass(frozen=True)
class Efficiency:
    """Achievable fractions (0..1] of peak, and a fixed cost per forward step."""

    compute: float  # fraction of dense peak FLOP/s reached by GEMMs and attention
    memory: float  # fraction of memory bandwidth reached streaming weights
    attention_memory: float  # fraction of memory bandwidth reached reading the KV cache
    step_overhead_s: float  # seconds per forward step: launches, sampling, scheduling
    request_overhead_s: float = 0.0  # seconds added once to each request's first token
    # GEMM/attention efficiency by shape: an op's time is the p-norm of its compute and memory
    # times, ``(c^p + m^p)^(1/p)`` (p -> inf: the plain roofline max). Near the ridge (M of a
    # few hundred tokens) neither peak is reached; far from it one term dominates, so batch-1
    # decode stays at weight bytes / achieved bandwidth and big prefills at the compute peak.
    roofline_sharpness: float = math.inf
    seq_overhead_s: float = 0.0  # seconds per sequence per step: sampling, scheduling
    # grouped expert GEMMs (MoE) reach this fraction of the dense GEMMs' compute efficiency
    # (routing, token permutation, scatter/gather and grouped-kernel losses); 1 = as dense.
    # Their weight reads stream at the ordinary ``memory`` efficiency.
    expert_efficiency: float = 1.0
    # ``request_overhead_s`` of the stacks whose TTFT rows measure it (``infer.stacks`` id,
    # seconds): the fixed time before the first token, software rather than chip; other
    # stacks use ``request_overhead_s``
    request_overhead_by_stack: tuple[tuple[str, float], ...] = ()
    # GB/s at which the TensorRT-LLM engine-era custom all-reduce kernel (24 CTAs) moves the
    # bytes it reads from its peers (``infer.allreduce``, ``custom``): software, not chip, so
    # fitted once (``default``) from the rows of the stacks that run it and kept by every family
    custom_allreduce_gbs: float = 0.0
    # seconds of GPU time each kernel of a step costs at least (launch gap between dependent
    # kernels under CUDA graphs, ramp-up and tail of a short grid), charged per kernel of the
    # stacks whose decoder-layer graph is counted (``infer.kernels``); hardware, so per family
    kernel_s: float = 0.0
    # seconds of host time per decoder layer (of the stage) per step, on stacks that expose the
    # host time between steps (``step_overhead``), added to ``step_overhead_s``: TensorRT-LLM's
    # GptSession sets every layer's input tensors and the engine's shapes for each step
    # (``infer.model``); host software on the system's CPU, so per family, fitted after the
    # efficiencies (``fit._fit_host``)
    layer_overhead_s: float = 0.0
    # GB/s at which the pre-XQA masked MHA kernel (TensorRT-LLM v0.5 / v0.6.1, stacks with
    # ``legacy_gqa_kernel`` and ``mmha_l2_reuse``) loads K/V, its per-query-head repeats served
    # by L2 (``infer.kernels.masked_mha_read_s``): software, fitted once (``default``) from the
    # rows of those stacks and kept by every family; 0: not fitted, each load from HBM
    legacy_kv_gbs: float = 0.0
    source: str = ""

    def request_overhead(self, stack: str) -> float:
        """Seconds added once to a request's first token on ``stack``."""
        return dict(self.request_overhead_by_stack).get(stack, self.request_overhead_s)

    def __post_init__(self) -> None:
        for name in ("compute", "memory", "attention_memory", "expert_efficiency"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise CatalogError(f"efficiency '{name}' must be in (0, 1], got {v}",
                                   file=str(DATA))
        if self.roofline_sharpness < 1:
            raise CatalogError("roofline_sharpness must be >= 1", file=str(DATA))
        if min(self.step_overhead_s, self.request_overhead_s, self.seq_overhead_s,
               self.custom_allreduce_gbs, self.kernel_s, self.layer_overhead_s,
               self.legacy_kv_gbs,
               *(v for _, v in self.request_overhead_by_stack)) < 0:
            raise CatalogError("overheads must be >= 0", file=str(DATA))


@cache
def _table(path: Path = DATA) -> dict[str, Efficiency]:
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    fams = raw.get("families", {}) if isinstance(raw, dict) else {}
    if "default" not in fams:
        raise CatalogError("needs a 'default' family", file=str(path))
    out = {}
    for fam, vals in fams.items():
        missing = [f for f in FIELDS[:4] if f not in vals]
        if missing:
            raise CatalogError(f"missing {', '.join(missing)}", file=str(path), row=fam)
        by_stack = tuple((str(k), float(v)) for k, v in
                         (vals.get("request_overhead_by_stack") or {}).items())
        out[fam] = Efficiency(**{f: float(vals[f]) for f in FIELDS if f in vals},
                              request_overhead_by_stack=by_stack,
                              source=str(vals.get("source", raw.get("source", ""))))
    return out


def efficiency_for(family: str) -> Efficiency:
    """Parameters for an accelerator family, or the ``default`` row."""
    table = _table()
    return table.get(family, table["default"])
