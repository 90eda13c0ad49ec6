"""Tenant administration: create a tenant and its API key (shown once, stored hashed), rotate
the key, set its quota; list and remove joined sites (the operator's side)."""

from __future__ import annotations

import secrets
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.errors import InputError
from suanli.service.models import JoinedSite, Tenant
from suanli.service.security import PREFIX_LEN, hash_key, new_api_key


def create_tenant(session: Session, name: str) -> tuple[Tenant, str]:
    """A new tenant named ``name`` and its API key (the only time the key is available)."""
    name = name.strip()
    if not name or len(name) > 100 or not name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"tenant name '{name}' must be 1-100 letters, digits, '-' or '_'")
    if session.scalar(select(Tenant).where(Tenant.name == name)) is not None:
        raise InputError(f"tenant '{name}' already exists; pick another name")
    key = new_api_key()
    tenant = Tenant(id="t" + secrets.token_hex(8), name=name, key_hash=hash_key(key),
                    key_prefix=key[:PREFIX_LEN], created_at=time.time())
    session.add(tenant)
    session.commit()
    return tenant, key


def _named(session: Session, name: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise InputError(f"no tenant '{name}'; create it with `suanli service admin "
                         "create-tenant NAME`")
    return tenant


def rotate_key(session: Session, name: str) -> str:
    """A new API key for tenant ``name``; the old one stops working at once."""
    tenant = _named(session, name)
    key = new_api_key()
    tenant.key_hash, tenant.key_prefix = hash_key(key), key[:PREFIX_LEN]
    session.commit()
    return key


def set_quota(session: Session, name: str, *, cpus: float | None = None,
              gpus: float | None = None, weight: float | None = None
              ) -> tuple[float, float, float]:
    """Set the nominal quota (CPUs, GPUs; 0 = none) and the fair-share weight of ``name``;
    returns the (cpus, gpus, weight) now in force."""
    import math

    tenant = _named(session, name)
    for what, v, hi in (("cpus", cpus, 1e6), ("gpus", gpus, 1e6), ("weight", weight, 1e3)):
        if v is not None and not (math.isfinite(v) and 0 <= v <= hi):
            raise InputError(f"{what} must be a number in 0..{hi:g}, got {v}")
    if weight is not None and weight <= 0:
        raise InputError(f"weight must be positive, got {weight}")
    if cpus is not None:
        tenant.quota_cpus = cpus or None
    if gpus is not None:
        tenant.quota_gpus = gpus or None
    if weight is not None:
        tenant.weight = weight
    session.commit()
    return tenant.quota_cpus or 0.0, tenant.quota_gpus or 0.0, tenant.weight


def joined_sites(session: Session) -> list[dict[str, object]]:
    """Every joined site: id, owner tenant name, and whether its stored row is still valid."""
    import json

    from suanli.network.descriptor import parse_descriptor
    from suanli.service.hardening import check_site

    names = {tid: n for tid, n in session.execute(select(Tenant.id, Tenant.name))}
    out: list[dict[str, object]] = []
    for r in session.scalars(select(JoinedSite).order_by(JoinedSite.id)):
        why = ""
        try:
            raw = json.loads(r.descriptor_json)
            check_site(raw)
            parse_descriptor(raw, file=f"site {r.id}")
        except Exception as exc:
            why = " ".join(str(exc).split())[:200]
        out.append({"site": r.id, "owner": names.get(r.tenant_id, r.tenant_id),
                    "created_at": r.created_at, "valid": not why, "why": why})
    return out


def remove_site(session: Session, site_id: str) -> str:
    """Remove joined site ``site_id`` whoever owns it; returns the owner's name."""
    row = session.get(JoinedSite, site_id)
    if row is None:
        raise InputError(f"no joined site '{site_id}'; list them with `suanli service admin "
                         "sites`")
    owner = session.get(Tenant, row.tenant_id)
    session.delete(row)
    session.commit()
    return owner.name if owner is not None else row.tenant_id
