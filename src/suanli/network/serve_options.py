"""Serving options of one inference job on every allowed (site, hardware): the formulas of
:mod:`.options` (module docstring, "Inference job on site s") for a replica set sized by the
serving model (:func:`suanli.network.durations.serve_rate`). Serving is priced with declared
capability (the measured section enters training only: :mod:`.measured`)."""

from __future__ import annotations

import math

import numpy as np

from suanli.network import durations
from suanli.network.jobs import Filters, InferJob
from suanli.network.links import link
from suanli.network.resources import HwKey, OptionRows, Resources, ServeFn, node_size
from suanli.network.sites import Network


def infer_options(net: Network, j: int, job: InferJob, res: Resources,
                   by_hw: dict[HwKey, np.ndarray], filters: Filters, serve_fn: ServeFn,
                   acc: OptionRows) -> list[str]:
    rtt_cache: dict[str, float] = {}
    msgs: list[str] = []
    best_rtt, n_opts = math.inf, 0
    for (hw, _measured), ridx in by_hw.items():  # serving: declared figures
        for r in ridx:
            site = res.site[r]
            if site.id not in rtt_cache:
                rtt_cache[site.id] = max((link(net, site.id, u).rtt_s for u in
                                          job.user_regions), default=0.0)
            rtt = rtt_cache[site.id]
            best_rtt = min(best_rtt, rtt)
            budget = None if job.ttft_slo_s is None else job.ttft_slo_s - rtt
            sr = serve_fn(job, hw, budget)
            if isinstance(sr, durations.Infeasible):
                msgs.append(f"{hw} at {site.id}: {sr.reason.split(' Reasons')[0]}")
                continue
            price = res.od[r]
            node = node_size(hw)
            n = math.ceil(sr.devices_total / node) * node  # whole machines are rented
            if np.isnan(price) or n > res.cap[r]:
                continue
            cost = n * price * job.hours
            # energy of the devices that serve (idle devices of a rented machine: not modelled)
            energy = sr.devices_total * job.hours * sr.power_w_per_device / 1000.0 * res.pue[r]
            co2 = energy * res.carbon[r] / 1000.0
            if job.budget_usd is not None and cost > job.budget_usd:
                continue
            if filters.carbon_cap_kg is not None and not co2 <= filters.carbon_cap_kg:
                continue
            n_opts += 1
            m = n // node
            rented = ("" if n == sr.devices_total else
                      f", rents {m} whole machine{'s' if m > 1 else ''} ({n} devices)")
            acc.add(1, f"{sr.devices_total}x {hw} ({sr.replicas} replicas, tp={sr.tp}{rented}, "
                       f"ttft {sr.ttft_s * 1000 + rtt * 1000:.0f} ms incl. "
                       f"{rtt * 1000:.0f} ms RTT)", job=j, resource=r, devices=n, cost=cost,
                    time=0.0, co2=co2, spot=False, energy=energy, run=job.hours * 3600.0,
                    tr_s=rtt, tr_usd=0.0, price=price)
    if n_opts:
        return []
    if job.ttft_slo_s is not None and best_rtt >= job.ttft_slo_s:
        return [f"latency SLO: the nearest allowed site is {best_rtt * 1000:.0f} ms round trip "
                f"from the users, above the TTFT SLO {job.ttft_slo_s * 1000:.0f} ms; serve "
                "from an edge or nearer site"]
    return (msgs[:2] or ["no allowed site has enough free devices at an allowed price, "
                         "budget and carbon cap"])
