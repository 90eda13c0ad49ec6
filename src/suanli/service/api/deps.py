"""Annotated dependencies: the database session, the current tenant, the app state.

``CurrentTenant`` reads ``Authorization: Bearer <key>``, hashes the key and looks the hash up;
a missing or wrong key is a 401 that never echoes the key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.service.models import Tenant
from suanli.service.security import hash_key
from suanli.service.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.suanli
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail,
                         headers={"WWW-Authenticate": "Bearer"})


def bearer_key(request: Request, missing: str) -> str:
    """The key of an ``Authorization: Bearer <key>`` header; 401 with ``missing`` without one."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise unauthorized(missing)
    return key.strip()


def get_tenant(request: Request, session: SessionDep) -> Tenant:
    key = bearer_key(request, "missing API key: send 'Authorization: Bearer <key>' (create one "
                              "with `suanli service admin create-tenant NAME`)")
    tenant = session.scalar(select(Tenant).where(Tenant.key_hash == hash_key(key)))
    if tenant is None:
        raise unauthorized("invalid API key")
    # hand the connection back while the request waits for a worker thread for its endpoint:
    # parked requests holding connections starve the threads that need one (pool timeouts)
    session.commit()
    return tenant


CurrentTenant = Annotated[Tenant, Depends(get_tenant)]
