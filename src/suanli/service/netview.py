"""The network as the service sees it: built-in and registry sites plus sites joined through
the API, and the hourly price of a job on a placed site."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.errors import NotFoundError
from suanli.network.sites import Network
from suanli.service.models import Job, JoinedSite

log = logging.getLogger("suanli.service")


@dataclass(frozen=True)
class Prices:
    """List prices used for predicted and actual cost (USD per resource-hour)."""

    cpu_usd_per_hour: float = 0.05  # $/vCPU-h (order of a general-purpose cloud vCPU)
    gpu_usd_per_hour: float = 2.50  # $/device-h (order of an on-demand datacentre GPU)

    def per_hour(self, cpus: float, gpus: float) -> float:
        return cpus * self.cpu_usd_per_hour + gpus * self.gpu_usd_per_hour


def network_with_joined(session: Session, warnings: list[str] | None = None) -> Network:
    """Built-in sites plus every joined site whose stored descriptor is still valid and within
    bounds (:func:`suanli.service.hardening.check_site`). A bad stored row is skipped, logged
    and described in ``warnings``: one tenant's bad site never breaks anyone's listing or
    quote."""
    from suanli.network.descriptor import parse_descriptor
    from suanli.network.sites import load_network
    from suanli.service.hardening import check_site

    net = load_network()
    extra = {}
    for r in session.scalars(select(JoinedSite)):
        try:
            raw = json.loads(r.descriptor_json)
            check_site(raw)
            extra[r.id] = parse_descriptor(raw, file=f"site {r.id}")
        except Exception as exc:  # any bad row: skip it, say so, serve the others
            why = " ".join(str(exc).split())[:300]
            log.warning("joined site %s skipped: %s", r.id, why)
            if warnings is not None:
                warnings.append(f"site '{r.id}' skipped: its stored descriptor is invalid "
                                f"({why})")
    return Network({**net.sites, **extra})


def site_gpu_price(net: Network, site_id: str, hardware: str | None) -> float | None:
    """USD per device-hour on ``site_id``: the cheapest inventory line matching ``hardware``
    (any line when None), priced by :func:`suanli.network.pricing.device_hour_price`; None when
    the site is not a network site or has no such hardware."""
    from suanli.network.pricing import device_hour_price
    from suanli.network.resources import hardware_matcher

    site = net.sites.get(site_id)
    if site is None:
        return None
    try:
        ok = hardware_matcher((hardware,) if hardware else ())
    except NotFoundError:  # not in the catalog, so not at this site either
        return None
    prices = [device_hour_price(i, site).usd_per_device_hour for i in site.inventory
              if ok(i.hardware)]
    return min(prices) if prices else None


def job_price(job: Job, gpu_usd_per_hour: float | None, cpu_usd: float, gpu_usd: float) -> float:
    """Hourly price of ``job``: cpus x CPU price + gpus x (the site's device price, else the
    flat GPU price). # USD per hour"""
    return job.cpus * cpu_usd + job.gpus * (gpu_usd if gpu_usd_per_hour is None
                                            else gpu_usd_per_hour)
