"""Throughput-latency curves over batch size, max-load throughput, and the best operating point
under TTFT / TPOT limits.

The curve is the estimate at batch sizes ``1, 2, 4, ... , cap`` (``cap`` = sequences whose KV
cache fits). Throughput rises with batch while decode is memory-bound (weights are read once
per step for all sequences) and saturates when the GEMMs turn compute-bound or the KV reads
dominate; latency (TPOT) grows with batch. Max-load throughput = the best throughput over the
batches that fit (how TensorRT-LLM's ``trtllm-bench`` max-load rows are reproduced).
"""

from __future__ import annotations

from dataclasses import replace

from suanli.errors import InfeasibleError
from suanli.infer.efficiency import Efficiency
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
          max_batch: int = 4096, eff: Efficiency | None = None) -> list[ServingEstimate]:
    """Estimates over ``batches`` (default: the power-of-two grid up to the KV limit)."""
    first = estimate(dep, prompt_len=prompt_len, output_len=output_len, batch=1,
                     price_usd_per_device_hour=price_usd_per_device_hour, eff=eff)
    if batches is None:
        batches = batch_grid(first.max_concurrent_seqs, max_batch)
    out = [first] if 1 in batches else []
    out += [estimate(dep, prompt_len=prompt_len, output_len=output_len, batch=b,
                     price_usd_per_device_hour=price_usd_per_device_hour, eff=eff)
            for b in batches if b != 1]
    return out


def max_load(dep: Deployment, *, prompt_len: int, output_len: int,
             price_usd_per_device_hour: float | None = None, max_batch: int = 4096,
             requests: int | None = None, eff: Efficiency | None = None) -> ServingEstimate:
    """The highest output throughput over the batch sizes whose KV cache fits.

    With ``requests`` (a finite offline benchmark, as trtllm-bench runs), ``requests`` identical
    requests run in waves of ``B``: ``floor(N/B)`` full waves and one of ``N mod B``, so the
    throughput is ``N x output / sum(wave e2e)`` (the drain tail counts); otherwise steady state.
    """
    pts = [e for e in sweep(dep, prompt_len=prompt_len, output_len=output_len,
                            price_usd_per_device_hour=price_usd_per_device_hour,
                            max_batch=max_batch, eff=eff) if e.fits]
    if not pts:
        raise InfeasibleError(f"not even one sequence of {prompt_len + output_len} tokens fits "
                              f"next to the weights of {dep.model.id}",
                              fixes=["raise --tp", "use --kv fp8", "shorter sequences"])
    if requests is not None:
        pts = [_waves(dep, e, requests, eff) for e in pts]
    return max(pts, key=lambda e: e.output_tokens_per_s)


def _waves(dep: Deployment, e: ServingEstimate, n: int, eff: Efficiency | None
           ) -> ServingEstimate:
    full, rest = divmod(n, e.batch)
    t = full * e.e2e_s
    if rest:
        t += estimate(dep, prompt_len=e.prompt_len, output_len=e.output_len, batch=rest,
                      eff=eff).e2e_s
    out_tps = n * e.output_len / t
    return replace(e, output_tokens_per_s=out_tps,
                   total_tokens_per_s=n * (e.prompt_len + e.output_len) / t,
                   output_tokens_per_s_per_device=out_tps / e.devices_per_replica,
                   total_tokens_per_s_per_device=out_tps / e.devices_per_replica
                   * (e.prompt_len + e.output_len) / e.output_len)


def meets(e: ServingEstimate, ttft_slo_s: float | None, tpot_slo_s: float | None) -> bool:
    """Whether the continuous-batching TTFT and TPOT are within the limits (None = no limit)."""
    return e.fits and (ttft_slo_s is None or e.ttft_continuous_s <= ttft_slo_s) and \
        (tpot_slo_s is None or e.tpot_continuous_s <= tpot_slo_s)


def best_under_slo(dep: Deployment, *, prompt_len: int, output_len: int,
                   ttft_slo_s: float | None = None, tpot_slo_s: float | None = None,
                   price_usd_per_device_hour: float | None = None,
                   max_batch: int = 4096, eff: Efficiency | None = None
                   ) -> ServingEstimate | None:
    """Highest-throughput batch meeting both limits, or None if even batch 1 misses them.
    The power-of-two grid is refined by bisection between the last batch that meets the
    limits and the next one that does not (throughput rises with batch)."""
    pts = sweep(dep, prompt_len=prompt_len, output_len=output_len,
                price_usd_per_device_hour=price_usd_per_device_hour, max_batch=max_batch,
                eff=eff)
    ok = [e for e in pts if meets(e, ttft_slo_s, tpot_slo_s)]
    if not ok:
        return None
    best = max(ok, key=lambda e: e.output_tokens_per_s)
    above = [e.batch for e in pts if e.batch > best.batch]
    lo, hi = best.batch, min(above) if above else best.batch
    while hi - lo > max(1, lo // 32):  # ~3% resolution
        mid = (lo + hi) // 2
        e = estimate(dep, prompt_len=prompt_len, output_len=output_len, batch=mid,
                     price_usd_per_device_hour=price_usd_per_device_hour, eff=eff)
        if meets(e, ttft_slo_s, tpot_slo_s):
            lo, best = mid, max(best, e, key=lambda x: x.output_tokens_per_s)
        else:
            hi = mid
    return best


def best_tp_under_slo(model: str, hardware: str, *, prompt_len: int, output_len: int,
                      ttft_slo_s: float | None = None, tpot_slo_s: float | None = None,
                      precision: str = "bf16", sparsity: str = "none",
                      tps: tuple[int, ...] = (1, 2, 4, 8)) -> ServingEstimate | None:
    """Over tensor-parallel degrees ``tps``, the deployment whose best batch under the limits
    gives the most output tokens/s per device; layouts that cannot be built or fit are
    skipped. None if no layout meets the limits."""
    from suanli.errors import SuanliError
    from suanli.infer.estimate import deployment

    best: ServingEstimate | None = None
    for tp in tps:
        try:
            dep = deployment(model, hardware, tp=tp, precision=precision, sparsity=sparsity)
            e = best_under_slo(dep,
                               prompt_len=prompt_len, output_len=output_len,
                               ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s)
        except SuanliError:
            continue
        if e and (best is None or e.output_tokens_per_s_per_device
                  > best.output_tokens_per_s_per_device):
            best = e
    return best


def plot_curve(points: list[ServingEstimate], path: str, *, title: str = "") -> None:
    """Throughput per device vs TPOT over batch sizes (each point labelled with its batch)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = [1e3 * e.tpot_continuous_s for e in points]
    y = [e.output_tokens_per_s_per_device for e in points]
    ax.plot(x, y, "o-", color="#2a7")
    for e, xi, yi in zip(points, x, y, strict=True):
        ax.annotate(str(e.batch), (xi, yi), textcoords="offset points", xytext=(4, -10),
                    fontsize=7)
    ax.set_xlabel("TPOT under continuous batching (ms)")
    ax.set_ylabel("output tokens/s per device")
    ax.set_title(title or "throughput-latency curve (labels: batch size)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
