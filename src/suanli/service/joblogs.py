"""The service's own copy of each job's output (table ``job_logs``): the last
:data:`~suanli.service.models.LOG_CAP_BYTES` (1 MiB) per job, written by the scheduler while
the job runs and once when it ends, read by ``GET /jobs/{id}/logs``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from suanli.service.models import LOG_CAP_BYTES, JobLog

LOG_LINES = 100_000  # lines asked of the executor per copy (then capped to LOG_CAP_BYTES)


def cap_log(text: str, limit: int = LOG_CAP_BYTES) -> str:
    """The last ``limit`` bytes of ``text`` (UTF-8), cut at a character boundary."""
    raw = text.encode("utf-8", "replace")
    return text if len(raw) <= limit else raw[-limit:].decode("utf-8", "ignore")


def store_log(s: Session, job_id: str, text: str, now: float, final: bool) -> None:
    """Upsert the job's log copy (capped); an empty read never erases an earlier copy."""
    text = cap_log(text.replace("\x00", "\ufffd"))  # PostgreSQL text cannot hold NUL
    row = s.get(JobLog, job_id)
    if row is None:
        s.add(JobLog(job_id=job_id, text=text, updated_at=now, final=final))
    elif text or final:
        row.text, row.updated_at, row.final = text or row.text, now, final
