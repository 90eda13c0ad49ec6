"""Federation routes (docs/federation.md): the site agents' protocol and the broker's views.

Sites authenticate with their site key (``Authorization: Bearer sk-site-...``, created by
``suanli service admin create-site``); a wrong or revoked key is a 401. A site reaches only its
own assignments: naming another site's lease, or a wrong lease token, is a 409 that says
nothing about the other site. Malformed bodies are 422s naming the field, before anything is
read or written. Tenants read the board of sites and their own ledger with their API key.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status

from suanli.federation.models import FedSite
from suanli.federation.protocol import Heartbeat, LogTail, Pull, Register, Result
from suanli.service.api.deps import (
    CurrentTenant,
    SessionDep,
    StateDep,
    bearer_key,
    unauthorized,
)

router = APIRouter(prefix="/api/v1/federation", tags=["federation"])
LeaseId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[\w-]+$")]


def get_site(request: Request, session: SessionDep) -> FedSite:
    from suanli.federation.registry import site_for_key

    key = bearer_key(request, "missing site key: send 'Authorization: Bearer <site key>' "
                              "(create one with `suanli service admin create-site NAME`)")
    site = site_for_key(session, key)
    if site is None:
        raise unauthorized("invalid or revoked site key")
    session.commit()  # the connection goes back to the pool until the endpoint runs
    return site


CurrentSite = Annotated[FedSite, Depends(get_site)]


def _lease_s(state: StateDep) -> float:
    return float(getattr(state.executor, "lease_s", state.settings.lease_s))


def _conflict(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, str(exc))


@router.post("/register")
def register(body: Register, session: SessionDep, site: CurrentSite,
             state: StateDep) -> dict[str, Any]:
    from suanli.federation.registry import register as do

    if body.descriptor:
        from suanli.network.descriptor import parse_descriptor

        parse_descriptor(body.descriptor, file=f"site {site.id}")  # 400 naming the field
    if body.bench is not None:
        from pydantic import ValidationError

        from suanli.federation.registry import bench_profile
        from suanli.network.descriptor import _error_text

        try:
            bench_profile(body.bench)
        except ValidationError as exc:
            loc, msg = _error_text(exc)
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "bench: not a `suanli "
                                f"bench -o` profile: {loc}: {msg}") from None
    do(session, site, body, time.time())
    lease = _lease_s(state)
    return {"site": site.id, "lease_s": lease, "heartbeat_s": max(0.05, lease / 3)}


@router.post("/heartbeat")
def heartbeat(body: Heartbeat, session: SessionDep, site: CurrentSite,
              state: StateDep) -> dict[str, Any]:
    from suanli.federation.leases import LeaseConflict, renew
    from suanli.federation.registry import heartbeat as do

    now, lease = time.time(), _lease_s(state)
    try:
        out = renew(session, site, body.leases, lease, now)
    except LeaseConflict as exc:
        raise _conflict(exc) from None
    do(session, site, body, now)
    session.commit()
    return {"site": site.id, "lease_s": lease, **out}


@router.post("/pull")
def pull(body: Pull, session: SessionDep, site: CurrentSite, state: StateDep) -> dict[str, Any]:
    from suanli.federation.leases import pull as do

    if site.registered_at is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"site '{site.id}' has not registered: "
                            "POST /api/v1/federation/register first")
    return {"assignments": do(session, site, body.max, _lease_s(state), time.time())}


def _same(path_id: str, body_id: str) -> None:
    if path_id != body_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"id: the body names lease '{body_id}' but the path '{path_id}'")


@router.post("/leases/{lease_id}/logs")
def logs(lease_id: LeaseId, body: LogTail, session: SessionDep, site: CurrentSite,
         state: StateDep) -> dict[str, Any]:
    from suanli.federation.leases import LeaseConflict, post_logs

    _same(lease_id, body.id)
    try:
        return post_logs(session, site, body, _lease_s(state), time.time())
    except LeaseConflict as exc:
        raise _conflict(exc) from None


@router.post("/leases/{lease_id}/result")
def result(lease_id: LeaseId, body: Result, session: SessionDep, site: CurrentSite,
           state: StateDep) -> dict[str, Any]:
    from suanli.federation.leases import LeaseConflict, post_result
    from suanli.federation.ledger import settle

    _same(lease_id, body.id)
    now = time.time()
    try:
        a = post_result(session, site, body, now)
    except LeaseConflict as exc:
        raise _conflict(exc) from None
    row = settle(session, a, state.settings.broker_fee, now)
    return {"id": a.id, "state": a.state, "site_earning": row.site_earning,
            "currency": row.currency, "device_hours": row.device_hours,
            "cpu_hours": row.cpu_hours}


@router.get("/assignments")
def assignments(session: SessionDep, site: CurrentSite) -> dict[str, Any]:
    from suanli.federation.leases import mine

    rows = mine(session, site)
    return {"site": site.id, "assignments": rows, "count": len(rows)}


@router.get("/site/ledger")
def site_ledger(session: SessionDep, site: CurrentSite) -> dict[str, Any]:
    from suanli.federation.ledger import site_ledger as do

    return {"site": site.id, **do(session, site.id)}


@router.get("/sites")
def board(session: SessionDep, _tenant: CurrentTenant, state: StateDep) -> dict[str, Any]:
    """The broker's board of sites (earnings are the sites' own: not shown to tenants)."""
    from suanli.federation.registry import broker_view

    rows = broker_view(session, time.time(), _lease_s(state))
    for r in rows:
        r.pop("earnings")
    return {"sites": rows, "count": len(rows)}


@router.get("/ledger")
def tenant_ledger(session: SessionDep, tenant: CurrentTenant) -> dict[str, Any]:
    from suanli.federation.ledger import tenant_ledger as do

    return do(session, tenant.id)
