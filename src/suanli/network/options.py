"""Build the option table for a batch of jobs on the network (vectorized over sites).

For training job ``j`` on ``n`` devices of hardware ``h`` at site ``s`` (prices per device-hour
``p``, PUE, grid intensity ``g``; ``run`` from the perf model, once per (j, h, n))::

    time  = transfer_s(data_location -> s) + run_s x (1 + waste)      # seconds
    cost  = n x run_s/3600 x p + transfer_usd                         # USD
    kWh   = n x run_s/3600 x power_w_per_device / 1000 x PUE
    CO2   = kWh x g / 1000                                            # kg

``waste`` is 0 on demand. On spot it is the expected overhead of preemptions at rate lambda per
hour with checkpoints every sqrt(2C/lambda) hours (Young, "A first order approximation to the
optimum checkpoint interval", CACM 1974): waste = sqrt(2 C lambda) + lambda R, with checkpoint
cost C and restart cost R (both ASSUMED, :mod:`.option_terms`). A job on ``m`` nodes stops
when any node is preempted: lambda = m x the site's rate per node-hour. Spot is not offered
when waste >= 1 (the run would more than double; Young's first-order formula no longer holds
there).

Inference job on site ``s``: the TTFT budget is the SLO minus the round trip to the farthest
user region; the serving model sizes replicas for the traffic; the job rents WHOLE machines
(``ceil(devices / devices_per_node)`` of the system, never half of an 8-GPU machine), so
cost = rented devices x p x hours and the rented devices count against capacity; energy counts
the serving devices only (idle power of the rest is not modelled).

Spot lines without a declared preemption rate take ``DEFAULT_PREEMPTIONS_PER_HOUR``
(:mod:`suanli.network.resources`), never zero: an undeclared risk is not the absence of risk.
Options that break a deadline, budget, carbon cap, price cap or SLO are not generated; the
reasons are kept per job so an empty result can say what binds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from suanli.network import durations
from suanli.network.descriptor import SiteDescriptor
from suanli.network.jobs import Filters, InferJob, Job, TrainJob
from suanli.network.measured import MeasuredKey, measured_key
from suanli.network.option_terms import (
    LinkCache,
    spot_waste_array,
    train_reasons,
    transfer_arrays,
)
from suanli.network.placement.table import OptionTable
from suanli.network.pricing import device_power_w
from suanli.network.resources import (
    HwKey,
    OptionRows,
    Resources,
    ServeFn,
    collect_resources,
    node_size,
)
from suanli.network.sites import Network
from suanli.network.train_batch import train_groups, train_options_batch

DEFAULT_COUNTS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048)


@dataclass(frozen=True)
class Run:
    """What the perf model says about one (job, hardware, count)."""

    run_s: float  # compute time for the whole job, seconds
    power_w_per_device: float  # before PUE
    plan: str = ""


RunFn = Callable[[TrainJob, str, int], "Run | durations.Infeasible"]


def perf_run(job: TrainJob, system: str, n: int) -> Run | durations.Infeasible:
    """The real perf model, cached per (model, system, n) and scaled by tokens."""
    rate = durations.train_rate(job.model, system, n, job.seq_len)
    if isinstance(rate, durations.Infeasible):
        return rate
    plan = " ".join(f"{k}={v}" for k, v in rate.plan.items() if k in ("tp", "pp", "dp", "zero"))
    return Run(rate.run_s(job.tokens), rate.power_w_per_device, plan)


def table_run(table: Mapping[tuple[str, str, int], float]) -> RunFn:
    """A RunFn from a precomputed {(job id, system, devices): seconds} table; power from the
    catalog (TDP + host share). Missing keys mean "does not fit"."""

    def run(job: TrainJob, system: str, n: int) -> Run | durations.Infeasible:
        secs = table.get((job.id, system, n))
        if secs is None:
            return durations.Infeasible(f"no duration for {n} x {system} in the table")
        power = device_power_w(system)
        return Run(float(secs), math.nan if power is None else power)

    return run


def perf_serve(job: InferJob, system: str, ttft_budget_s: float | None
               ) -> durations.ServeRate | durations.Infeasible:
    return durations.serve_rate(job.model, system, job.prompt_len, job.output_len,
                                durations.ttft_bucket(ttft_budget_s), job.tpot_slo_s,
                                job.traffic_tokens_per_s, job.precision)


def pricing_key(site: SiteDescriptor, hardware: str, run_fn: RunFn, job: Job | None = None
                ) -> MeasuredKey | None:
    """The measured figures that price ``site``'s line ``hardware``, or None where declared
    capability (catalog peaks x fitted efficiency) prices it. The one rule, used by the option
    table, quotes and ``net place``: only the real training model (``perf_run``) knows measured
    figures, so a custom ``run_fn`` or a serving ``job`` is priced declared."""
    if run_fn is not perf_run or (job is not None and not isinstance(job, TrainJob)):
        return None
    return measured_key(site, hardware)


def build_table(net: Network, jobs: Sequence[Job], *, filters: Filters | None = None,
                free: Mapping[str, int] | None = None, run_fn: RunFn = perf_run,
                serve_fn: ServeFn = perf_serve, counts: Sequence[int] = DEFAULT_COUNTS
                ) -> OptionTable:
    """All feasible options of every job (see the module docstring for the formulas)."""
    filters = filters or Filters()
    _check_models(jobs)
    res = collect_resources(net, filters, free)
    # lines grouped by (hardware, measured figures): the perf model runs once per group; a
    # measured line (suanli.network.measured) is its own group, priced with its figures
    # (the real perf model only: a custom run_fn knows no site)
    by_hw: dict[HwKey, np.ndarray] = {}
    for r, (site, item) in enumerate(zip(res.site, res.item, strict=True)):
        key = (item.hardware, pricing_key(site, item.hardware, run_fn))
        by_hw[key] = np.append(by_hw.get(key, np.zeros(0, dtype=np.int64)), r)
    acc, why = OptionRows(), {}
    links: LinkCache = {}
    train = [(j, job) for j, job in enumerate(jobs) if isinstance(job, TrainJob)]
    if run_fn is perf_run:  # many jobs at once (same rows, see train_batch)
        for group in train_groups(train, counts):
            why.update(train_options_batch(net, group, res, by_hw, filters, counts, acc,
                                           links))
        train = []
    for j, tjob in train:
        reasons = _train_options(net, j, tjob, res, by_hw, filters, run_fn,
                                 tjob.counts or counts, acc, links)
        if reasons:
            why[tjob.id] = reasons
    from suanli.network.serve_options import infer_options

    for j, ijob in enumerate(jobs):
        if isinstance(ijob, InferJob):
            reasons = infer_options(net, j, ijob, res, by_hw, filters, serve_fn, acc)
            if reasons:
                why[ijob.id] = reasons
    return acc.table(jobs, res, {job.id: why[job.id] for job in jobs if job.id in why})


def _check_models(jobs: Sequence[Job]) -> None:
    """Unknown models fail loudly here, not as 'fits nowhere' later."""
    from suanli.catalog import load_catalog

    cat = load_catalog()
    for model in {job.model for job in jobs}:
        cat.model(model)


def _train_options(net: Network, j: int, job: TrainJob, res: Resources,
                   by_hw: dict[HwKey, np.ndarray], filters: Filters, run_fn: RunFn,
                   counts: Sequence[int], acc: OptionRows, links: LinkCache) -> list[str]:
    """Every (hardware, count, spot, site) option of one training job: per hardware type the
    arithmetic runs on [counts x sites] arrays at once (module docstring for the formulas)."""
    tr_s, tr_usd = transfer_arrays(net, job.data_location, res, job.data_bytes, links)
    best_t, best_c, best_co2, n_opts, max_free = math.inf, math.inf, math.inf, 0, 0
    fit_msgs: list[str] = []
    spots = (False, True) if (job.spot_ok and filters.spot) else (False,)
    for (hw, _measured), ridx in by_hw.items():  # measured lines: perf_run only (batch path)
        cap = res.cap[ridx]
        max_free = max(max_free, int(cap.max()))
        runs: list[tuple[int, Run]] = []
        for n in counts:
            if not (cap >= n).any():
                continue
            run = run_fn(job, hw, n)
            if isinstance(run, durations.Infeasible):
                fit_msgs.append(f"{n} x {hw}: {run.reason.split(' Reasons')[0]}")
                continue
            runs.append((n, run))
        if not runs:
            continue
        ns = np.array([n for n, _ in runs], dtype=float)[:, None]  # [N, 1] devices
        run0 = np.array([r.run_s for _, r in runs])[:, None]  # [N, 1] seconds on demand
        power = np.array([r.power_w_per_device for _, r in runs])[:, None]  # watts
        nodes = np.ceil(ns / node_size(hw))
        fits = cap[None, :] >= ns  # [N, S]
        out = {}
        for spot in spots:
            price = np.broadcast_to((res.spot if spot else res.od)[ridx][None, :], fits.shape)
            waste = spot_waste_array(res.preempt[ridx][None, :] * nodes) if spot \
                else np.zeros(fits.shape)
            price = np.where(waste < 1.0, price, np.nan)  # too many preemptions: no spot
            run_s = run0 * (1.0 + waste)  # [N, S] seconds
            hours = run_s / 3600.0
            time = tr_s[ridx][None, :] + run_s
            cost = ns * hours * price + tr_usd[ridx][None, :]
            energy = ns * hours * power / 1000.0 * res.pue[ridx][None, :]  # kWh
            co2 = energy * res.carbon[ridx][None, :] / 1000.0  # kg
            ok = fits & ~np.isnan(price)
            best_t = min(best_t, float(np.min(time, initial=np.inf, where=ok)))
            if job.deadline_s is not None:
                ok &= time <= job.deadline_s
            best_c = min(best_c, float(np.min(cost, initial=np.inf, where=ok)))
            if job.budget_usd is not None:
                ok &= cost <= job.budget_usd
            if filters.carbon_cap_kg is not None:
                best_co2 = min(best_co2, float(np.min(co2, initial=np.inf,
                                                      where=ok & ~np.isnan(co2))))
                ok &= co2 <= filters.carbon_cap_kg  # NaN (unknown) fails the cap
            out[spot] = (ok, price, run_s, time, cost, energy, co2)
        for i, (n, run) in enumerate(runs):  # rows in (count, spot, site) order
            for spot in spots:
                ok, price, run_s, time, cost, energy, co2 = out[spot]
                idx = np.flatnonzero(ok[i])
                if not len(idx):
                    continue
                n_opts += len(idx)
                acc.add(len(idx), f"{n}x {hw}" + (f" ({run.plan})" if run.plan else ""),
                        job=j, resource=ridx[idx], devices=n, cost=cost[i, idx],
                        time=time[i, idx], co2=co2[i, idx], spot=spot,
                        energy=energy[i, idx], run=run_s[i, idx], tr_s=tr_s[ridx[idx]],
                        tr_usd=tr_usd[ridx[idx]], price=price[i, idx])
    if n_opts:
        return []
    return train_reasons(job, filters, best_t, best_c, best_co2, fit_msgs, max_free, counts)
