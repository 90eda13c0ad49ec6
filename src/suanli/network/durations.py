"""The only door from the network to the performance model (never a second model here).

Training: :func:`suanli.plan.api.best_training_plan`. Its best plan for (model, system, devices)
does not depend on the token count, and run time is ``tokens / tokens_per_s``; so one call per
(model, system, devices, seq_len, batch, measured figures) with a reference token count is
cached and scaled (a site's measured figures, :mod:`suanli.network.measured`, change only the
efficiency the same planner runs with)::

    run_s(tokens) = tokens / tokens_per_s            # seconds

Inference: :func:`suanli.infer.api.serving_quote`, cached per argument tuple; the TTFT budget left
after the network round trip is rounded down to 5 ms so nearby sites share cache entries.

A durations *table* (job x hardware x count -> seconds) is site independent: the placement
builder computes it once per hardware type and broadcasts it over sites.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from suanli.errors import InfeasibleError, InputError, SuanliError

if TYPE_CHECKING:
    from suanli.network.measured import MeasuredKey

REFERENCE_TOKENS = 1e12  # tokens asked of the planner; results are per token
TTFT_BUCKET_S = 0.005


class PerfModelUnavailable(SuanliError):
    """The performance model this needs is not installed or not finished."""


@dataclass(frozen=True)
class Infeasible:
    """Why a (model, hardware, count) cannot run (the perf model's own reason)."""

    reason: str


@dataclass(frozen=True)
class TrainRate:
    model: str
    system: str
    n_devices: int
    tokens_per_s: float  # whole job
    power_w_per_device: float  # accelerator + host share, before PUE
    mfu: float
    step_time_s: float
    memory_per_device_gb: float
    plan: dict[str, Any] = field(default_factory=dict)

    def run_s(self, tokens: float) -> float:
        return tokens / self.tokens_per_s  # seconds


@dataclass(frozen=True)
class ServeRate:
    model: str
    system: str
    devices_total: int
    replicas: int
    devices_per_replica: int
    tp: int
    ttft_s: float  # model only, network RTT not included
    tpot_s: float
    output_tokens_per_s_per_replica: float
    power_w_per_device: float


@cache
def train_rate(model: str, system: str, n_devices: int, seq_len: int | None = None,
               global_batch_tokens: float | None = None,
               measured: MeasuredKey | None = None) -> TrainRate | Infeasible:
    """Throughput of the best plan, memoized (the same key is asked many times). ``measured``:
    a site's measured figures (:mod:`suanli.network.measured`), planned with the efficiency
    they give; None: the declared capability (the family's fitted efficiency)."""
    from suanli.plan.api import best_training_plan

    try:
        eff = None
        if measured is not None:
            from suanli.network.measured import efficiency

            eff = efficiency(system, measured)
        q = best_training_plan(model, system, n_devices, REFERENCE_TOKENS, seq_len=seq_len,
                               global_batch_tokens=global_batch_tokens, objective="time",
                               eff=eff)
    except NotImplementedError as exc:
        raise PerfModelUnavailable(
            "the training perf model (suanli.plan.api.best_training_plan) is not available "
            f"yet ({exc}); pass a durations table to the placement API instead") from None
    except (InfeasibleError, InputError) as exc:  # e.g. no bf16 peak on this part
        return Infeasible(str(exc))
    if not q.fits or not q.tokens_per_s > 0:
        return Infeasible(f"{model} does not fit on {n_devices} x {system}")
    return TrainRate(model, q.system, n_devices, float(q.tokens_per_s),
                     float(q.power_w_per_device), float(q.mfu), float(q.step_time_s),
                     float(q.memory_per_device_gb), dict(q.plan))


@cache
def serve_rate(model: str, system: str, prompt_len: int, output_len: int,
               ttft_budget_s: float | None, tpot_slo_s: float | None,
               traffic_output_tokens_per_s: float, precision: str = "bf16"
               ) -> ServeRate | Infeasible:
    """Replicas and devices to serve the traffic within the SLO, memoized."""
    try:
        from suanli.infer.api import serving_quote
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise PerfModelUnavailable(f"the inference model (suanli.infer.api) is missing: {exc}"
                                   ) from None
    if ttft_budget_s is not None and ttft_budget_s <= 0:
        return Infeasible("the network round trip alone exceeds the TTFT SLO")
    try:
        q = serving_quote(model, system, prompt_len=prompt_len, output_len=output_len,
                          ttft_slo_s=ttft_budget_s, tpot_slo_s=tpot_slo_s, precision=precision,
                          traffic_output_tokens_per_s=traffic_output_tokens_per_s)
    except (InfeasibleError, InputError) as exc:
        return Infeasible(str(exc))
    except NotImplementedError as exc:
        raise PerfModelUnavailable(f"the inference model is not available yet ({exc})") from None
    if not q.fits:
        return Infeasible(f"{model} does not fit on {system}")
    return ServeRate(model, q.system, q.devices_total, q.replicas, q.devices_per_replica, q.tp,
                     q.ttft_s, q.tpot_s, q.output_tokens_per_s_per_replica,
                     q.power_w_per_device)


def ttft_bucket(budget_s: float | None) -> float | None:
    """Round a TTFT budget down to the cache grid (never up: the SLO must still hold)."""
    if budget_s is None:
        return None
    return math.floor(budget_s / TTFT_BUCKET_S) * TTFT_BUCKET_S


def clear_caches() -> None:
    train_rate.cache_clear()
    serve_rate.cache_clear()
