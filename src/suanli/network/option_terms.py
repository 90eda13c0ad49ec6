"""Terms shared by the training option builders, the per-job one (:mod:`.options`) and the
batched one (:mod:`.train_batch`), which both import them from here: the expected spot waste
(Young 1974, formulas in :mod:`.options`), the data transfer to every resource's site, and the
reasons a job is left with no option."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from suanli.network.jobs import Filters, TrainJob
from suanli.network.links import link
from suanli.network.resources import Resources
from suanli.network.sites import Network
from suanli.units import format_duration, format_usd

CHECKPOINT_H = 0.05  # ASSUMED: 3 min to write a checkpoint
RESTART_H = 0.25  # ASSUMED: 15 min to get capacity back, reload and warm up
# per data source: latency s, bandwidth Gbit/s, egress USD/GB, same-place flag, per resource
LinkCache = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def spot_waste(preemptions_per_hour: float) -> float:
    """Expected fractional time lost to preemptions (Young 1974; :mod:`.options`)."""
    lam = max(preemptions_per_hour, 0.0)
    return math.sqrt(2.0 * CHECKPOINT_H * lam) + lam * RESTART_H


def spot_waste_array(preemptions_per_hour: np.ndarray) -> np.ndarray:
    """:func:`spot_waste` over an array of rates."""
    lam = np.maximum(preemptions_per_hour, 0.0)
    return np.sqrt(2.0 * CHECKPOINT_H * lam) + lam * RESTART_H


def transfer_arrays(net: Network, source: str | None, res: Resources, nbytes: float,
                    cache: LinkCache) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and USD to move the job's data to each resource's site (links cached per
    source: latency, bandwidth, egress and same-place flag per resource)."""
    if source is None or nbytes <= 0:
        return np.zeros(len(res.site)), np.zeros(len(res.site))
    if source not in cache:
        links = {s.id: link(net, source, s.id) for s in res.site}
        per = [links[s.id] for s in res.site]
        cache[source] = (np.array([lk.latency_ms / 1000.0 for lk in per]),
                         np.array([lk.bandwidth_gbps for lk in per]),
                         np.array([lk.egress_usd_per_gb for lk in per]),
                         np.array([lk.a == lk.b for lk in per]))
    lat_s, gbps, egress, same = cache[source]
    secs = np.where(same, 0.0, lat_s + nbytes * 8.0 / (gbps * 1e9))  # as Link.transfer_s
    usd = np.where(same, 0.0, nbytes / 1e9 * egress)  # as Link.transfer_usd
    return secs, usd


def train_reasons(job: TrainJob, filters: Filters, best_t: float, best_c: float,
                  best_co2: float, fit_msgs: list[str], max_free: int,
                  counts: Sequence[int]) -> list[str]:
    """Why ``job`` got no option: what binds first (fit, free devices, deadline, budget,
    carbon cap), from the best time, cost and CO2 the filters let through."""
    if not math.isfinite(best_t):
        if fit_msgs:
            return [f"{job.model} fits on none of the allowed hardware and counts; e.g. "
                    + fit_msgs[0]]
        return [f"no allowed site has {min(counts)} free devices (largest: {max_free}) at an "
                "allowed price"]
    out = []
    if job.deadline_s is not None and best_t > job.deadline_s:
        out.append(f"infeasible deadline: the fastest offer takes {format_duration(best_t)} > "
                   f"deadline {format_duration(job.deadline_s)}")
    elif job.budget_usd is not None and best_c > job.budget_usd:
        out.append(f"budget: the cheapest offer within the deadline costs {format_usd(best_c)} "
                   f"> budget {format_usd(job.budget_usd)}")
    elif filters.carbon_cap_kg is not None:
        out.append(f"carbon cap: the lowest-carbon offer emits {best_co2:,.0f} kg CO2 > cap "
                   f"{filters.carbon_cap_kg:,.0f} kg (sites with unknown carbon are excluded)")
    return out or ["no offer passes the filters"]
