"""One scheduler in charge: a lock on SQLite state, leader election on PostgreSQL.

- SQLite: :func:`lock_state_dir` takes an exclusive ``flock`` on ``<db file>.lock`` for the
  life of the process; a second ``suanli service up`` on the same state fails at once with a
  one-line reason (two writers scheduling the same jobs recorded successes as failures).
- PostgreSQL: several instances share the database; each tries a session-level advisory lock
  (``pg_try_advisory_lock``) on a connection of its own. The holder leads the scheduler, the
  others serve the API and retry every pass. PostgreSQL drops the lock with the session, so a
  leader killed with ``kill -9`` (its socket closed) frees it at once and a standby takes over
  on its next try. The leader checks its lock connection every pass and steps down if it is
  gone.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, text

from suanli.errors import InputError

log = logging.getLogger("suanli.service")
ADVISORY_KEY = 0x5375616E6C69  # "Suanli": the advisory lock id every instance competes for


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    return None if not path or path == ":memory:" else Path(path).expanduser()


def lock_state_dir(url: str) -> IO[str] | None:
    """Hold an exclusive lock on a SQLite state for the process life (keep the returned file
    open). Raises :class:`InputError` when another process holds it; None for PostgreSQL."""
    import fcntl
    import os

    db = sqlite_path(url)
    if db is None:
        return None
    db.parent.mkdir(parents=True, exist_ok=True)
    f = open(db.with_name(db.name + ".lock"), "a+")  # noqa: SIM115 (held for the process life)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise InputError(f"state {db} is in use by {holder}: one `suanli service up` per "
                         "SQLite state (stop it, pick another --data-dir, or use PostgreSQL "
                         "for several instances)") from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}\n")
    f.flush()
    return f


class Leadership:
    """Who runs the scheduler. SQLite (already locked by :func:`lock_state_dir`, or a test):
    always the leader. PostgreSQL: the holder of the advisory lock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.shared = engine.dialect.name == "postgresql"
        self._conn: Any = None

    def is_leader(self) -> bool:
        """Try to lead (or check that we still do); False while another instance leads."""
        if not self.shared:
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception as exc:  # lock connection gone: the lock went with it
                log.warning("lost the scheduler lock (%s); standing by", exc)
                self.release()
        try:
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                               {"k": ADVISORY_KEY}).scalar()
            conn.commit()
        except Exception as exc:
            log.warning("cannot reach the database to lead: %s", exc)
            return False
        if got:
            self._conn = conn
            log.info("leading the scheduler (advisory lock %#x)", ADVISORY_KEY)
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
