"""Alembic: upgrade on an empty database creates the schema; downgrade removes it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect

from suanli.service.db import downgrade, upgrade
from suanli.service.models import Base

TABLES = {"tenants", "jobs", "quotes", "usage", "sites"}


def _tables(url: str) -> set[str]:
    eng = create_engine(url)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_upgrade_creates_schema_matching_models_and_downgrade_drops_it(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    assert _tables(url) >= TABLES
    eng = create_engine(url)
    insp = inspect(eng)
    for table in Base.metadata.sorted_tables:  # every model column exists in the migrated DB
        assert {c.name for c in table.columns} == {c["name"] for c in insp.get_columns(
            table.name)}, table.name
    eng.dispose()
    downgrade(url, "base")
    assert _tables(url) & TABLES == set()
    upgrade(url)  # and back up again
    assert _tables(url) >= TABLES


def test_sqlite_runs_in_wal_mode(tmp_path: Path):
    from sqlalchemy import text

    from suanli.service.db import make_engine

    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    eng = make_engine(url)
    with eng.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    eng.dispose()


def test_models_and_migrations_do_not_drift(tmp_path: Path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = f"sqlite:///{tmp_path / 'd.db'}"
    upgrade(url)
    eng = create_engine(url)
    with eng.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), Base.metadata) == []
    eng.dispose()


def test_upgrade_keeps_rows_written_by_the_previous_revision(tmp_path: Path):
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url, "0001")
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text("INSERT INTO tenants VALUES ('t1', 'a', 'h', 'sk-', 1.0)"))
        c.execute(text("INSERT INTO jobs (id, tenant_id, name, kind, args_json, cpus, gpus, "
                       "memory_mb, state, created_at, cancel_requested, usd_per_hour) VALUES "
                       "('j1', 't1', 'n', 'command', '{}', 1, 0, 0, 'running', 1.0, 0, 0)"))
    upgrade(url)
    with eng.connect() as c:
        row = c.execute(text("SELECT id, state, hardware FROM jobs")).one()
    eng.dispose()
    assert tuple(row) == ("j1", "running", None)
