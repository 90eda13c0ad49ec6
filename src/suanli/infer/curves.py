"""Throughput-latency curves over batch size, max-load throughput, and the best operating point
under TTFT / TPOT limits.

The curve is the estimate at batch sizes ``1, 2, 4, ... , cap`` (``cap`` = sequences whose KV
cache fits). Throughput rises with batch while decode is memory-bound (weights are read once
per step for all sequences) and saturates when the GEMMs turn compute-bound or the KV reads
dominate; latency (TPOT) grows with batch. Max-load throughput = the best throughput over the
batches that fit (how TensorRT-LLM's ``trtllm-bench`` max-load rows are reproduced).
"""

from __future__ import annotations

from suanli.errors import InfeasibleError
from suanli.infer.estimate import Deployment, ServingEstimate, estimate


def batch_grid(cap: int, max_batch: int = 4096) -> list[int]:
    """Powers of two up to ``min(cap, max_batch)``, plus that limit itself."""
    top = max(1, min(cap, max_batch))
    grid, b = [], 1
    while b < top:
        grid.append(b)
        b *= 2
    grid.append(top)
    return grid


def sweep(dep: Deployment, *, prompt_len: int, output_len: int,
          batches: list[int] | None = None, price_usd_per_device_hour: float | None = None,
          max_batch: int = 4096) -> list[ServingEstimate]:
    """Estimates over ``batches`` (default: the power-of-two grid up to the KV limit)."""
    first = estimate(dep, prompt_len=prompt_len, output_len=output_len, batch=1,
                     price_usd_per_device_hour=price_usd_per_device_hour)
    if batches is None:
        batches = batch_grid(first.max_concurrent_seqs, max_batch)
    out = [first] if 1 in batches else []
    out += [estimate(dep, prompt_len=prompt_len, output_len=output_len, batch=b,
                     price_usd_per_device_hour=price_usd_per_device_hour)
            for b in batches if b != 1]
    return out


def max_load(dep: Deployment, *, prompt_len: int, output_len: int,
             price_usd_per_device_hour: float | None = None,
             max_batch: int = 4096) -> ServingEstimate:
    """The highest output throughput over the batch sizes whose KV cache fits."""
    pts = [e for e in sweep(dep, prompt_len=prompt_len, output_len=output_len,
                            price_usd_per_device_hour=price_usd_per_device_hour,
                            max_batch=max_batch) if e.fits]
    if not pts:
        raise InfeasibleError(f"not even one sequence of {prompt_len + output_len} tokens fits "
                              f"next to the weights of {dep.model.id}",
                              fixes=["raise --tp", "use --kv fp8", "shorter sequences"])
    return max(pts, key=lambda e: e.output_tokens_per_s)


def meets(e: ServingEstimate, ttft_slo_s: float | None, tpot_slo_s: float | None) -> bool:
    """Whether the continuous-batching TTFT and TPOT are within the limits (None = no limit)."""
    return e.fits and (ttft_slo_s is None or e.ttft_continuous_s <= ttft_slo_s) and \
        (tpot_slo_s is None or e.tpot_continuous_s <= tpot_slo_s)


def best_under_slo(dep: Deployment, *, prompt_len: int, output_len: int,
                   ttft_slo_s: float | None = None, tpot_slo_s: float | None = None,
                   price_usd_per_device_hour: float | None = None,
                   max_batch: int = 4096) -> ServingEstimate | None:
    """Highest-throughput batch meeting both limits, or None if even batch 1 misses them."""
    ok = [e for e in sweep(dep, prompt_len=prompt_len, output_len=output_len,
                           price_usd_per_device_hour=price_usd_per_device_hour,
                           max_batch=max_batch) if meets(e, ttft_slo_s, tpot_slo_s)]
    return max(ok, key=lambda e: e.output_tokens_per_s) if ok else None
