"""Training options for many jobs at once: the formulas of :mod:`.options` on [jobs x counts x
sites] arrays, one pass per (group, hardware, spot) instead of one per job.

Jobs that share a model, sequence length, device counts and spot acceptance form a group. With
the real perf model (``options.perf_run``) a job's compute time is linear in its tokens,
``run_s = tokens / tokens_per_s(model, hardware, n)`` (:class:`.durations.TrainRate`), so the
perf model is asked once per (group, hardware, count) and broadcast over the group's jobs;
transfer times and costs are per (job, site) rows. Every other formula, filter and reason is
the per-job one (module docstring of :mod:`.options`); the rows are the same, in a different
order. A custom ``run_fn`` (a test seam, a duration table) keeps the per-job path.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from suanli.network import durations
from suanli.network.jobs import Filters, TrainJob
from suanli.network.option_terms import (
    LinkCache,
    spot_waste_array,
    train_reasons,
    transfer_arrays,
)
from suanli.network.resources import HwKey, OptionRows, Resources, node_size
from suanli.network.sites import Network


def train_groups(jobs: Sequence[tuple[int, TrainJob]], counts: Sequence[int]
                 ) -> list[list[tuple[int, TrainJob]]]:
    """Jobs grouped by (model, sequence length, counts, spot acceptance), in first-seen order."""
    groups: dict[tuple[object, ...], list[tuple[int, TrainJob]]] = defaultdict(list)
    for j, job in jobs:
        groups[(job.model, job.seq_len, tuple(job.counts or counts), job.spot_ok)].append(
            (j, job))
    return list(groups.values())


def train_options_batch(net: Network, group: list[tuple[int, TrainJob]], res: Resources,
                        by_hw: dict[HwKey, np.ndarray], filters: Filters, counts: Sequence[int],
                        acc: OptionRows, links: LinkCache) -> dict[str, list[str]]:
    """Rows for every job of one group; returns the reasons of jobs left with no option."""
    first = group[0][1]
    js = np.array([j for j, _ in group], dtype=np.int64)
    tokens = np.array([job.tokens for _, job in group])[:, None, None]
    deadline = np.array([job.deadline_s if job.deadline_s is not None else np.inf
                         for _, job in group])[:, None, None]
    budget = np.array([job.budget_usd if job.budget_usd is not None else np.inf
                       for _, job in group])[:, None, None]
    trs = [transfer_arrays(net, job.data_location, res, job.data_bytes, links) for _, job in group]
    tr_s = np.stack([t[0] for t in trs])  # [J, R] seconds
    tr_usd = np.stack([t[1] for t in trs])  # [J, R] USD
    n_jobs = len(group)
    best_t, best_c, best_co2 = (np.full(n_jobs, np.inf) for _ in range(3))
    n_opts = np.zeros(n_jobs, dtype=np.int64)
    fit_msgs: list[str] = []
    max_free = 0
    spots = (False, True) if (first.spot_ok and filters.spot) else (False,)
    cap_kg = filters.carbon_cap_kg
    for (hw, measured), ridx in by_hw.items():
        cap = res.cap[ridx]
        max_free = max(max_free, int(cap.max()))
        runs: list[tuple[int, durations.TrainRate]] = []
        for n in first.counts or counts:
            if not (cap >= n).any():
                continue
            rate = durations.train_rate(first.model, hw, n, first.seq_len, measured=measured)
            if isinstance(rate, durations.Infeasible):
                fit_msgs.append(f"{n} x {hw}: {rate.reason.split(' Reasons')[0]}")
                continue
            runs.append((n, rate))
        if not runs:
            continue
        ns = np.array([n for n, _ in runs], dtype=float)[None, :, None]  # [1, N, 1]
        tps = np.array([r.tokens_per_s for _, r in runs])[None, :, None]
        power = np.array([r.power_w_per_device for _, r in runs])[None, :, None]  # watts
        nodes = np.ceil(ns[0] / node_size(hw))  # [N, 1]
        fits = (cap[None, :] >= ns[0])[None]  # [1, N, S]
        for spot in spots:
            price = np.broadcast_to((res.spot if spot else res.od)[ridx][None, :],
                                    fits.shape[1:])
            waste = (spot_waste_array(res.preempt[ridx][None, :] * nodes) if spot
                     else np.zeros(fits.shape[1:]))  # [N, S]
            price = np.where(waste < 1.0, price, np.nan)[None]  # too many preemptions: none
            run_s = tokens / tps * (1.0 + waste[None])  # [J, N, S] seconds
            hours = run_s / 3600.0
            time = tr_s[:, None, ridx] + run_s
            cost = ns * hours * price + tr_usd[:, None, ridx]
            energy = ns * hours * power / 1000.0 * res.pue[ridx][None, None, :]  # kWh
            co2 = energy * res.carbon[ridx][None, None, :] / 1000.0  # kg
            ok = fits & ~np.isnan(price)
            best_t = np.minimum(best_t, np.min(time, axis=(1, 2), initial=np.inf, where=ok))
            ok = ok & (time <= deadline)
            best_c = np.minimum(best_c, np.min(cost, axis=(1, 2), initial=np.inf, where=ok))
            ok &= cost <= budget
            if cap_kg is not None:
                best_co2 = np.minimum(best_co2, np.min(co2, axis=(1, 2), initial=np.inf,
                                                       where=ok & ~np.isnan(co2)))
                ok &= co2 <= cap_kg  # NaN (unknown) fails the cap
            for i, (n, rate) in enumerate(runs):
                jj, ss = np.nonzero(ok[:, i, :])
                if not len(jj):
                    continue
                n_opts += np.bincount(jj, minlength=n_jobs)
                plan = " ".join(f"{k}={v}" for k, v in rate.plan.items()
                                if k in ("tp", "pp", "dp", "zero"))
                acc.add(len(jj), f"{n}x {hw}" + (f" ({plan})" if plan else ""), job=js[jj],
                        resource=ridx[ss], devices=n, cost=cost[jj, i, ss],
                        time=time[jj, i, ss], co2=co2[jj, i, ss], spot=spot,
                        energy=energy[jj, i, ss], run=run_s[jj, i, ss],
                        tr_s=tr_s[jj, ridx[ss]], tr_usd=tr_usd[jj, ridx[ss]],
                        price=np.broadcast_to(price[0, i], (fits.shape[2],))[ss])
    why: dict[str, list[str]] = {}
    for g in np.flatnonzero(n_opts == 0):
        job = group[int(g)][1]
        why[job.id] = train_reasons(job, filters, float(best_t[g]), float(best_c[g]),
                                    float(best_co2[g]) if math.isfinite(best_co2[g])
                                    else math.inf, fit_msgs, max_free, job.counts or counts)
    return why
