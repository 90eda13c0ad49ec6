"""Jobs: submit (idempotent with ``Idempotency-Key``), get, list, cancel, logs.

Every query filters on the caller's tenant; another tenant's job is a 404, indistinguishable
from a job that does not exist.

Idempotency (IETF draft "The Idempotency-Key HTTP Header Field"): a key is remembered with a
SHA-256 fingerprint of the request body for :data:`IDEMPOTENCY_WINDOW_S` (24 h). Within the
window the same key and body answer the first response again (the job, 201, with
``Idempotent-Replayed: true``); the same key with another body is a 422 saying so. After the
window the key is free again and starts a new job.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from suanli.service.api.deps import CurrentTenant, SessionDep, StateDep
from suanli.service.models import STATES, TERMINAL, Job, JobLog, Quote
from suanli.service.schemas import JobCreate, JobList, JobPublic
from suanli.service.state import RETRY_AFTER_S, engine_problem
from suanli.service.workload_jobs import WORKLOAD_KINDS, plan_job

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200,
                                       pattern=r"^[\x20-\x7e]+$")]
JobId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[\w-]+$")]
IDEMPOTENCY_WINDOW_S = 24 * 3600.0  # seconds a key is remembered


def fingerprint(body: JobCreate) -> str:
    """SHA-256 of the request body in canonical JSON (sorted keys, defaults filled in)."""
    canon = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def _replay(session: SessionDep, tenant_id: str, key: str, digest: str, now: float,
            response: Response) -> Job | None:
    """The job a live key made (422 if its body differs); None when the key is new or expired
    (an expired key is released)."""
    old = session.scalar(select(Job).where(Job.tenant_id == tenant_id,
                                           Job.idempotency_key == key))
    if old is None:
        return None
    if now - old.created_at > IDEMPOTENCY_WINDOW_S:
        old.idempotency_key = None  # expired: the key may start a new job
        session.commit()
        return None
    if old.request_hash is not None and old.request_hash != digest:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"Idempotency-Key '{key}' was already used with a different "
                            f"request body (job {old.id}); use a new key for a new request, "
                            "or resend the same body")
    response.status_code = status.HTTP_201_CREATED
    response.headers["Idempotent-Replayed"] = "true"
    return old


def _own(session: SessionDep, tenant: CurrentTenant, job_id: str) -> Job:
    job = session.scalar(select(Job).where(Job.id == job_id, Job.tenant_id == tenant.id))
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job '{job_id}' not found; list yours "
                            "with GET /api/v1/jobs")
    return job


def _from_quote(session: SessionDep, tenant: CurrentTenant, quote_id: str,
                offer: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the offers, the request) of the tenant's quote ``quote_id``; 422 when the quote or
    the offer index does not exist."""
    q = session.scalar(select(Quote).where(Quote.id == quote_id, Quote.tenant_id == tenant.id))
    if q is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"quote_id: quote '{quote_id}' not found; create one with "
                            "POST /api/v1/quotes")
    offers = json.loads(q.offers_json)
    if offer >= len(offers):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"offer: quote '{quote_id}' has {len(offers)} offers (0.."
                            f"{len(offers) - 1}), got {offer}")
    return offers, json.loads(q.request_json)


def _offer_job(session: SessionDep, tenant: CurrentTenant, state: StateDep,
               body: JobCreate) -> tuple[dict[str, Any], float] | JSONResponse:
    """(the offer record, GPUs) of a job submitted from a quote's offer, or the 409 answer
    when the offer's site cannot take it now (:mod:`suanli.service.offers`)."""
    from suanli.service.offers import check_offer, devices_of, offer_record

    assert body.quote_id is not None
    if body.kind in WORKLOAD_KINDS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"kind '{body.kind}' runs its own GPT shape on CPUs; submit a "
                            "quote's offer as a 'command' or 'python' job")
    given = body.model_fields_set & {"site", "hardware", "gpus"}
    if given:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"{', '.join(sorted(given))}: a job from a quote's offer runs on "
                            "the offer's site, hardware and devices; drop these fields (or "
                            "pick another offer)")
    offers, request = _from_quote(session, tenant, body.quote_id, body.offer)
    refused = check_offer(session, state.executor, offers, body.offer, body.cpus)
    if refused is not None:
        why, nxt = refused
        hint = ("no other offer of this quote can run now either" if nxt is None else
                f"offer {nxt['offer']} ({nxt['devices']} x {nxt['hardware']} at "
                f"{nxt['site']}) can: resubmit with \"offer\": {nxt['offer']}")
        return JSONResponse(status_code=status.HTTP_409_CONFLICT, content={
            "detail": f"offer {body.offer} of quote '{body.quote_id}' cannot run now: {why}; "
                      f"{hint}", "reason": why, "next_offer": nxt})
    offer = offers[body.offer]
    return offer_record(body.quote_id, body.offer, offer, request), devices_of(offer)


def _from_plan(body: JobCreate) -> float:
    """Predicted duration (s) of training ``model`` on ``tokens`` with ``gpus`` devices of
    ``hardware``: the planner's best plan (:func:`suanli.plan.api.best_training_plan`)."""
    from suanli.errors import InputError
    from suanli.plan.api import best_training_plan

    if body.hardware is None or body.tokens is None or body.model is None or body.gpus < 1:
        raise InputError("a predicted training job needs 'model', 'tokens', 'hardware' and "
                         "gpus >= 1 (or give predicted_duration_s)")
    plan = best_training_plan(body.model, body.hardware, int(body.gpus), body.tokens)
    return plan.days * 86400.0  # seconds


@router.post("", status_code=status.HTTP_201_CREATED, response_model=JobPublic)
def submit(body: JobCreate, session: SessionDep, tenant: CurrentTenant, response: Response,
           state: StateDep, idempotency_key: IdemKey = None) -> Any:
    now, digest = time.time(), fingerprint(body)
    if idempotency_key is not None:
        old = _replay(session, tenant.id, idempotency_key, digest, now, response)
        if old is not None:
            return old
    problem = engine_problem(state, now)
    if problem is not None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"the execution engine is unreachable ({problem}); no new jobs are "
                            f"taken until it is back: retry in {RETRY_AFTER_S} s",
                            headers={"Retry-After": str(RETRY_AFTER_S)})
    predicted = (body.predicted_duration_s, body.predicted_cost_usd)
    entrypoint, args, cpus, figures = body.entrypoint, body.args, body.cpus, None
    if body.kind in WORKLOAD_KINDS:  # a real GPT workload, predicted from the bench profile
        try:
            entrypoint, args, cpus, figures = plan_job(body, state.settings.bench_profile)
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    gpus, site, hardware, offer = body.gpus, body.site, body.hardware, None
    if body.quote_id is not None:  # pinned to the offer's site, hardware and devices
        taken = _offer_job(session, tenant, state, body)
        if isinstance(taken, JSONResponse):
            return taken
        offer, gpus = taken
        site, hardware = offer["site"], offer["hardware"]
    elif body.model is not None and body.predicted_duration_s is None:
        predicted = (_from_plan(body), body.predicted_cost_usd)
    if body.input is not None:  # a place the network knows, or 422 naming close ones
        from suanli.errors import InputError
        from suanli.federation.locality import check_place

        try:
            check_place(session, body.input.location)
        except InputError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"input.location: "
                                f"{exc}") from None
    job = Job(id="j" + secrets.token_hex(10), tenant_id=tenant.id,
              idempotency_key=idempotency_key, request_hash=digest, name=body.name,
              kind=body.kind,
              command=body.command, entrypoint=entrypoint,
              args_json=json.dumps(args), cpus=cpus, gpus=gpus,
              memory_mb=body.memory_mb, site_request=site, model=body.model,
              tokens=body.tokens, hardware=hardware, state="submitted", created_at=now,
              predicted_duration_s=predicted[0], predicted_cost_usd=predicted[1],
              cancel_requested=False, usd_per_hour=0.0, max_retries=body.max_retries,
              attempts=0, network=body.network, wall_time_s=body.wall_time_s,
              predicted_json=None if figures is None else json.dumps(figures),
              offer_json=None if offer is None else json.dumps(offer),
              input_json=None if body.input is None else json.dumps(body.input.model_dump()))
    session.add(job)
    try:
        session.commit()
    except IntegrityError:  # a concurrent request with the same key won the race
        session.rollback()
        old = None if idempotency_key is None else _replay(
            session, tenant.id, idempotency_key, digest, now, response)
        if old is None:
            raise
        return old
    return job


@router.get("", response_model=JobList)
def list_jobs(session: SessionDep, tenant: CurrentTenant,
              state: Annotated[str | None, Query(max_length=16)] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
    q = select(Job).where(Job.tenant_id == tenant.id)
    if state is not None:
        if state not in STATES:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"state '{state}' is not one of {', '.join(STATES)}")
        q = q.where(Job.state == state)
    jobs = list(session.scalars(q.order_by(Job.created_at.desc()).limit(limit)))
    return {"jobs": jobs, "count": len(jobs)}


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: JobId, session: SessionDep, tenant: CurrentTenant) -> Any:
    return _own(session, tenant, job_id)


@router.post("/{job_id}/cancel", response_model=JobPublic, status_code=202)
def cancel(job_id: JobId, session: SessionDep, tenant: CurrentTenant) -> Any:
    """Cancel: a job not yet handed off is cancelled at once (one conditional UPDATE, so a
    racing placement loses); a handed-off one is stopped by the scheduler's next pass."""
    job = _own(session, tenant, job_id)
    if job.state in TERMINAL:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"job '{job_id}' already {job.state}; nothing to cancel")
    session.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True))
    session.execute(update(Job).where(Job.id == job.id,
                                      Job.state.in_(("submitted", "quoted")))
                    .values(state="cancelled", finished_at=time.time(),
                            error="cancelled before it ran"))
    session.commit()
    session.refresh(job)
    return job


@router.get("/{job_id}/logs")
def logs(job_id: JobId, session: SessionDep, tenant: CurrentTenant,
         tail: Annotated[int, Query(ge=1, le=10000)] = 200) -> dict[str, Any]:
    """The last ``tail`` lines of the job's output, from the service's own copy (refreshed by
    the scheduler about every second while the job runs, and once when it ends; capped at the
    last 1 MiB), so it answers whatever happened to the engine since."""
    job = _own(session, tenant, job_id)
    row = session.get(JobLog, job.id)
    lines = [] if row is None else row.text.splitlines()
    text = "\n".join(lines[-tail:]) + ("\n" if lines else "")
    return {"job_id": job.id, "state": job.state, "logs": text,
            "complete": bool(row is not None and row.final),
            "updated_at": None if row is None else row.updated_at}
