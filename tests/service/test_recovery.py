"""Kill -9 the real service while jobs run, start it again: nothing is lost.

A real ``suanli service up`` process on a free loopback port (local-process executor; the Ray
variant lives in test_ray_e2e.py). One job survives the crash and is re-attached; the other's
process is killed while the service is down, so after the restart it fails with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .procs import SUANLI, Proc

pytestmark = pytest.mark.slow


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Proc]:
    svc = Proc(tmp_path, name="service")
    yield svc
    svc.stop()


def _wait(client: httpx.Client, jid: str, states: tuple[str, ...], timeout: float = 20) -> Any:
    end = time.time() + timeout
    while True:
        job = client.get(f"/api/v1/jobs/{jid}").json()
        if job["state"] in states or time.time() > end:
            return job
        time.sleep(0.1)


def test_kill9_recovery(service: Proc):
    out = subprocess.run([*SUANLI, "service", "admin", "create-tenant", "acme", "--json"],
                         env=service.env, capture_output=True, text=True, check=True)
    key = json.loads(out.stdout)["api_key"]
    service.start()
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=service.url, headers=auth, timeout=10) as c:
        keep = c.post("/api/v1/jobs", headers={"Idempotency-Key": "keep-1"},
                      json={"name": "keep", "kind": "command",
                            "command": "sleep 2.5; echo survived"}).json()
        lose = c.post("/api/v1/jobs", headers={"Idempotency-Key": "lose-1"},
                      json={"name": "lose", "kind": "command", "command": "sleep 60"}).json()
        assert _wait(c, keep["id"], ("running",))["state"] == "running"
        assert _wait(c, lose["id"], ("running",))["state"] == "running"

        service.kill9()
        with sqlite3.connect(service.data / "suanli.db") as db:
            handle = db.execute("SELECT handle FROM jobs WHERE id=?", (lose["id"],)).fetchone()
        os.killpg(json.loads(handle[0])["pid"], signal.SIGKILL)  # its work dies too
        service.start()

        again = c.post("/api/v1/jobs", headers={"Idempotency-Key": "keep-1"},
                       json={"name": "keep", "kind": "command",
                             "command": "sleep 2.5; echo survived"})  # the same body: replayed
        assert again.status_code == 201 and again.json()["id"] == keep["id"]
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert c.get("/api/v1/jobs").json()["count"] == 2
        lost = _wait(c, lose["id"], ("failed", "succeeded", "cancelled"))
        assert lost["state"] == "failed" and "lost across a service restart" in lost["error"]
        assert not list(Path("/sys/fs/cgroup").glob(f"**/suanli-{lose['id']}*"))  # no leak
        done = _wait(c, keep["id"], ("failed", "succeeded", "cancelled"))
        assert done["state"] == "succeeded", done
        assert done["started_at"] < done["finished_at"] and done["actual_duration_s"] >= 2.0
        assert c.get(f"/api/v1/jobs/{keep['id']}/logs").json()["logs"] == "survived\n"
    assert key not in service.log.read_text()


def test_no_job_runs_twice_across_repeated_kill_9(service: Proc):
    """Issue 9, finding 10: 3 of 840 jobs ran twice over 28 kill -9. Jobs append one line to
    a file in their own working directory (it outlives a second run), the service is killed
    with SIGKILL at random moments while it places and hands off jobs, six times; every job's
    file must hold at most one line, exactly one when it succeeded."""
    import random

    out = subprocess.run([*SUANLI, "service", "admin", "create-tenant", "acme", "--json"],
                         env=service.env, capture_output=True, text=True, check=True)
    auth = {"Authorization": f"Bearer {json.loads(out.stdout)['api_key']}"}
    rng = random.Random(9)
    service.start()
    ids: list[str] = []
    with httpx.Client(base_url=service.url, headers=auth, timeout=10) as c:
        for kill in range(6):
            for i in range(8):
                r = c.post("/api/v1/jobs", headers={"Idempotency-Key": f"k{kill}-{i}"},
                           json={"name": f"j{kill}-{i}", "kind": "command", "cpus": 0.5,
                                 "command": "echo ran >> runs; sleep 0.2"})
                ids.append(r.json()["id"])
            time.sleep(rng.uniform(0.2, 1.0))
            service.kill9()
            service.start()
        end = time.time() + 90
        jobs = [c.get(f"/api/v1/jobs/{j}").json() for j in ids]
        while time.time() < end and not all(j["state"] in ("succeeded", "failed", "cancelled")
                                            for j in jobs):
            time.sleep(0.3)
            jobs = [c.get(f"/api/v1/jobs/{j}").json() for j in ids]
    counts = {j["id"]: sum(len(p.read_text().splitlines())  # the job's cwd is work/ (/job)
                           for p in (service.data / "runs" / j["id"]).glob("**/runs"))
              for j in jobs}
    assert max(counts.values()) <= 1, {k: v for k, v in counts.items() if v > 1}
    done = [j for j in jobs if j["state"] == "succeeded"]
    assert all(counts[j["id"]] == 1 for j in done)
    assert len(done) >= len(jobs) // 2, [(j["state"], j["error"]) for j in jobs]


def test_a_resubmitted_job_is_the_same_run(tmp_path: Path):
    """The crash window itself, made certain: the service started a job, died before saving
    its handle, and submits it again (twice, from two executors at once): one run only."""
    from suanli.service.executors.base import JobSpec, RunState
    from suanli.service.local_subprocess import SubprocessExecutor

    spec = JobSpec(job_id="once", tenant_id="t", kind="command", command="echo ran >> runs",
                   entrypoint=None)
    first, second = SubprocessExecutor(tmp_path), SubprocessExecutor(tmp_path)
    first.start()
    handles = [first.submit(spec), second.submit(spec), first.submit(spec)]
    end = time.time() + 30
    while not all(first.status(h).state.terminal for h in handles) and time.time() < end:
        time.sleep(0.1)
    assert {first.status(h).state for h in handles} == {RunState.SUCCEEDED}
    assert (tmp_path / "once" / "work" / "runs").read_text() == "ran\n"
