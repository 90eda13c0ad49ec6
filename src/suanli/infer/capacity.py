"""Capacity planning: the cheapest hardware, precision, TP layout and replica count that serve
a traffic level within p99 TTFT and TPOT limits.

Two stages, as SkyPilot's optimizer (build candidate -> cost, then solve) but with a check:

1. **Analytic ranking.** For every candidate (system, precision, TP), the best batch under the
   limits (``curves.best_under_slo`` at the mean prompt and output lengths) gives a replica's
   output tokens/s, ``X``. Replicas ``r = ceil(lambda x mean_output / (rho x X))`` with target
   load ``rho`` (default 0.8: queueing headroom). Cost/hour = ``r x devices x price``.
2. **Simulation check** of the ``verify`` cheapest candidates: the continuous-batching simulator
   (``suanli.infer.simulate``) replays the trace, or Poisson arrivals with lengths drawn from
   the traffic's samples; replicas grow (x1.25, at least +1) until p99 TTFT and TPOT meet
   the limits. Mean-value analytics cannot promise a p99; the simulation can measure it.
   (The simulator has no prefix cache: with ``prefix_hit`` > 0 its check is conservative.)
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suanli.catalog.schema import ModelSpec
from suanli.errors import InfeasibleError, InputError
from suanli.infer.compression import Compression
from suanli.infer.trace import Request, load_azure_trace, synthetic_requests
from suanli.units import SECONDS_PER_DAY, SECONDS_PER_HOUR


@dataclass(frozen=True)
class Traffic:
    """Arrival rate and length samples (tokens)."""

    requests_per_s: float
    prompts: tuple[int, ...]
    outputs: tuple[int, ...]
    source: str
    trace: tuple[Request, ...] = ()  # a real trace to replay, if given

    @property
    def mean_prompt(self) -> float:
        return statistics.fmean(self.prompts)

    @property
    def mean_output(self) -> float:
        return statistics.fmean(self.outputs)

    @property
    def output_tokens_per_s(self) -> float:
        return self.requests_per_s * self.mean_output


def traffic_from_rate(requests_per_s: float, prompt_len: int, output_len: int) -> Traffic:
    if requests_per_s <= 0:
        raise InputError(f"--rps must be positive, got {requests_per_s}")
    return Traffic(requests_per_s, (prompt_len,), (output_len,),
                   f"{requests_per_s:g} req/s, {prompt_len}/{output_len} tokens")


def traffic_from_tokens_per_day(tokens_per_day: float, prompt_len: int,
                                output_len: int) -> Traffic:
    """``tokens_per_day`` counts prompt + output tokens."""
    if tokens_per_day <= 0:
        raise InputError(f"--tokens-per-day must be positive, got {tokens_per_day}")
    rps = tokens_per_day / SECONDS_PER_DAY / (prompt_len + output_len)
    return Traffic(rps, (prompt_len,), (output_len,),
                   f"{tokens_per_day:.3g} tokens/day = {rps:.3g} req/s")


def traffic_from_trace(path: str | Path, rate_scale: float = 1.0,
                       limit: int | None = None) -> Traffic:
    reqs = load_azure_trace(path, rate_scale=rate_scale, limit=limit)
    span = max(reqs[-1].arrival_s - reqs[0].arrival_s, 1e-9)
    return Traffic(len(reqs) / span, tuple(r.prompt for r in reqs),
                   tuple(r.output for r in reqs), f"trace {Path(path).name} x{rate_scale:g}",
                   tuple(reqs))


@dataclass(frozen=True)
class CapacityOption:
    system: str
    accelerator: str
    precision: str
    tp: int
    batch: int
    replicas: int
    devices_total: int
    usd_per_hour: float
    usd_per_million_output_tokens: float
    ttft_p99_s: float | None  # simulated (None: analytic only)
    tpot_p99_s: float | None
    utilization: float | None
    verified: bool  # a simulation met both p99 limits
    ep: int = 1
    attn_dp: bool = False
    nodes: int = 1  # per replica
    layout: str = ""

    @property
    def usd_per_day(self) -> float:
        return 24.0 * self.usd_per_hour


def default_hardware() -> list[str]:
    """The default system of every accelerator with a list price in the catalog."""
    from suanli.catalog import load_catalog

    cat = load_catalog()
    out = []
    for acc in cat.accelerators.values():
        if acc.price_usd_per_hour is None:
            continue
        try:
            out.append(cat.system(acc.id).id)
        except InputError:
            continue
    return out


def layouts(model: str | ModelSpec, hardware: str, precision: str | Compression
            ) -> list[dict[str, object]]:
    """Replica layouts to try: TP (powers of two dividing the heads) inside one scale-up
    domain; for MoE models also attention-DP + EP over 1, 2, 4 ... 32 nodes (the DeepSeek /
    SGLang / TensorRT-LLM wide-EP layout); for dense models that do not fit a node, TP over the
    node and PP across 2-8 nodes. Layouts whose weights do not fit are dropped later."""
    from suanli.infer.api import tp_candidates
    from suanli.infer.estimate import check_weights_fit, deployment

    base = deployment(model, hardware, precision=precision)
    dpn = base.system.devices_per_node
    out: list[dict[str, object]] = [{"tp": tp} for tp in
                                    tp_candidates(base.model, base.system.scale_up_domain, 8)]
    if base.model.moe is not None:
        out += [{"attn_dp": True, "nodes": n} for n in (1, 2, 4, 8, 16, 32)
                if n * dpn > 1]
    else:
        try:
            check_weights_fit(deployment(base.model, hardware, tp=dpn, precision=precision))
        except InfeasibleError:
            out += [{"tp": dpn, "pp": pp} for pp in (2, 4, 8) if pp <= base.model.layers]
    return out


def _candidates(model: str, hardware: list[str], precisions: list[str], traffic: Traffic,
                ttft: float | None, tpot: float | None, rho: float,
                prices: dict[str, float], layout: dict[str, Any] | None = None,
                prefix_hit: float = 0.0) -> list[tuple[float, CapacityOption]]:
    from suanli.infer.curves import best_under_slo
    from suanli.infer.estimate import deployment, price_of

    p, o = round(traffic.mean_prompt), max(1, round(traffic.mean_output))
    out = []
    for hw in hardware:
        for prec in precisions:
            try:
                base = deployment(model, hw, precision=prec)
            except InputError:
                continue  # precision not supported there
            price = price_of(base, prices.get(hw))
            if price is None:
                continue
            for lay in [layout] if layout else layouts(base.model.id, hw, prec):
                try:
                    dep = deployment(base.model, hw, precision=prec, prefix_hit=prefix_hit,
                                     **lay)
                    e = best_under_slo(dep, prompt_len=p, output_len=o, ttft_slo_s=ttft,
                                       tpot_slo_s=tpot, max_batch=512 * dep.devices)
                except InfeasibleError:
                    continue
                if e is None:
                    continue
                r = max(1, math.ceil(traffic.output_tokens_per_s / (rho * e.output_tokens_per_s)))
                cost = r * e.devices_per_replica * price
                usd_m = cost / SECONDS_PER_HOUR / traffic.output_tokens_per_s * 1e6
                out.append((cost, CapacityOption(e.system, e.accelerator, e.precision, dep.tp,
                                                 e.batch, r, r * e.devices_per_replica, cost,
                                                 usd_m, None, None, None, False, dep.ep,
                                                 dep.attn_dp, dep.nodes, dep.layout())))
    out.sort(key=lambda t: (t[0], t[1].devices_total))
    return out


def _requests(traffic: Traffic, duration_s: float, seed: int) -> list[Request]:
    if traffic.trace:
        return list(traffic.trace)
    return synthetic_requests(traffic.requests_per_s, duration_s, list(traffic.prompts),
                              list(traffic.outputs), seed)


def plan_capacity(model: str, traffic: Traffic, *, hardware: list[str] | None = None,
                  precisions: tuple[str, ...] = ("bf16", "fp8"),
                  ttft_p99_slo_s: float | None = 2.0, tpot_p99_slo_s: float | None = 0.1,
                  target_load: float = 0.8, verify: int = 6, duration_s: float = 600.0,
                  prices: dict[str, float] | None = None, seed: int = 0,
                  max_tries: int = 8, layout: dict[str, Any] | None = None,
                  prefix_hit: float = 0.0) -> list[CapacityOption]:
    """Options, cheapest first: simulated ones that meet the p99 limits lead.

    Branch and bound: candidates are simulated in order of analytic cost (a lower bound, since
    simulation only adds replicas), until the next analytic cost is above the cheapest verified
    one or ``verify`` candidates have been simulated. Per candidate, replicas grow until the p99
    limits hold, then bisect down to the fewest that do."""
    from suanli.infer.estimate import deployment
    from suanli.infer.simulate import simulate

    if not 0 < target_load <= 1:
        raise InputError(f"--target-load must be in (0, 1], got {target_load}")
    hw = hardware or default_hardware()
    cands = _candidates(model, hw, list(precisions), traffic, ttft_p99_slo_s, tpot_p99_slo_s,
                        target_load, prices or {}, layout, prefix_hit)
    if not cands:
        raise InfeasibleError(f"no hardware in {', '.join(hw)} serves {model} within the limits",
                              fixes=["relax --ttft-slo / --tpot-slo", "add --hardware choices",
                                     "lower precision", "--price '$2/h' (hardware without a "
                                     "catalog price is skipped)"])
    reqs = _requests(traffic, duration_s, seed) if verify else []

    def meets(summary: dict[str, float]) -> bool:
        tp99 = summary["tpot_p99_s"]
        return (ttft_p99_slo_s is None or summary["ttft_p99_s"] <= ttft_p99_slo_s) and \
            (tpot_p99_slo_s is None or math.isnan(tp99) or tp99 <= tpot_p99_slo_s)

    verified: list[CapacityOption] = []
    rest: list[CapacityOption] = []
    for cost, opt in cands:
        best = min((v.usd_per_hour for v in verified if v.verified), default=math.inf)
        if len(verified) >= verify or cost >= best or opt.nodes > 1 or opt.attn_dp:
            rest.append(opt)  # multi-node and attention-DP replicas: analytic only
            continue
        dep = deployment(model, opt.system, tp=opt.tp, precision=opt.precision)
        runs: dict[int, dict[str, float]] = {}

        def run(r: int, dep=dep, opt=opt, runs=runs) -> bool:
            runs[r] = simulate(dep, reqs, replicas=r, max_batch=opt.batch).summary
            return meets(runs[r])

        lo, hi = 0, opt.replicas
        for _ in range(max_tries):
            if run(hi):
                break
            lo, hi = hi, max(hi + 1, math.ceil(hi * 1.25))
        ok = hi in runs and meets(runs[hi])
        while ok and hi - lo > 1 and lo + 1 < hi and len(runs) < 2 * max_tries:
            mid = (lo + hi) // 2
            if mid <= 0:
                break
            if run(mid):
                hi = mid
            else:
                lo = mid
        r = hi if ok else max(runs)
        res = runs[r]
        per_dev = opt.usd_per_hour / opt.devices_total
        devices = r * opt.devices_total // opt.replicas
        verified.append(CapacityOption(
            opt.system, opt.accelerator, opt.precision, opt.tp, opt.batch, r, devices,
            devices * per_dev,
            devices * per_dev / SECONDS_PER_HOUR / traffic.output_tokens_per_s * 1e6,
            res["ttft_p99_s"], res["tpot_p99_s"], res["utilization"], ok, layout=opt.layout))
    verified.sort(key=lambda o: (not o.verified, o.usd_per_hour))
    if not any(v.verified for v in verified):  # nothing simulated: cheapest analytic first
        return sorted(verified + rest, key=lambda o: o.usd_per_hour)
    return verified + rest
