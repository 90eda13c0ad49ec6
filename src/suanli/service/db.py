"""Engine, sessions and schema migrations.

SQLite gets WAL journaling (readers never block the writer), ``synchronous=NORMAL`` (durable at
each checkpoint; with WAL a crash of the process loses nothing committed) and a 5 s busy timeout.
PostgreSQL is used as given by its URL. The schema is created and upgraded by Alembic
(``migrations/``), programmatically at startup: ``upgrade(url)``; on PostgreSQL under an
advisory lock, so instances starting together migrate one after the other.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file URL (SQLite creates the file, not its folder)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


WRITE_WAIT_S = 5.0  # as the busy timeout: past it, SQLite's own wait takes over


def _writer_serialized(lock: threading.Lock) -> type[sqlite3.Connection]:
    """A ``sqlite3.Connection`` class whose write transactions, within this process, take
    ``lock`` first: from the statement that opens one (Python's sqlite3 issues ``BEGIN`` before
    the first INSERT/UPDATE/DELETE) to its commit, rollback or close.

    Why: SQLite admits one writer; a second one waits in its busy handler, which *sleeps* in
    steps of 1, 2, 5, 10, ... 100 ms and so wakes up to 100 ms after the lock is free (an API
    submission behind a scheduler commit). A waiter on ``lock`` wakes as soon as it is released.
    Other processes (the admin CLI) still meet SQLite's lock and busy timeout. A thread that
    already holds ``lock`` on another connection skips it (SQLite then decides, as before), and
    after :data:`WRITE_WAIT_S` a waiter goes on to SQLite's own wait, so this never deadlocks.
    """
    owner: list[int | None] = [None]

    class Cursor(sqlite3.Cursor):
        def _guarded(self, run: Any, sql: str, *args: Any) -> Any:
            conn = self.connection
            assert isinstance(conn, Conn)
            conn.before(sql)
            try:
                return run(sql, *args)
            finally:
                conn.after()

        def execute(self, sql: str, *args: Any) -> Any:
            return self._guarded(super().execute, sql, *args)

        def executemany(self, sql: str, *args: Any) -> Any:
            return self._guarded(super().executemany, sql, *args)

    class Conn(sqlite3.Connection):
        held = False

        def cursor(self, factory: Any = Cursor) -> Any:
            return super().cursor(factory)

        def before(self, sql: str) -> None:
            if self.held or self.in_transaction or \
                    sql.lstrip()[:6].upper() not in ("INSERT", "UPDATE", "DELETE", "REPLAC"):
                return
            me = threading.get_ident()
            if owner[0] != me and lock.acquire(timeout=WRITE_WAIT_S):
                owner[0], self.held = me, True

        def after(self) -> None:
            if self.held and not self.in_transaction:  # autocommit, or the statement failed
                self.release()

        def release(self) -> None:
            if self.held:
                self.held, owner[0] = False, None
                lock.release()

        def _ending(self, end: Any, release: Any) -> None:
            try:
                end()
            finally:
                release()

        def commit(self) -> None:
            self._ending(super().commit, self.after)

        def rollback(self) -> None:
            self._ending(super().rollback, self.after)

        def close(self) -> None:
            self._ending(super().close, self.release)

    return Conn


def writing(s: Session) -> bool:
    """Does ``s`` hold a write transaction now (on SQLite: the database's one write lock)?
    Python's sqlite3 opens a transaction only before a write; other drivers are taken to be
    writing whenever a transaction is open."""
    if not s.in_transaction():
        return False
    dbapi = s.connection().connection.dbapi_connection
    return bool(getattr(dbapi, "in_transaction", True))


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and WAL switched on."""
    _sqlite_dir(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 5.0,
                                                  "factory": _writer_serialized(
                                                      threading.Lock())},
                               pool_size=20, max_overflow=20)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


MIGRATION_KEY = 0x5375616E6C6A  # advisory lock id held while one instance migrates


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """On PostgreSQL, one instance migrates at a time (instances starting together would race
    to create the same tables); SQLite state is already locked per process."""
    if not url.startswith("postgresql"):
        yield
        return
    from sqlalchemy import pool, text

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_KEY})
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """``alembic upgrade head`` on ``url`` (creates the schema on an empty database)."""
    from alembic import command
    from sqlalchemy.exc import OperationalError

    from suanli.errors import InputError

    _sqlite_dir(url)
    try:
        with _migration_lock(url):
            command.upgrade(_alembic_config(url), revision)
    except OperationalError as exc:
        safe = make_url(url).render_as_string(hide_password=True)
        raise InputError(f"cannot open the database {safe}: {exc.orig}; check --db / "
                         "SUANLI_DATABASE_URL and that the server is up") from None


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(_alembic_config(url), revision)
