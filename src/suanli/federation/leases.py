"""Assignments under leases: the broker's side of "pull, renew, report".

An assignment is one attempt of a job at one site (id ``fa-<submission id>``, so a scheduler
that hands the same attempt off twice finds the same row). Its lease starts when the broker
assigns it and is renewed by every heartbeat that lists it and every log upload; a lease not
renewed for ``lease_s`` seconds *expires*: the attempt is cancelled, the site's missed-lease
count grows, and the live scheduler sees the run LOST and requeues the job elsewhere
(:mod:`suanli.service.scheduler`). A pulled assignment carries a lease token (random, shown
once, stored hashed); every later call about it must come from its site with that token.

Refusals (docs/federation.md, "Failure cases"): another site's assignment, a wrong token, an
ended or expired lease: :class:`LeaseConflict` (409), nothing changed.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suanli.federation.models import LEASE_ACTIVE, FedAssignment, FedSite
from suanli.federation.protocol import LeaseRef, LogTail, Result
from suanli.service.executors.base import JobSpec
from suanli.service.joblogs import cap_log
from suanli.service.security import hash_key


class LeaseConflict(Exception):
    """A request about a lease the caller does not hold (HTTP 409)."""


def site_text(text: str) -> str:
    """A log tail a site sent, as stored: NUL bytes replaced (U+FFFD), capped as job logs
    are (:func:`suanli.service.joblogs.cap_log`)."""
    return cap_log(text.replace("\x00", "\ufffd"))


def assignment_id(spec: JobSpec) -> str:
    return "fa-" + spec.job_id


def attempt_of(spec: JobSpec) -> int:
    head, _, run = spec.job_id.rpartition("-r")
    return int(run) if head and run.isdigit() else 0


def _row(spec: JobSpec, site: FedSite, lease_s: float, now: float) -> dict[str, Any]:
    price = {"currency": site.currency, "cpu_hour": site.cpu_price, "gpu_hour": site.gpu_price}
    return {"id": assignment_id(spec), "job_id": spec.env.get("SUANLI_JOB_ID", spec.job_id),
            "site_id": site.id, "attempt": attempt_of(spec),
            "spec_json": json.dumps(asdict(spec)), "price_json": json.dumps(price),
            "state": "assigned", "created_at": now, "expires_at": now + lease_s,
            "cancel_requested": False, "message": "", "logs": ""}


def assign(s: Session, spec: JobSpec, site: FedSite, lease_s: float, now: float) -> str:
    """Create (or find) the assignment of ``spec`` at ``site``; its handle."""
    from sqlalchemy.exc import IntegrityError

    row = _row(spec, site, lease_s, now)
    s.add(FedAssignment(**row))
    try:
        s.commit()
    except IntegrityError:  # handed off before (a scheduler restart): the same attempt
        s.rollback()
        if s.get(FedAssignment, row["id"]) is None:
            raise
    return str(row["id"])


def assign_many(s: Session, rows: list[tuple[JobSpec, FedSite]], lease_s: float,
                now: float) -> bool:
    """Create the assignments of ``rows`` in one INSERT and one commit; False (nothing
    written) when one of them exists already (the caller then goes one by one, :func:`assign`).
    """
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    try:
        s.execute(insert(FedAssignment), [_row(spec, site, lease_s, now)
                                          for spec, site in rows])
        s.commit()
    except IntegrityError:
        s.rollback()
        return False
    return True


def expire(s: Session, a: FedAssignment, now: float) -> bool:
    """End ``a`` if its lease ran out (a conditional UPDATE: a result racing in loses or
    wins as a whole); True when it is (now) expired."""
    if a.state == "expired":
        return True
    if a.state not in LEASE_ACTIVE or a.expires_at >= now:
        return False
    res = s.execute(update(FedAssignment).where(FedAssignment.id == a.id,
                                                FedAssignment.state.in_(LEASE_ACTIVE),
                                                FedAssignment.expires_at < now)
                    .values(state="expired", finished_at=now,
                            message=f"site '{a.site_id}' missed its lease (not renewed for "
                                    f"{now - a.expires_at:.1f} s past its end); attempt "
                                    "cancelled, the job is requeued")
                    .execution_options(synchronize_session=False))
    if getattr(res, "rowcount", 0) == 1:
        s.execute(update(FedSite).where(FedSite.id == a.site_id)
                  .values(missed_leases=FedSite.missed_leases + 1))
    s.commit()
    s.refresh(a)
    return a.state == "expired"


def pull(s: Session, site: FedSite, n: int, lease_s: float, now: float) -> list[dict[str, Any]]:
    """Up to ``n`` not yet pulled assignments of ``site``, each with a fresh lease token."""
    out = []
    rows = s.scalars(select(FedAssignment).where(
        FedAssignment.site_id == site.id, FedAssignment.state == "assigned",
        FedAssignment.token_hash.is_(None), FedAssignment.cancel_requested.is_(False))
        .order_by(FedAssignment.created_at).limit(n))
    for a in list(rows):
        if expire(s, a, now):
            continue
        token = secrets.token_urlsafe(24)
        a.token_hash, a.expires_at = hash_key(token), now + lease_s
        out.append({"id": a.id, "token": token, "job_id": a.job_id, "attempt": a.attempt,
                    "spec": json.loads(a.spec_json), "lease_s": lease_s,
                    "expires_at": a.expires_at})
    s.commit()
    return out


def _own(a: FedAssignment | None, site: FedSite, ref: LeaseRef) -> None:
    """:class:`LeaseConflict` unless ``a`` is ``site``'s and ``ref`` has its token."""
    if a is None or a.site_id != site.id:  # never say whose it is
        raise LeaseConflict(f"lease '{ref.id}' is not held by site '{site.id}'")
    if a.token_hash is None or not secrets.compare_digest(a.token_hash, hash_key(ref.token)):
        raise LeaseConflict(f"lease '{ref.id}': wrong lease token")


def _ended(s: Session, a: FedAssignment | None, site: FedSite, ref: LeaseRef,
           now: float) -> tuple[FedAssignment, bool]:
    """``a`` if ``site`` holds it with ``ref``'s token (:func:`_own`), and whether its lease
    has ended (run out now, or no longer active)."""
    _own(a, site, ref)
    assert a is not None
    return a, expire(s, a, now) or a.state not in LEASE_ACTIVE


def held(s: Session, site: FedSite, ref: LeaseRef, now: float) -> FedAssignment:
    """The live assignment ``ref`` names, if ``site`` holds it with the right token."""
    a, ended = _ended(s, s.get(FedAssignment, ref.id), site, ref, now)
    if ended:
        raise LeaseConflict(f"lease '{ref.id}' has ended ({a.state}): {a.message or 'done'}; "
                            "stop the run, its result is not accepted")
    return a


def renew(s: Session, site: FedSite, refs: list[LeaseRef], lease_s: float,
          now: float) -> dict[str, list[str]]:
    """Renew every lease in ``refs``. Another site's lease or a wrong token anywhere: 409 and
    nothing renewed; an own lease that has ended is listed under ``abandon`` (the agent stops
    its run); a live one whose job was cancelled under ``cancel``. The leases are read in one
    query and renewed in one UPDATE (the checks are :func:`held`'s)."""
    rows = {a.id: a for a in s.scalars(select(FedAssignment).where(
        FedAssignment.id.in_({r.id for r in refs})))} if refs else {}
    live, abandon = [], []
    for ref in refs:
        a, ended = _ended(s, rows.get(ref.id), site, ref, now)
        if ended:
            abandon.append(ref.id)
        else:
            live.append(a)
    if live:
        s.execute(update(FedAssignment).where(FedAssignment.id.in_([a.id for a in live]),
                                              FedAssignment.state.in_(LEASE_ACTIVE))
                  .values(expires_at=now + lease_s).execution_options(synchronize_session=False))
    # Work handed to the site but not pulled yet waits on the site, not the other way round:
    # a heartbeat keeps those leases too (one not pulled before its lease ended stays ended).
    s.execute(update(FedAssignment).where(FedAssignment.site_id == site.id,
                                          FedAssignment.state == "assigned",
                                          FedAssignment.token_hash.is_(None),
                                          FedAssignment.expires_at >= now)
              .values(expires_at=now + lease_s).execution_options(synchronize_session=False))
    return {"abandon": abandon, "cancel": [a.id for a in live if a.cancel_requested]}


def post_logs(s: Session, site: FedSite, body: LogTail, lease_s: float,
              now: float) -> dict[str, Any]:
    a = held(s, site, body, now)
    a.logs = site_text(body.text)
    if body.running and a.state == "assigned":
        a.state, a.started_at = "running", a.started_at or now
    a.expires_at = now + lease_s
    s.commit()
    return {"cancel": a.cancel_requested, "expires_at": a.expires_at}


def post_result(s: Session, site: FedSite, body: Result, now: float) -> FedAssignment:
    """Accept the result of a live lease (once: the lease then ends). Not committed: the
    caller settles the job in the same transaction (:func:`suanli.federation.ledger.settle`),
    so an accepted result and its ledger row are written together or not at all."""
    a = held(s, site, body, now)
    res = s.execute(update(FedAssignment).where(FedAssignment.id == a.id,
                                                FedAssignment.state.in_(LEASE_ACTIVE))
                    .values(state=body.state, exit_code=body.exit_code,
                            message=body.message[:4000],
                            started_at=max(body.started_at, a.created_at),
                            finished_at=min(body.finished_at, now),
                            logs=site_text(body.logs) or a.logs,
                            result_json=None if body.record is None
                            else json.dumps(body.record))
                    .execution_options(synchronize_session=False))
    if getattr(res, "rowcount", 0) != 1:
        s.rollback()
        raise LeaseConflict(f"lease '{a.id}' ended while its result arrived")
    col = FedSite.completed_jobs if body.state == "succeeded" else FedSite.failed_jobs
    s.execute(update(FedSite).where(FedSite.id == site.id).values({col.key: col + 1}))
    s.refresh(a)  # the row as written (one read inside the transaction)
    return a


def request_cancel(s: Session, aid: str, now: float) -> None:
    """Ask the site to stop ``aid``; one not yet pulled is cancelled at once."""
    s.execute(update(FedAssignment).where(FedAssignment.id == aid)
              .values(cancel_requested=True))
    s.execute(update(FedAssignment).where(FedAssignment.id == aid,
                                          FedAssignment.state == "assigned",
                                          FedAssignment.token_hash.is_(None))
              .values(state="cancelled", finished_at=now, message="cancelled before the "
                      "site pulled it"))
    s.commit()


def mine(s: Session, site: FedSite, limit: int = 200) -> list[dict[str, Any]]:
    """The site's own assignments, newest first (never another site's)."""
    rows = s.scalars(select(FedAssignment).where(FedAssignment.site_id == site.id)
                     .order_by(FedAssignment.created_at.desc()).limit(limit))
    return [{"id": a.id, "job_id": a.job_id, "attempt": a.attempt, "state": a.state,
             "expires_at": a.expires_at, "cancel_requested": a.cancel_requested,
             "exit_code": a.exit_code, "message": a.message} for a in rows]
