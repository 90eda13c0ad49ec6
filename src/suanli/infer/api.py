"""A narrow, stable entry point for other parts of Suanli (network quotes, the scheduler, the
service) that need "what does serving this model on that hardware cost":

    serving_quote(model, hardware, prompt_len=..., output_len=..., ...) -> ServingQuote

It searches tensor-parallel degree (powers of two within the scale-up domain) and batch size;
when no single-node layout works, the multi-node ones of ``capacity.layouts`` (attention-DP +
expert parallelism over nodes for MoE models, pipeline stages across nodes for dense ones),
keeps the points whose continuous-batching TTFT and TPOT meet the limits
(``suanli.infer.estimate`` says how they are defined), and returns the one with the highest
output throughput per device (= lowest cost per token). ``replicas`` covers
``traffic_output_tokens_per_s`` (1 when no traffic is given).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suanli.catalog.schema import ModelSpec
from suanli.errors import InfeasibleError, InputError


@dataclass(frozen=True)
class ServingQuote:
    model: str
    system: str  # system id from the catalog
    accelerator: str  # accelerator id
    precision: str
    tp: int
    devices_per_replica: int
    batch: int  # sequences in flight per replica
    prompt_len: int
    output_len: int
    ttft_s: float  # continuous batching, no queueing (see suanli.infer.estimate)
    tpot_s: float  # continuous batching, prefills amortized
    output_tokens_per_s_per_replica: float
    replicas: int  # for the traffic, or 1
    devices_total: int
    usd_per_million_output_tokens: float | None  # decode time attributed to output tokens
    usd_per_million_input_tokens: float | None  # prefill time attributed to input tokens
    usd_per_hour: float | None  # all replicas
    fits: bool
    power_w_per_device: float  # accelerator TDP + host share, before PUE
    max_concurrent_seqs: int
    ep: int = 1  # expert-parallel ways (MoE)
    attn_dp: bool = False  # attention data-parallel over the replica's ranks
    nodes: int = 1  # per replica

    def energy_kwh_per_hour(self, pue: float = 1.0) -> float:
        return self.devices_total * self.power_w_per_device / 1000.0 * pue


def tp_candidates(model: ModelSpec, scale_up_domain: int, limit: int = 64) -> list[int]:
    """Powers of two that divide the head count, within the scale-up domain."""
    out, t = [], 1
    while t <= min(scale_up_domain, limit):
        if model.heads % t == 0:
            out.append(t)
        t *= 2
    return out


def serving_quote(model: str | ModelSpec, hardware: str, *, prompt_len: int, output_len: int,
                  ttft_slo_s: float | None = None, tpot_slo_s: float | None = None,
                  precision: str = "bf16", traffic_output_tokens_per_s: float | None = None,
                  price_usd_per_device_hour: float | None = None) -> ServingQuote:
    """Cheapest replica layout of ``model`` on ``hardware`` (system or accelerator name) that
    meets the TTFT/TPOT limits. Raises InfeasibleError (with reasons and fixes) if none does."""
    from suanli.infer.capacity import layouts
    from suanli.infer.curves import best_under_slo
    from suanli.infer.estimate import ServingEstimate, deployment

    if traffic_output_tokens_per_s is not None and traffic_output_tokens_per_s <= 0:
        raise InputError("traffic_output_tokens_per_s must be positive")
    base = deployment(model, hardware, precision=precision)
    reasons: list[str] = []
    best: ServingEstimate | None = None
    best_dep = base
    single = [{"tp": tp} for tp in tp_candidates(base.model, base.system.scale_up_domain)]
    multi = [lay for lay in layouts(base.model, hardware, base.compression)
             if "nodes" in lay or "pp" in lay]
    for group in (single, multi):
        for lay in group:
            dep = deployment(base.model, hardware, precision=base.compression, **lay)
            try:
                e = best_under_slo(dep, prompt_len=prompt_len, output_len=output_len,
                                   ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s,
                                   price_usd_per_device_hour=price_usd_per_device_hour,
                                   max_batch=512 * dep.devices if dep.attn_dp else 4096)
            except InfeasibleError as exc:
                reasons.append(f"{dep.layout()}: {str(exc).split(' Reasons')[0].rstrip('.')}")
                continue
            if e is None:
                reasons.append(f"{dep.layout()}: batch 1 misses the TTFT/TPOT limits")
                continue
            if best is None or e.output_tokens_per_s_per_device > \
                    best.output_tokens_per_s_per_device * 1.0001:
                best, best_dep = e, dep
        if best is not None:
            break
    if best is None:
        raise InfeasibleError(
            f"no layout of {base.model.id} on {base.system.id} at {precision} meets the request",
            reasons=reasons or ["no tensor-parallel degree divides the heads"],
            fixes=["relax --ttft-slo / --tpot-slo", "a faster accelerator",
                   "lower precision (fp8, w4a16)"])
    replicas = 1
    if traffic_output_tokens_per_s is not None:
        replicas = max(1, math.ceil(traffic_output_tokens_per_s / best.output_tokens_per_s))
    price = best.price_usd_per_device_hour
    devices = replicas * best.devices_per_replica
    return ServingQuote(
        model=best.model, system=best.system, accelerator=best.accelerator,
        precision=best.precision, tp=best.tp, devices_per_replica=best.devices_per_replica,
        batch=best.batch, prompt_len=prompt_len, output_len=output_len,
        ttft_s=best.ttft_continuous_s, tpot_s=best.tpot_continuous_s,
        output_tokens_per_s_per_replica=best.output_tokens_per_s, replicas=replicas,
        devices_total=devices, usd_per_million_output_tokens=best.usd_per_million_output_tokens,
        usd_per_million_input_tokens=best.usd_per_million_input_tokens,
        usd_per_hour=None if price is None else price * devices, fits=best.fits,
        power_w_per_device=best.power_w_per_device,
        max_concurrent_seqs=best.max_concurrent_seqs, ep=best_dep.ep, attn_dp=best_dep.attn_dp,
        nodes=best_dep.nodes)


__all__ = ["ServingQuote", "serving_quote"]
