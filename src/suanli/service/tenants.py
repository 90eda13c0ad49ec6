"""Tenant bootstrap: create a tenant and its API key (shown once, stored hashed)."""

from __future__ import annotations

import secrets
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.errors import InputError
from suanli.service.models import Tenant
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


def rotate_key(session: Session, name: str) -> str:
    """A new API key for tenant ``name``; the old one stops working at once."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise InputError(f"no tenant '{name}'; create it with `suanli service admin "
                         "create-tenant NAME`")
    key = new_api_key()
    tenant.key_hash, tenant.key_prefix = hash_key(key), key[:PREFIX_LEN]
    session.commit()
    return key
