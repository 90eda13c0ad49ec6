"""Rules a parallel plan must follow, as masks over a grid of plans, and the words that say
which rule a plan breaks and what fixes it.

Shapes the rules allow (Megatron-LM / Megatron-Core / DeepSpeed):

* TP: any divisor of the attention heads. When TP does not divide the KV heads (GQA/MQA), the
  KV heads a rank's query heads use are replicated on it (``kv_heads_per_rank``), as
  Megatron-Core and vLLM do for TP > KV groups; PaLM's TP12 over 48 heads with one KV head works.
* PP: any stage count up to the layer count; uneven splits put ``ceil(L / (p v))`` layers per
  chunk on the busiest stage (Megatron-Core's first/last-stage layer options).
* DP: any count. When ``dp x micro-batch`` does not divide the global batch, the batch is
  rounded to the nearest multiple (``adapted_batch``) within ``BATCH_TOLERANCE``, and the
  estimate says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from suanli.catalog.schema import ModelSpec
    from suanli.perf.training import Plan, TrainingJob

F = NDArray[np.float64]
BATCH_TOLERANCE = 0.10  # the planner may change the global batch by at most this share


def kv_heads_per_rank(m: ModelSpec, t: F) -> F:
    """KV heads one tensor-parallel rank holds: ``kv / t`` when ``t`` divides them, else every
    KV group its ``heads / t`` query heads touch (replicated KV)."""
    t = np.asarray(t, dtype=np.float64)
    kv, heads = m.n_kv_heads, m.heads
    out = np.empty_like(t)
    for tv in np.unique(t):
        ti = int(tv)
        if ti <= 0 or heads % ti:
            val = kv / max(tv, 1.0)
        elif kv % ti == 0:
            val = kv / ti
        else:
            hq, group = heads // ti, heads // kv
            val = max((((r + 1) * hq - 1) // group) - (r * hq // group) + 1 for r in range(ti))
        out[t == tv] = val
    return out


def adapted_batch(global_batch: int, per_step: F) -> F:
    """Global batch (sequences) rounded to the nearest multiple of ``dp x micro-batch``
    (at least one micro-batch per data-parallel rank)."""
    return np.maximum(np.round(global_batch / per_step), 1.0) * per_step


def valid_mask(job: TrainingJob, g: dict[str, F]) -> NDArray[np.bool_]:
    """Plan rules, as a mask over the grid ``g``."""
    m = job.model
    t, p, d, e, c, v, z = (g[k] for k in ("tp", "pp", "dp", "ep", "cp", "interleave", "zero"))
    gb = adapted_batch(job.global_batch, d * g["micro_batch"])
    n_micro = gb / (d * g["micro_batch"])
    ok = (np.mod(m.heads, t) == 0) & (t >= 1)
    ok &= (p * v <= m.layers) & ((v == 1) | (p > 1))
    ok &= np.abs(gb / job.global_batch - 1.0) <= BATCH_TOLERANCE + 1e-12
    ok &= (v == 1) | (np.mod(np.round(n_micro), p) == 0)  # interleaving needs m % p == 0
    ok &= (np.mod(d, e) == 0) & ((e == 1) | (m.moe is not None))
    if m.moe is not None:
        ok &= np.mod(m.moe.num_experts, e) == 0
    ok &= np.mod(job.seq_len, c) == 0
    ok &= ~((z >= 2) & (p > 1))  # ZeRO-2/3 with pipeline parallel: unsupported (DeepSpeed)
    ok &= (g["sp"] == 0) | (t > 1)
    return ok


def explain_invalid(job: TrainingJob, plan: Plan) -> str:
    """Say which rule a plan breaks and how to fix it."""
    m = job.model
    if m.heads % plan.tp:
        divs = [k for k in range(1, m.heads + 1) if m.heads % k == 0 and k <= 64]
        return (f"--tp {plan.tp} does not divide {m.name}'s {m.heads} attention heads; "
                f"pick one of {divs}")
    if plan.pp * plan.interleave > m.layers:
        return (f"--pp {plan.pp} x interleave {plan.interleave} exceeds {m.name}'s {m.layers} "
                "layers; use fewer stages")
    per = plan.dp * plan.micro_batch
    gb = float(adapted_batch(job.global_batch, np.asarray([float(per)]))[0])
    if abs(gb / job.global_batch - 1.0) > BATCH_TOLERANCE:
        return (f"global batch {job.global_batch} sequences is far from a multiple of dp x "
                f"micro-batch = {per} (nearest: {gb:.0f}, more than "
                f"{BATCH_TOLERANCE:.0%} off); set --global-batch to a multiple of {per}, or "
                "lower --dp / --micro-batch")
    if plan.interleave > 1 and plan.pp == 1:
        return "--interleave needs pipeline parallelism (--pp > 1)"
    if plan.interleave > 1 and round(gb / per) % plan.pp:
        return (f"interleaved pipelining needs the number of micro-batches ({gb / per:.0f}) "
                f"to be a multiple of --pp {plan.pp}; use --interleave 1 or set --global-batch "
                f"to a multiple of {per * plan.pp}")
    if plan.ep > 1 and (m.moe is None or plan.dp % plan.ep or m.moe.num_experts % plan.ep):
        return "--ep must divide both --dp and the number of experts (and needs an MoE model)"
    if job.seq_len % plan.cp:
        return f"--cp {plan.cp} must divide the sequence length {job.seq_len}"
    if plan.zero >= 2 and plan.pp > 1:
        return "ZeRO stage 2/3 cannot be combined with pipeline parallelism; use --zero 1"
    if plan.sp and plan.tp == 1:
        return "sequence parallelism needs --tp > 1"
    return "the plan breaks a parallelism rule"
