"""Sites and hardware: the executor's runnable sites and the network's priced sites; join a
site by posting its descriptor (validated by :mod:`suanli.network.descriptor`)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Body, HTTPException, status
from sqlalchemy import select

from suanli.service.api.deps import CurrentTenant, SessionDep, StateDep
from suanli.service.models import ACTIVE, Job, JoinedSite
from suanli.service.netview import network_with_joined

router = APIRouter(prefix="/api/v1/sites", tags=["sites"])


def _utilization(session: SessionDep, res: dict[str, dict[str, float]]) -> dict[str, float]:
    """Share of each runnable site's CPUs (or GPUs, where it has any) held by active jobs."""
    used: dict[str, list[float]] = {s: [0.0, 0.0] for s in res}
    for site, cpus, gpus in session.execute(select(Job.site, Job.cpus, Job.gpus)
                                            .where(Job.state.in_(ACTIVE))):
        if site in used:
            used[site][0] += cpus
            used[site][1] += gpus
    out = {}
    for s, cap in res.items():
        gpu, cpu = cap.get("GPU", 0.0), cap.get("CPU", 0.0)
        frac = used[s][1] / gpu if gpu > 0 else (used[s][0] / cpu if cpu > 0 else 0.0)
        out[s] = min(1.0, frac)
    return out


@router.get("")
def list_sites(session: SessionDep, state: StateDep, _tenant: CurrentTenant) -> dict[str, Any]:
    from suanli.network.pricing import device_hour_price

    res = state.executor.resources()
    util = _utilization(session, res)
    out: list[dict[str, Any]] = []
    net = network_with_joined(session)
    for s in net.sites.values():
        prices = [device_hour_price(i, s).usd_per_device_hour for i in s.inventory]
        out.append({"id": s.id, "provider": s.provider, "country": s.country, "kind": s.kind,
                    "lat": s.location.lat, "lon": s.location.lon, "pue": s.pue,
                    "carbon": s.carbon_g_per_kwh,
                    "price_usd_per_device_hour": min(prices) if prices else None,
                    "devices": {i.hardware: i.count for i in s.inventory},
                    "utilization": util.get(s.id, 0.0), "runnable": s.id in res})
    for site, cap in res.items():
        if site not in net.sites:
            out.append({"id": site, "provider": "local", "country": None, "kind": "executor",
                        "lat": None, "lon": None, "pue": None, "carbon": None,
                        "price_usd_per_device_hour": None,
                        "devices": {k: v for k, v in cap.items() if v},
                        "utilization": util[site], "runnable": True})
    return {"sites": out, "count": len(out)}


@router.post("", status_code=status.HTTP_201_CREATED)
def join_site(session: SessionDep, tenant: CurrentTenant,
              descriptor: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Join a site: the body is a site descriptor (``suanli net schema``)."""
    from suanli.network.descriptor import parse_descriptor
    from suanli.network.sites import builtin_sites, check_hardware

    site = check_hardware(parse_descriptor(descriptor, file="request body"))
    taken = session.get(JoinedSite, site.id) is not None
    if taken or any(b.id == site.id for b in builtin_sites()):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"site id '{site.id}' is taken; pick another id")
    session.add(JoinedSite(id=site.id, tenant_id=tenant.id,
                           descriptor_json=site.model_dump_json(),
                           created_at=time.time()))
    session.commit()
    return {"site": site.id, "devices": sum(i.count for i in site.inventory), "valid": True}
