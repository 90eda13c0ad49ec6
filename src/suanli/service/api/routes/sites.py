"""Sites and hardware: the executor's runnable sites and the network's priced sites; join a
site by posting its descriptor (validated by :mod:`suanli.network.descriptor` and bounded by
:func:`suanli.service.hardening.check_site`). A joined site belongs to the tenant that joined
it: only that tenant can replace (PUT), amend (PATCH, a JSON merge patch, RFC 7396) or remove
(DELETE) it; an operator lists and removes any with ``suanli service admin sites`` /
``remove-site``."""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, status
from sqlalchemy import select

from suanli.service.api.deps import CurrentTenant, SessionDep, StateDep
from suanli.service.models import ACTIVE, Job, JoinedSite
from suanli.service.netview import network_with_joined

router = APIRouter(prefix="/api/v1/sites", tags=["sites"])
log = logging.getLogger("suanli.service")
SiteId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9:._-]*$")]


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
def list_sites(session: SessionDep, state: StateDep, tenant: CurrentTenant) -> dict[str, Any]:
    from suanli.network.pricing import device_hour_price

    res = state.executor.resources()
    util = _utilization(session, res)
    out: list[dict[str, Any]] = []
    warnings: list[str] = []
    net = network_with_joined(session, warnings)
    owners = {sid: tid for sid, tid in session.execute(select(JoinedSite.id,
                                                                JoinedSite.tenant_id))}
    for s in net.sites.values():
        try:
            prices = [device_hour_price(i, s).usd_per_device_hour for i in s.inventory]
        except Exception as exc:  # a site that cannot be priced is skipped, not a 500
            log.warning("site %s skipped in the listing: %s", s.id, exc)
            warnings.append(f"site '{s.id}' skipped: cannot be priced ({exc})")
            continue
        out.append({"id": s.id, "provider": s.provider, "country": s.country, "kind": s.kind,
                    "lat": s.location.lat, "lon": s.location.lon, "pue": s.pue,
                    "carbon": s.carbon_g_per_kwh,
                    "price_usd_per_device_hour": min(prices) if prices else None,
                    "devices": {i.hardware: i.count for i in s.inventory},
                    "utilization": util.get(s.id, 0.0), "runnable": s.id in res,
                    "joined": s.id in owners, "yours": owners.get(s.id) == tenant.id})
    for site, cap in res.items():
        if site not in net.sites:
            out.append({"id": site, "provider": "local", "country": None, "kind": "executor",
                        "lat": None, "lon": None, "pue": None, "carbon": None,
                        "price_usd_per_device_hour": None,
                        "devices": {k: v for k, v in cap.items() if v},
                        "utilization": util[site], "runnable": True,
                        "joined": False, "yours": False})
    return {"sites": out, "count": len(out), "warnings": warnings}


def _validated(descriptor: Any) -> Any:
    """The descriptor as a checked :class:`SiteDescriptor`; 422 naming the field if not."""
    from suanli.errors import SuanliError
    from suanli.network.descriptor import parse_descriptor
    from suanli.network.sites import check_hardware
    from suanli.service.hardening import FieldError, check_site

    try:
        check_site(descriptor)
        return check_hardware(parse_descriptor(descriptor, file="request body"))
    except (FieldError, SuanliError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            " ".join(str(exc).split())) from None


def _owned(session: SessionDep, tenant: CurrentTenant, site_id: str) -> JoinedSite:
    row = session.get(JoinedSite, site_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no joined site '{site_id}'; list "
                            "sites with GET /api/v1/sites (built-in sites cannot be changed)")
    if row.tenant_id != tenant.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"site '{site_id}' was joined by "
                            "another tenant; only its owner (or an operator) can change it")
    return row


@router.post("", status_code=status.HTTP_201_CREATED)
def join_site(session: SessionDep, tenant: CurrentTenant,
              descriptor: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Join a site: the body is a site descriptor (``suanli net schema``)."""
    from suanli.network.sites import builtin_sites

    site = _validated(descriptor)
    taken = session.get(JoinedSite, site.id) is not None
    if taken or any(b.id == site.id for b in builtin_sites()):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"site id '{site.id}' is taken; pick another id")
    session.add(JoinedSite(id=site.id, tenant_id=tenant.id,
                           descriptor_json=site.model_dump_json(),
                           created_at=time.time()))
    session.commit()
    return {"site": site.id, "devices": sum(i.count for i in site.inventory), "valid": True}


@router.get("/{site_id}")
def get_site(site_id: SiteId, session: SessionDep, tenant: CurrentTenant) -> dict[str, Any]:
    """A joined site's stored descriptor (its owner only)."""
    row = _owned(session, tenant, site_id)
    return {"site": row.id, "descriptor": json.loads(row.descriptor_json),
            "created_at": row.created_at}


def _store(session: SessionDep, row: JoinedSite, descriptor: Any) -> dict[str, Any]:
    site = _validated(descriptor)
    if site.id != row.id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"id: the descriptor's id '{site.id}' differs from the URL's "
                            f"'{row.id}'; a site cannot be renamed (remove and join again)")
    row.descriptor_json = site.model_dump_json()
    session.commit()
    return {"site": site.id, "devices": sum(i.count for i in site.inventory), "valid": True}


@router.put("/{site_id}")
def replace_site(site_id: SiteId, session: SessionDep, tenant: CurrentTenant,
                 descriptor: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Replace the owner's site descriptor as a whole."""
    return _store(session, _owned(session, tenant, site_id), descriptor)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, ``null`` removes, the rest
    replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


@router.patch("/{site_id}")
def update_site(site_id: SiteId, session: SessionDep, tenant: CurrentTenant,
                patch: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Amend the owner's site with a JSON merge patch (e.g. ``{"pue": 1.2}``)."""
    row = _owned(session, tenant, site_id)
    return _store(session, row, merge_patch(json.loads(row.descriptor_json), patch))


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_site(site_id: SiteId, session: SessionDep, tenant: CurrentTenant) -> None:
    """Remove the owner's site from the network (jobs already placed there keep running)."""
    session.delete(_owned(session, tenant, site_id))
    session.commit()
