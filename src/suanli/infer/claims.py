"""Two cost claims reproduced with the serving model (issue 3, section 4).

1. "200 tokens generated in 3 s instead of 5 s costs 40% less": at a fixed price per
   device-hour and a fixed number of devices, cost = price x devices x time, so the cost per
   token scales with the time per token: 3/5 = 0.6. ``latency_cost_claim`` shows it on a real
   pair of deployments (the same model and hardware at FP16 and FP8, batch 1): the cost ratio
   equals the e2e-time ratio, whatever that ratio is.
2. "An API at $0.05 per 1k tokens vs a self-hosted 7B/70B model": ``api_vs_selfhosted`` gives
   the self-hosted cost per 1k output tokens (all replica time charged to output) at the best
   batch under a TPOT limit, for utilizations from 100% down, and how many orders of magnitude
   (log10) apart the two are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suanli.infer.curves import best_tp_under_slo
from suanli.infer.estimate import deployment, estimate
from suanli.units import SECONDS_PER_HOUR


def usd_per_token(seconds: float, tokens: float, devices: int, price_per_device_hour: float
                  ) -> float:
    """Cost = price x devices x time, spread over ``tokens``."""
    return price_per_device_hour * devices * seconds / SECONDS_PER_HOUR / tokens


@dataclass(frozen=True)
class LatencyClaim:
    slow_s: float
    fast_s: float
    cost_ratio: float  # fast cost / slow cost
    saving: float  # 1 - cost_ratio


def latency_cost_claim(model: str = "llama2-7b", hardware: str = "dgx-h100",
                       output_len: int = 200, prompt_len: int = 100, *,
                       baseline_precision: str = "fp16", precision: str = "fp8",
                       batch: int = 1, tp: int | None = None) -> LatencyClaim:
    """Generate ``output_len`` tokens at ``batch`` on the same devices (``tp``; default the
    fewest that hold the baseline), the baseline precision vs the optimized one (default FP16
    vs FP8, batch 1)."""
    from suanli.infer.waterfall import min_tp

    tp = tp or min_tp(model, hardware, baseline_precision, "none")
    out = []
    for prec in (baseline_precision, precision):
        e = estimate(deployment(model, hardware, precision=prec, tp=tp), prompt_len=prompt_len,
                     output_len=output_len, batch=batch)
        price = e.price_usd_per_device_hour or 1.0
        out.append((e.e2e_s, usd_per_token(e.e2e_s, output_len, e.devices_per_replica, price)))
    (slow, c_slow), (fast, c_fast) = out
    return LatencyClaim(slow, fast, c_fast / c_slow, 1.0 - c_fast / c_slow)


@dataclass(frozen=True)
class SelfHosted:
    model: str
    hardware: str
    tp: int
    batch: int
    utilization: float
    usd_per_1k_tokens: float
    orders_of_magnitude_below_api: float  # log10(api / self-hosted)


def api_vs_selfhosted(api_usd_per_1k: float = 0.05, *, models: tuple[str, ...] =
                      ("llama2-7b", "llama2-70b"), hardware: tuple[str, ...] =
                      ("dgx-a100-80gb", "dgx-h100"), prompt_len: int = 512,
                      output_len: int = 256, tpot_slo_s: float = 0.1,
                      utilizations: tuple[float, ...] = (1.0, 0.5, 0.1),
                      precision: str = "bf16", price_usd_per_device_hour: float | None = None
                      ) -> list[SelfHosted]:
    """Self-hosted cost per 1k output tokens at list prices (catalog) or the given price,
    ``precision`` (BF16), best TP and batch under ``tpot_slo_s``, at each utilization."""
    out = []
    for m in models:
        for hw in hardware:
            best = best_tp_under_slo(m, hw, prompt_len=prompt_len, output_len=output_len,
                                     tpot_slo_s=tpot_slo_s, precision=precision)
            price = price_usd_per_device_hour or (best and best.price_usd_per_device_hour)
            if best is None or not price:
                continue
            for u in utilizations:
                c = 1e3 * usd_per_token(1.0, best.output_tokens_per_s * u,
                                        best.devices_per_replica, price)
                out.append(SelfHosted(m, hw, best.tp, best.batch, u, c,
                                      math.log10(api_usd_per_1k / c)))
    return out
