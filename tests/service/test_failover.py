"""Issue 9: several instances on one PostgreSQL; one leads the scheduler, the other stands by.
``kill -9`` of the leader: the standby takes over within 10 s, every job ends once, none twice.

Two real ``suanli service up`` processes on a real PostgreSQL (the throwaway cluster of
test_postgres.py) with the local-process executor sharing one runs folder, as two service hosts
share one Ray cluster. Each job appends its id to a file, so a job run twice would show.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from .procs import Collector, Proc
from .test_postgres import pg_url  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow
JOBS = 20


def _role(p: Proc) -> str | None:
    try:
        return p.health().get("role")
    except httpx.HTTPError:
        return None


def test_standby_takes_over_when_the_leader_is_killed(tmp_path: Path, pg_url: str):  # noqa: F811
    from suanli.service.db import make_engine, session_factory, upgrade
    from suanli.service.tenants import create_tenant

    upgrade(pg_url)
    engine = make_engine(pg_url)
    with session_factory(engine)() as s:
        _, key = create_tenant(s, "failover")
    engine.dispose()
    ran_log = Collector()  # sandboxed jobs cannot write host files: they report over loopback
    leader, standby = Proc(tmp_path, "--db", pg_url, name="a"), Proc(tmp_path, "--db", pg_url,
                                                                      name="b")
    leader.start()
    standby.start()
    try:
        assert _role(leader) == "leader" and _role(standby) == "standby"
        hdr = {"Authorization": f"Bearer {key}"}
        ids = []
        with httpx.Client(base_url=leader.url, headers=hdr, timeout=10) as c:
            for i in range(JOBS):
                r = c.post("/api/v1/jobs", headers={"Idempotency-Key": f"f{i}"},
                           json={"name": f"f{i}", "kind": "command", "cpus": 0.25,
                                 "network": "egress",
                                 "command": f"{ran_log.send_cmd()}; sleep 1"})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            end = time.time() + 20  # kill the leader while jobs run
            while time.time() < end:
                states = [c.get(f"/api/v1/jobs/{j}").json()["state"] for j in ids]
                if sum(s in ("running", "succeeded") for s in states) >= 3:
                    break
                time.sleep(0.1)
        leader.kill9()
        t_kill = time.perf_counter()
        while _role(standby) != "leader":
            assert time.perf_counter() - t_kill < 10, "the standby did not take over in 10 s"
            time.sleep(0.1)
        takeover = time.perf_counter() - t_kill
        with httpx.Client(base_url=standby.url, headers=hdr, timeout=10) as c:
            end = time.time() + 60
            while time.time() < end:
                jobs = [c.get(f"/api/v1/jobs/{j}").json() for j in ids]
                if all(j["state"] in ("succeeded", "failed", "cancelled") for j in jobs):
                    break
                time.sleep(0.2)
        assert [j["state"] for j in jobs] == ["succeeded"] * JOBS, [
            (j["id"], j["state"], j["error"]) for j in jobs]
        time.sleep(0.5)
        ran = list(ran_log.lines)
        assert sorted(ran) == sorted(ids), "a job ran twice or not at all"
        print(f"\ntakeover after kill -9: {takeover:.2f} s; {JOBS} jobs, each ran once")
    finally:
        standby.stop()
        leader.stop()
        ran_log.close()
