"""The same database code against a real PostgreSQL, where one can be started here.

Needs the ``initdb``/``pg_ctl`` binaries (Debian's ``postgresql`` package) and the ``psycopg``
driver (``pip install 'psycopg[binary]'``); skipped with the reason otherwise. The server is a
throwaway cluster in a temp folder listening on a Unix socket only (no TCP port).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("psycopg", reason="PostgreSQL driver missing: pip install 'psycopg[binary]'")
def _pg_bin(name: str) -> str | None:
    """A PostgreSQL server binary: on PATH, or where Debian puts it (/usr/lib/postgresql/N/bin)."""
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(hits[-1]) if hits else None


INITDB, PG_CTL = _pg_bin("initdb"), _pg_bin("pg_ctl")
if not (INITDB and PG_CTL):
    pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not installed: apt-get install postgresql",
                allow_module_level=True)

pytestmark = pytest.mark.slow


def _as_pg(cmd: list[str]) -> list[str]:
    """Postgres refuses to run as root: run as the 'postgres' user there."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="pg"))  # short: the socket path has a length limit
    data, sock = root / "data", root / "s"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    run = subprocess.run(_as_pg([INITDB, "-D", str(data), "-U", "postgres", "-A", "trust"]),
                         capture_output=True, text=True)
    if run.returncode != 0:
        pytest.skip(f"initdb failed: {run.stderr.strip()[:200]}")
    opts = f"-c listen_addresses='' -c unix_socket_directories={sock} -c fsync=off"
    start = subprocess.run(_as_pg([PG_CTL, "-D", str(data), "-o", opts, "-w", "-l",
                                   str(root / "log"), "start"]), capture_output=True, text=True)
    if start.returncode != 0:
        pytest.skip(f"postgres did not start: {start.stderr.strip()[:200]}")
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={sock}"
    finally:
        subprocess.run(_as_pg([PG_CTL, "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_migrations_on_postgres(pg_url: str):
    from sqlalchemy import create_engine, inspect

    from suanli.service.db import downgrade, upgrade

    upgrade(pg_url)
    eng = create_engine(pg_url)
    assert {"tenants", "jobs", "quotes", "usage", "sites"} <= set(inspect(eng).get_table_names())
    eng.dispose()
    downgrade(pg_url, "base")
    eng = create_engine(pg_url)
    assert "jobs" not in inspect(eng).get_table_names()
    eng.dispose()


def test_models_and_migrations_do_not_drift_on_postgres(pg_url: str):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from suanli.service.db import downgrade, upgrade
    from suanli.service.models import Base

    upgrade(pg_url)
    eng = create_engine(pg_url)
    with eng.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), Base.metadata) == []
    eng.dispose()
    downgrade(pg_url, "0002")  # the issue-9 migration goes down and up again
    upgrade(pg_url)


def test_instances_starting_together_migrate_one_after_the_other(pg_url: str):
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import create_engine, inspect

    from suanli.service.db import downgrade, upgrade

    downgrade(pg_url, "base")
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: upgrade(pg_url), range(3)))  # raises if two raced
    eng = create_engine(pg_url)
    assert {"jobs", "job_logs", "tenants"} <= set(inspect(eng).get_table_names())
    eng.dispose()


def test_service_on_postgres(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from fastapi.testclient import TestClient

    from suanli.service.tenants import create_tenant

    from .conftest import Svc, build

    monkeypatch.setenv("SUANLI_SITES_DIR", str(tmp_path / "registry"))
    app, _ = build(tmp_path, database_url=pg_url)
    with TestClient(app) as client:
        with app.state.suanli.sessions() as s:
            _, ka = create_tenant(s, "pg-a")
            _, kb = create_tenant(s, "pg-b")
        svc = Svc(client, app, {"Authorization": f"Bearer {ka}"},
                  {"Authorization": f"Bearer {kb}"}, ka, kb, tmp_path)
        hdr = {**svc.a, "Idempotency-Key": "k"}
        first = svc.submit(hdr, command="echo pg")
        assert svc.submit(hdr, command="echo pg").json()["id"] == first.json()["id"]
        jid = first.json()["id"]
        assert svc.wait(jid)["state"] == "succeeded"
        assert svc.client.get(f"/api/v1/jobs/{jid}", headers=svc.b).status_code == 404
        assert svc.client.get("/api/v1/usage", headers=svc.a).json()["jobs"] == 1


def test_nul_bytes_are_never_a_500_on_postgres(pg_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch):
    """Finding 3: PostgreSQL refuses NUL in text; every route answers 422/404 instead."""
    import json

    import yaml
    from fastapi.testclient import TestClient

    from suanli.service.tenants import create_tenant

    from .conftest import build

    monkeypatch.setenv("SUANLI_SITES_DIR", str(tmp_path / "registry"))
    app, _ = build(tmp_path, database_url=pg_url)
    site = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / "site.yaml")
                          .read_text())
    with TestClient(app) as client:
        with app.state.suanli.sessions() as s:
            _, key = create_tenant(s, "pg-nul")
        hdr = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
        job = {"name": "t", "kind": "command", "command": "true"}
        bodies = [("/api/v1/jobs", {**job, "command": "echo a\x00b"}),
                  ("/api/v1/jobs", {**job, "site": "loc\x00al"}),
                  ("/api/v1/jobs", {**job, "name": "n\x00"}),
                  ("/api/v1/jobs", {**job, "quote_id": "q\x00"}),
                  ("/api/v1/jobs", {**job, "args": {"a": "b\x00"}}),
                  ("/api/v1/quotes", {"model": "llama\x00", "tokens": "1B"}),
                  ("/api/v1/quotes", {"model": "llama3-8b", "tokens": "1B\x00"}),
                  ("/api/v1/sites", {**site, "id": "nul-site", "name": "a\x00b"}),
                  ("/api/v1/sites", {**site, "id": "nul\x00site"})]
        for path, body in bodies:
            r = client.post(path, content=json.dumps(body).encode(), headers=hdr)
            assert r.status_code == 422, (path, body, r.status_code, r.text)
            assert "Traceback" not in r.text
        for path in ("/api/v1/jobs/j%00", "/api/v1/jobs/j%00/logs", "/api/v1/quotes/q%00",
                     "/api/v1/sites/s%00"):
            assert client.get(path, headers=hdr).status_code == 404, path
        assert client.post("/api/v1/jobs/j%00/cancel", headers=hdr).status_code == 404
        assert client.get("/api/v1/jobs?state=%00", headers=hdr).status_code == 422
        assert client.get("/api/v1/jobs", headers=hdr).json()["count"] == 0
