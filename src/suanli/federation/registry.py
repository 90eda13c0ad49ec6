"""Sites of the federation: their keys (created and revoked by the operator, stored hashed),
registration, heartbeats, and the broker's view of each site.

A site key is ``sk-site-`` + 32 random bytes: it authenticates one site and nothing else (it is
no tenant key; the service's log redaction covers it). Only ``sha256(key)`` is stored, as for
tenant keys (:mod:`suanli.service.security`). A revoked key answers 401 at once; the site's
live assignments then expire with their leases and are requeued elsewhere.
"""

from __future__ import annotations

import json
import re
import time
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.errors import InputError
from suanli.federation.models import LEASE_ACTIVE, FedAssignment, FedLedger, FedSite
from suanli.federation.protocol import SITE_NAME, Heartbeat, Register, in_window
from suanli.service.security import PREFIX_LEN, hash_key

KEY_PREFIX = "sk-site-"


def new_site_key() -> str:
    import secrets

    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_site(session: Session, name: str) -> tuple[FedSite, str]:
    """A new federated site ``name`` and its key (the only time the key is available)."""
    name = name.strip()
    if not re.match(SITE_NAME, name):
        raise InputError(f"site name '{name}' must be 1-100 letters, digits, '.', '-' or '_', "
                         "starting with a letter or digit")
    if session.get(FedSite, name) is not None:
        raise InputError(f"site '{name}' already exists; revoke it or pick another name")
    key = new_site_key()
    site = FedSite(id=name, key_hash=hash_key(key), key_prefix=key[:PREFIX_LEN + 5],
                   created_at=time.time(), declared_cpus=0.0, declared_gpus=0.0, cpus=0.0,
                   gpus=0.0, healthy=False, draining=False, windows_json="[]", currency="USD",
                   cpu_price=0.0, gpu_price=0.0, heartbeats=0, missed_leases=0, failed_jobs=0,
                   completed_jobs=0)
    session.add(site)
    session.commit()
    return site, key


def revoke_site(session: Session, name: str) -> None:
    """Revoke site ``name``'s key: its requests answer 401 from now on."""
    site = session.get(FedSite, name)
    if site is None:
        raise InputError(f"no federated site '{name}'; list them with `suanli service admin "
                         "fed-sites`")
    site.revoked_at = time.time()
    site.healthy = False
    session.commit()


def site_for_key(session: Session, key: str) -> FedSite | None:
    """The live (not revoked) site whose key is ``key``; None otherwise."""
    site = session.scalar(select(FedSite).where(FedSite.key_hash == hash_key(key)))
    return site if site is not None and site.revoked_at is None else None


def register(session: Session, site: FedSite, body: Register, now: float) -> None:
    site.descriptor_json = json.dumps(body.descriptor)
    site.bench_json = None if body.bench is None else json.dumps(body.bench)
    site.engine, site.registered_at = body.engine, now
    site.declared_cpus, site.declared_gpus = body.cpus, body.gpus
    session.commit()


def heartbeat(session: Session, site: FedSite, body: Heartbeat, now: float) -> None:
    """Record the site's state (the leases it lists are renewed by the caller)."""
    if site.registered_at is None:
        raise InputError(f"site '{site.id}' has not registered: POST /api/v1/federation/"
                         "register first")
    site.last_seen, site.cpus, site.gpus = now, body.cpus, body.gpus
    site.healthy, site.draining = body.healthy, body.draining
    site.windows_json = json.dumps([w.model_dump() for w in body.windows])
    site.currency = body.price.currency
    site.cpu_price, site.gpu_price = body.price.cpu_hour, body.price.gpu_hour
    site.heartbeats += 1


def site_state(site: FedSite, now: float, lease_s: float) -> str:
    """revoked, new (never registered), offline (not heard from within a lease period),
    unhealthy, draining, closed (outside its availability windows) or live."""
    return ("revoked" if site.revoked_at is not None
            else "new" if site.registered_at is None
            else "offline" if site.last_seen is None or now - site.last_seen > lease_s
            else "unhealthy" if not site.healthy else "draining" if site.draining
            else "closed" if not in_window(json.loads(site.windows_json), now) else "live")


def live(site: FedSite, now: float, lease_s: float) -> bool:
    """May the broker give ``site`` new work now? Registered, key valid, heard from within a
    lease period, healthy, not draining, inside an availability window."""
    return site_state(site, now, lease_s) == "live"


def bench_profile(bench: dict[str, Any]) -> Any:
    """The :class:`~suanli.bench.profile.DeviceProfile` in a ``suanli bench -o`` document
    (top-level ``measured:`` or the profile itself); pydantic's error when it is none."""
    from suanli.bench.profile import DeviceProfile

    return DeviceProfile.model_validate(bench.get("measured", bench))


def _measured(site: FedSite) -> dict[str, Any] | None:
    """What the site's bench profile measured: its best GEMM rate (TFLOP/s) and streaming
    bandwidth (GB/s) (:class:`~suanli.bench.profile.DeviceProfile`), hardware, threads."""
    return None if not site.bench_json else dict(_measured_of(site.bench_json))


@lru_cache(maxsize=1024)
def _measured_of(bench_json: str) -> dict[str, Any]:
    """:func:`_measured` of one stored profile, validated once (the board is read often, a
    profile changes only when its site registers again)."""
    prof = bench_profile(json.loads(bench_json))
    return {"hardware": prof.hardware.get("name"), "threads": prof.hardware.get("threads"),
            "gemm_tflops": round(prof.peak_gemm_flops / 1e12, 4),
            "stream_gbs": round(prof.memory_bw / 1e9, 2)}


def _declared(site: FedSite) -> dict[str, Any]:
    inv = [] if not site.descriptor_json else json.loads(site.descriptor_json).get(
        "inventory") or []
    return {"cpus": site.declared_cpus, "gpus": site.declared_gpus,
            "inventory": [f"{x.get('count')}x {x.get('hardware')}" for x in inv][:20]}


def broker_view(session: Session, now: float, lease_s: float) -> list[dict[str, Any]]:
    """One row per site: state, capacity declared vs offered now, what it runs (utilization),
    price, earnings per currency, measured capability, reliability."""
    from suanli.service.models import Job

    busy: dict[str, int] = {}
    held: dict[str, float] = {}
    for sid, n, cpus in session.execute(  # live assignments and the CPUs they hold, one scan
            select(FedAssignment.site_id, func.count(), func.sum(Job.cpus))
            .join(Job, Job.id == FedAssignment.job_id)
            .where(FedAssignment.state.in_(LEASE_ACTIVE)).group_by(FedAssignment.site_id)):
        busy[sid], held[sid] = int(n), float(cpus or 0.0)
    earned = {sid: (float(e), float(u), int(n)) for sid, e, u, n in session.execute(
        select(FedLedger.site_id, func.sum(FedLedger.site_earning),
               func.sum(FedLedger.site_earning_usd), func.count()).group_by(FedLedger.site_id))}
    rows = []
    for s in session.scalars(select(FedSite).order_by(FedSite.id)):
        state = site_state(s, now, lease_s)
        e, u, n = earned.get(s.id, (0.0, 0.0, 0))
        cap = s.cpus or s.declared_cpus
        attempts = s.completed_jobs + s.failed_jobs + s.missed_leases
        rows.append({
            "site": s.id, "state": state, "engine": s.engine,
            "last_seen_s": None if s.last_seen is None else round(now - s.last_seen, 3),
            "declared": _declared(s),
            "offered": {"cpus": s.cpus, "gpus": s.gpus},
            "measured": _measured(s),
            "running": int(busy.get(s.id, 0)), "cpus_held": held.get(s.id, 0.0),
            "utilization": round(held.get(s.id, 0.0) / cap, 4) if cap else 0.0,
            "price": {"currency": s.currency, "cpu_hour": s.cpu_price, "gpu_hour": s.gpu_price},
            "earnings": {"currency": s.currency, "amount": e, "usd": u, "jobs": n},
            "reliability": {"completed": s.completed_jobs, "failed_jobs": s.failed_jobs,
                            "missed_leases": s.missed_leases,
                            "success_rate": round(s.completed_jobs / attempts, 4)
                            if attempts else None}})
    return rows
