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
   Each simulation runs a bounded sample of requests on a few replicas at their share of the
   traffic, and states the SLO attainment with its 95% interval (``suanli.infer.sampling``),
   so a plan for 10T tokens/day costs what one for 10B does.
   (The simulator has no prefix cache: with ``prefix_hit`` > 0 its check is conservative.)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suanli.catalog.schema import ModelSpec
from suanli.errors import InfeasibleError, InputError
from suanli.infer.compression import Compression
from suanli.infer.sampling import DEFAULT_SAMPLE, Attainment, Measured, measure, sample_for
from suanli.infer.stacks import Stack
from suanli.infer.trace import Request, load_azure_trace
from suanli.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, format_count


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
                   f"{format_count(tokens_per_day)} tokens/day = {format_count(rps)} req/s, "
                   f"{prompt_len}/{output_len} tokens")


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
    attainment: Attainment | None = None  # share of sampled requests within the limits
    simulated_replicas: int | None = None  # replicas the sample stood for (see sampling)
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


def precision_candidates(hardware: str) -> tuple[str, ...]:
    """What a chip runs well, from its catalog peaks: 16-bit (bf16, or fp16 where there is no
    bf16 peak) and the fastest 8-bit GEMM it has: fp8 where there is an fp8 peak (H100), else
    w8a8 where there is an int8 peak above the 16-bit one (A100, V100 has none)."""
    from suanli.catalog import load_catalog

    cat = load_catalog()
    acc = cat.accelerator(cat.system(hardware).accelerator)
    out = ["bf16" if acc.bf16_tflops else "fp16"]
    sixteen = acc.bf16_tflops or acc.fp16_tflops or 0.0
    if acc.fp8_tflops:
        out.append("fp8")
    elif acc.int8_tops and acc.int8_tops > sixteen:
        out.append("w8a8")
    return tuple(out)


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


def _candidates(model: str, hardware: list[str], precisions: tuple[str, ...] | None,
                sparsity: str, traffic: Traffic, ttft: float | None, tpot: float | None,
                rho: float, prices: dict[str, float], layout: dict[str, Any] | None = None,
                prefix_hit: float = 0.0, stack: str | Stack | None = None
                ) -> list[tuple[float, CapacityOption]]:
    from suanli.infer.curves import best_under_slo
    from suanli.infer.estimate import deployment, price_of

    p, o = round(traffic.mean_prompt), max(1, round(traffic.mean_output))
    out = []
    for hw in hardware:
        for prec in precisions or precision_candidates(hw):
            try:
                base = deployment(model, hw, precision=prec, sparsity=sparsity)
            except InputError:
                continue  # precision or sparsity not supported there
            price = price_of(base, prices.get(hw))
            if price is None:
                continue
            for lay in [layout] if layout else layouts(base.model.id, hw, prec):
                try:
                    dep = deployment(base.model, hw, precision=prec, sparsity=sparsity,
                                     prefix_hit=prefix_hit, stack=stack, **lay)
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
                                                 usd_m, None, None, None, False,
                                                 ep=dep.ep, attn_dp=dep.attn_dp,
                                                 nodes=dep.nodes, layout=dep.layout())))
    out.sort(key=lambda t: (t[0], t[1].devices_total))
    return out


def best_per_hardware(options: list[CapacityOption], top: int) -> list[CapacityOption]:
    """The first ``top`` options, plus the best option of every accelerator not among them
    (a global top-N must not hide a hardware), in the original order."""
    shown = options[:top]
    seen = {o.accelerator for o in shown}
    for o in options[top:]:
        if o.accelerator not in seen:
            shown.append(o)
            seen.add(o.accelerator)
    return shown


ProgressFn = Callable[[int, int, str], None]  # (done, total, what is running)


def plan_capacity(model: str, traffic: Traffic, *, hardware: list[str] | None = None,
                  precisions: tuple[str, ...] | None = None, sparsity: str = "none",
                  ttft_p99_slo_s: float | None = 2.0, tpot_p99_slo_s: float | None = 0.1,
                  target_load: float = 0.8, verify: int = 6, duration_s: float = 600.0,
                  prices: dict[str, float] | None = None, seed: int = 0,
                  max_tries: int = 8, sample: int = DEFAULT_SAMPLE,
                  progress: ProgressFn | None = None, layout: dict[str, Any] | None = None,
                  prefix_hit: float = 0.0,
                  stack: str | Stack | None = None) -> list[CapacityOption]:
    """Options, cheapest first: simulated ones that meet the p99 limits lead.

    Branch and bound: candidates are simulated in order of analytic cost (a lower bound, since
    simulation only adds replicas), until the next analytic cost is above the cheapest verified
    one or ``verify`` candidates have been simulated. Per candidate, replicas grow until the p99
    limits hold, then bisect down (to 1% of the count) towards ``target_load x`` the analytic
    count, below which the replicas cannot carry the mean load. Each simulation runs a bounded
    sample (``suanli.infer.sampling``: at most ~``sample`` requests on the replicas' share of
    the traffic), so memory and time do not grow with the traffic. ``precisions`` default to
    what each chip runs well (``precision_candidates``). ``stack``: the serving engine and
    version every candidate runs (``suanli.infer.stacks``; None: current runtimes)."""
    from suanli.infer.estimate import deployment
    from suanli.infer.simulate import simulate
    from suanli.infer.stacks import stack as stack_of

    stack = stack_of(stack)  # an unknown stack is an error here, not a skipped candidate
    if not 0 < target_load <= 1:
        raise InputError(f"--target-load must be in (0, 1], got {target_load}")
    if sample < 100:
        raise InputError(f"--sample must be at least 100 requests, got {sample}")
    hw = hardware or default_hardware()
    cands = _candidates(model, hw, precisions, sparsity, traffic, ttft_p99_slo_s,
                        tpot_p99_slo_s, target_load, prices or {}, layout, prefix_hit,
                        stack)
    if not cands:
        raise InfeasibleError(f"no hardware in {', '.join(hw)} serves {model} within the limits",
                              fixes=["relax --ttft-slo / --tpot-slo", "add --hardware choices",
                                     "lower precision", "--price '$2/h' (hardware without a "
                                     "catalog price is skipped)"])

    def meets(m: Measured) -> bool:
        return (ttft_p99_slo_s is None or m.ttft_p99_s <= ttft_p99_slo_s) and \
            (tpot_p99_slo_s is None or math.isnan(m.tpot_p99_s) or m.tpot_p99_s <= tpot_p99_slo_s)

    verified: list[CapacityOption] = []
    rest: list[CapacityOption] = []
    for cost, opt in cands:
        best = min((v.usd_per_hour for v in verified if v.verified), default=math.inf)
        if len(verified) >= verify or cost >= best or opt.nodes > 1 or opt.attn_dp:
            rest.append(opt)  # multi-node and attention-DP replicas: analytic only
            continue
        dep = deployment(model, opt.system, tp=opt.tp, sparsity=sparsity, stack=stack,
                         precision=opt.precision.split("+")[0])  # the preset of the name
        runs: dict[int, tuple[Measured, int]] = {}
        label = f"{opt.accelerator} {opt.precision} TP{opt.tp}"

        def run(r: int, dep=dep, runs=runs, opt=opt, label=label) -> bool:
            s = sample_for(traffic.requests_per_s, r, duration_s, sample, traffic.prompts,
                           traffic.outputs, seed, traffic.trace)
            res = simulate(dep, s.requests, replicas=s.replicas, max_batch=opt.batch)
            runs[r] = (measure(s, res.ttft_s, res.tpot_s, res.summary["utilization"],
                               ttft_p99_slo_s, tpot_p99_slo_s), s.replicas)
            if progress:
                progress(len(verified), min(verify, len(cands)),
                         f"{label}: {r:,} replicas ({s.replicas:,} simulated, "
                         f"{len(s.requests):,} requests)")
            return meets(runs[r][0])

        lo, hi = max(0, math.floor(opt.replicas * target_load) - 1), opt.replicas
        for _ in range(max_tries):
            if run(hi):
                break
            lo, hi = hi, max(hi + 1, math.ceil(hi * 1.25))
        ok = hi in runs and meets(runs[hi][0])
        while ok and hi - lo > max(1, math.ceil(0.01 * hi)) and len(runs) < 2 * max_tries:
            mid = (lo + hi) // 2
            if mid <= 0:
                break
            if run(mid):
                hi = mid
            else:
                lo = mid
        r = hi if ok else max(runs)
        m, k = runs[r]
        per_dev = opt.usd_per_hour / opt.devices_total
        devices = r * opt.devices_total // opt.replicas
        verified.append(CapacityOption(
            opt.system, opt.accelerator, opt.precision, opt.tp, opt.batch, r, devices,
            devices * per_dev,
            devices * per_dev / SECONDS_PER_HOUR / traffic.output_tokens_per_s * 1e6,
            m.ttft_p99_s, m.tpot_p99_s, m.utilization, ok, attainment=m.attainment,
            simulated_replicas=k, layout=opt.layout))
    if progress:
        progress(min(verify, len(cands)), min(verify, len(cands)), "done")
    verified.sort(key=lambda o: (not o.verified, o.usd_per_hour))
    if not any(v.verified for v in verified):  # nothing simulated: cheapest analytic first
        return sorted(verified + rest, key=lambda o: o.usd_per_hour)
    return verified + rest
