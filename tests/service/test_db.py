"""SQLite writers of one process take a Python lock (db._writer_serialized) for the length of
their write transaction, and every way a transaction ends gives it back."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from suanli.service.db import make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with eng.begin() as c:
        c.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
    yield eng
    eng.dispose()


def _write_in_thread(engine: Engine, k: int) -> tuple[threading.Thread, threading.Event]:
    done = threading.Event()

    def run() -> None:
        with engine.begin() as c:
            c.execute(text("INSERT INTO t VALUES (:k, 'b')"), {"k": k})
        done.set()

    th = threading.Thread(target=run)
    th.start()
    return th, done


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_a_second_writer_waits_until_the_first_transaction_ends(engine: Engine, end: str) -> None:
    c = engine.connect()
    c.execute(text("INSERT INTO t VALUES (1, 'a')"))  # opens the write transaction
    assert c.connection.dbapi_connection.held  # type: ignore[union-attr]
    th, done = _write_in_thread(engine, 2)
    assert not done.wait(0.3)  # blocked on the lock, not failing
    if end == "commit":
        c.commit()
    elif end == "rollback":
        c.rollback()
    c.close() if end == "close" else None
    assert done.wait(5.0)
    th.join()
    with engine.connect() as r:
        keys = sorted(r.execute(text("SELECT k FROM t")).scalars())
    assert keys == ([1, 2] if end == "commit" else [2])
    if end != "close":
        assert not c.connection.dbapi_connection.held  # type: ignore[union-attr]
        c.close()


def test_reads_never_take_the_lock(engine: Engine) -> None:
    w = engine.connect()
    w.execute(text("INSERT INTO t VALUES (1, 'a')"))
    with engine.connect() as r:  # WAL: readers see the last commit while a writer works
        assert r.execute(text("SELECT count(*) FROM t")).scalar() == 0
        assert not r.connection.dbapi_connection.held  # type: ignore[union-attr]
    w.rollback()
    w.close()


def test_a_failed_write_gives_the_lock_back(engine: Engine) -> None:
    with engine.begin() as c:
        c.execute(text("INSERT INTO t VALUES (1, 'a')"))
    c = engine.connect()
    with pytest.raises(IntegrityError):
        c.execute(text("INSERT INTO t VALUES (1, 'again')"))
    c.rollback()
    c.close()
    th, done = _write_in_thread(engine, 2)
    assert done.wait(5.0)
    th.join()


def test_one_thread_with_two_writing_connections_does_not_wait_on_itself(
        engine: Engine) -> None:
    a = engine.connect()
    a.execute(text("INSERT INTO t VALUES (1, 'a')"))
    a.commit()
    a.execute(text("INSERT INTO t VALUES (2, 'a')"))
    b = engine.connect()  # same thread: skips the Python lock; SQLite's own lock decides
    b.execute(text("SELECT 1"))
    assert not b.connection.dbapi_connection.held  # type: ignore[union-attr]
    a.commit()
    b.execute(text("INSERT INTO t VALUES (3, 'b')"))
    b.commit()
    a.close()
    b.close()
