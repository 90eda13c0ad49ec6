"""Quotes: the network's ranked offers for a training or inference job
(:func:`suanli.network.quote.quote`), stored per tenant."""

from __future__ import annotations

import json
import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from sqlalchemy import select

from suanli.errors import SuanliError
from suanli.service.api.deps import CurrentTenant, SessionDep
from suanli.service.models import Quote
from suanli.service.netview import network_with_joined
from suanli.service.schemas import QuoteCreate, QuotePublic

router = APIRouter(prefix="/api/v1/quotes", tags=["quotes"])


# Upper bounds of a quote's parsed quantities (units as parsed): beyond them a quote is a typo
BOUNDS = {"tokens": 1e18, "traffic_tokens_per_s": 1e12, "deadline_s": 1e10,  # s (~300 years)
          "budget_usd": 1e15}


def _bounded(job: Any) -> None:
    """Refuse parsed quantities beyond :data:`BOUNDS` (a string like '1e30B' parses fine)."""
    from suanli.errors import InputError

    for name, hi in BOUNDS.items():
        v = getattr(job, name, None)
        if v is not None and not 0 < v <= hi:
            raise InputError(f"{name.removesuffix('_s').removesuffix('_usd')}: {v:.3g} is "
                             f"out of range (at most {hi:.0e})")


def _public(q: Quote) -> dict[str, Any]:
    return {"id": q.id, "created_at": q.created_at, "request": json.loads(q.request_json),
            "offers": json.loads(q.offers_json)}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=QuotePublic)
def create_quote(body: QuoteCreate, session: SessionDep, tenant: CurrentTenant) -> Any:
    from suanli.jsonable import to_jsonable
    from suanli.network.jobs import Filters, parse_job
    from suanli.network.quote import quote

    raw: dict[str, Any] = {"id": "quote", "model": body.model}
    if body.tokens is not None:
        raw.update(kind="train", tokens=body.tokens, spot=body.spot)
        raw.update({k: v for k, v in (("deadline", body.deadline), ("budget", body.budget))
                    if v is not None})
    else:
        raw.update(kind="infer", traffic=body.traffic)
    try:
        job = parse_job(raw, where="quote request")
        _bounded(job)
    except SuanliError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            " ".join(str(exc).split())) from None
    filters = Filters(hardware=tuple(body.hardware), sites=tuple(body.sites))
    warnings: list[str] = []
    offers = quote(network_with_joined(session, warnings), job, filters=filters,
                   rank=body.rank, top=body.top)
    q = Quote(id="q" + secrets.token_hex(10), tenant_id=tenant.id,
              request_json=body.model_dump_json(),
              offers_json=json.dumps(to_jsonable(offers)), created_at=time.time())
    session.add(q)
    session.commit()
    return {**_public(q), "warnings": warnings}


@router.get("/{quote_id}", response_model=QuotePublic)
def get_quote(quote_id: Annotated[str, Path(max_length=40, pattern=r"^[\w-]+$")],
              session: SessionDep, tenant: CurrentTenant) -> Any:
    q = session.scalar(select(Quote).where(Quote.id == quote_id, Quote.tenant_id == tenant.id))
    if q is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"quote '{quote_id}' not found")
    return _public(q)
