"""The market view: every offer the network makes for one job, ranked.

``quote(net, job)`` builds the job's option table (:mod:`suanli.network.options`: one perf-model
call per hardware type and device count, broadcast over sites) and turns each row into an
:class:`Offer`: site, hardware, devices, plan, start-to-finish time including data transfer,
cost, energy and CO2. Ranking is by ``objective`` (cost, time or carbon) with cost then time as
tie-breaks. No offer at all raises :class:`InfeasibleError` that says which request binds.
Each offer says whether measured or declared capability priced it (``capability``;
:mod:`suanli.network.measured`). Fictional example sites (descriptor ``example: true``) are
left out unless the filters include them (``--include-examples``); then each such offer says
``example_site``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.errors import InfeasibleError, InputError
from suanli.network.jobs import Filters, InferJob, Job
from suanli.network.measured import TRAIN_DTYPE, MeasuredKey, capability
from suanli.network.options import (
    RunFn,
    ServeFn,
    build_table,
    perf_run,
    perf_serve,
    pricing_key,
)
from suanli.network.sites import Network

RANKS = ("cost", "time", "carbon")


@dataclass(frozen=True)
class Offer:
    job: str
    site: str
    provider: str
    country: str
    kind: str
    hardware: str  # system id
    devices: int
    spot: bool
    plan: str
    usd_per_device_hour: float
    transfer_s: float  # data transfer (training) or network RTT (inference), seconds
    run_s: float  # compute time (training) or service period (inference), seconds
    total_s: float  # start to finish (training); 0 for a service
    cost_usd: float
    energy_kwh: float  # facility energy, incl. PUE
    co2_kg: float | None  # None where the grid intensity is unknown
    example_inventory: bool  # the site's device count is an illustration
    example_site: bool = False  # the site itself is fictional (only with include_examples)
    # "measured" when the site's bench figures priced this offer, else "declared" (catalog
    # peaks x fitted efficiency); measured_figures names the figures used
    capability: str = "declared"
    measured_figures: str = ""


def quote(net: Network, job: Job, *, filters: Filters | None = None, rank: str = "cost",
          top: int | None = 20, run_fn: RunFn = perf_run, serve_fn: ServeFn = perf_serve
          ) -> list[Offer]:
    """Ranked offers for ``job`` across the whole network (best first)."""
    if rank not in RANKS:
        raise InputError(f"--rank must be one of {', '.join(RANKS)}, got '{rank}'")
    table = build_table(net, [job], filters=filters, run_fn=run_fn, serve_fn=serve_fn)
    if table.n_options == 0:
        raise InfeasibleError(f"no site can take job '{job.id}'",
                              reasons=table.unplaceable.get(job.id, []),
                              fixes=_fixes(job))
    co2 = np.where(np.isnan(table.co2_kg), np.inf, table.co2_kg)
    key = {"cost": table.cost_usd, "time": table.time_s, "carbon": co2}[rank]
    assert table.spot is not None and table.price is not None and table.plan is not None
    assert table.run_s is not None and table.transfer_s is not None
    assert table.energy_kwh is not None
    order = np.lexsort((table.time_s, table.cost_usd, key))
    if isinstance(job, InferJob) and rank == "time":
        order = np.lexsort((table.cost_usd, table.transfer_s))  # lowest latency first
    out = []
    for k in order[:top]:
        site_id, hw = table.resource_names[int(table.resource[k])].split("/", 1)
        site = net.site(site_id)
        item = next(i for i in site.inventory if i.hardware == hw)
        mk = pricing_key(site, hw, run_fn, job)
        out.append(Offer(
            job=job.id, site=site_id, provider=site.provider, country=site.country,
            kind=site.kind, hardware=hw, devices=int(table.devices[k]),
            spot=bool(table.spot[k]), plan=table.plan[k],
            usd_per_device_hour=float(table.price[k]), transfer_s=float(table.transfer_s[k]),
            run_s=float(table.run_s[k]), total_s=float(table.time_s[k]),
            cost_usd=float(table.cost_usd[k]), energy_kwh=float(table.energy_kwh[k]),
            co2_kg=None if np.isnan(table.co2_kg[k]) else float(table.co2_kg[k]),
            example_inventory=item.example, example_site=site.example,
            capability=capability(mk),
            measured_figures="" if mk is None else _figures(mk)))
    return out


def _figures(key: MeasuredKey) -> str:
    """Which measured figures priced an offer (suanli.network.measured's rule)."""
    gemm, mem = key
    return ", ".join(x for x in (f"{TRAIN_DTYPE} GEMM" if gemm is not None else "",
                                 "memory bandwidth" if mem is not None else "") if x)


def _fixes(job: Job) -> list[str]:
    if isinstance(job, InferJob):
        return ["relax --ttft-slo", "serve users from a nearer site (edge)",
                "allow more hardware or providers"]
    return ["relax --deadline or --budget", "allow spot (--spot)", "allow more hardware, "
            "providers or countries", "raise --max-price or --carbon-cap"]
