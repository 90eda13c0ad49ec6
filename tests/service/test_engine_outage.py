"""Issue 9 findings 6 and 8: logs are kept by the service whatever happens to the engine, and
an unreachable engine makes jobs lost (requeued or failed per ``max_retries``), ``/health``
degraded and new submissions a 503 with ``Retry-After`` until it is back.

The engine is the real local-process executor behind a switch: while the switch file exists
every call raises :class:`ExecutorUnavailable`, as the Ray executor does when its head is gone.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from suanli.service.executors.base import ExecutorUnavailable, JobSpec, RunStatus
from suanli.service.local_subprocess import SubprocessExecutor

from .conftest import Svc


class Switched(SubprocessExecutor):
    """The local executor, unreachable while ``switch`` exists, hanging (every call waits)
    while ``switch.hang`` exists."""

    def __init__(self, runs: Path, switch: Path) -> None:
        super().__init__(runs)
        self.switch = switch

    def _up(self) -> None:
        hang, end = self.switch.with_suffix(".hang"), time.time() + 60
        while hang.exists() and time.time() < end:
            time.sleep(0.05)
        if self.switch.exists():
            raise ExecutorUnavailable("engine unreachable (connection refused)")

    def submit(self, spec: JobSpec) -> str:
        self._up()
        return super().submit(spec)

    def status(self, handle: str) -> RunStatus:
        self._up()
        return super().status(handle)

    def logs(self, handle: str, tail: int = 200) -> str:
        self._up()
        return super().logs(handle, tail)

    def cancel(self, handle: str) -> None:
        self._up()
        super().cancel(handle)

    def resources(self) -> dict[str, dict[str, float]]:
        self._up()
        return super().resources()


@pytest.fixture
def outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Svc, Path]]:
    monkeypatch.setenv("SUANLI_SITES_DIR", str(tmp_path / "registry"))
    from suanli.service.app import create_app
    from suanli.service.config import Settings
    from suanli.service.tenants import create_tenant

    switch = tmp_path / "engine-down"
    s = Settings(data_dir=tmp_path, executor="subprocess", poll_interval_s=0.05,
                 lost_after_s=0.5)
    app = create_app(s, Switched(tmp_path / "runs", switch))
    with TestClient(app) as client:
        with app.state.suanli.sessions() as sess:
            _, ka = create_tenant(sess, "alpha")
            _, kb = create_tenant(sess, "beta")
        yield Svc(client, app, {"Authorization": f"Bearer {ka}"},
                  {"Authorization": f"Bearer {kb}"}, ka, kb, tmp_path), switch


def test_logs_are_served_from_the_service_after_the_engine_lost_them(svc):
    """Finding 6: the engine's copy of the logs is gone (a new Ray head): /logs still answers."""
    job = svc.submit(command="for i in 1 2 3; do echo line-$i; done").json()
    assert svc.wait(job["id"])["state"] == "succeeded"
    shutil.rmtree(svc.data_dir / "runs")  # the engine forgot everything
    r = svc.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=svc.a)
    assert r.status_code == 200
    assert r.json()["logs"].split() == ["line-1", "line-2", "line-3"] and r.json()["complete"]
    assert svc.client.get(f"/api/v1/jobs/{job['id']}/logs?tail=1",
                          headers=svc.a).json()["logs"] == "line-3\n"


def test_logs_are_capped_to_the_last_mebibyte(svc):
    from suanli.service.models import LOG_CAP_BYTES, JobLog

    # 3 MiB of numbered lines; only the last MiB is kept, the final line included
    cmd = "i=0; while [ $i -lt 30000 ]; do printf '%0100d\\n' $i; i=$((i+1)); done; echo END"
    job = svc.submit(command=cmd).json()
    assert svc.wait(job["id"], timeout=60)["state"] == "succeeded"
    with svc.app.state.suanli.sessions() as s:
        text = s.get(JobLog, job["id"]).text
    assert LOG_CAP_BYTES - 200 <= len(text.encode()) <= LOG_CAP_BYTES
    assert text.endswith("END\n")


def _health(svc: Svc) -> dict[str, Any]:
    return svc.client.get("/health").json()


def test_engine_outage_loses_running_jobs_per_retry_policy(outage):
    svc, switch = outage
    once = svc.submit(command="sleep 30", name="once").json()
    retry = svc.submit(command="sleep 30", name="retry", max_retries=1).json()
    for j in (once, retry):
        assert svc.wait(j["id"], lambda x: x["state"] == "running")["state"] == "running"
    assert _health(svc)["status"] == "ok"

    switch.touch()  # the engine goes away
    failed = svc.wait(once["id"], timeout=10)
    assert failed["state"] == "failed"
    assert "unreachable" in failed["error"] and "max_retries=0" in failed["error"]
    again = svc.wait(retry["id"], lambda x: x["state"] == "quoted", timeout=10)
    assert again["state"] == "quoted" and "requeued" in again["error"]
    health = _health(svc)
    assert health["status"] == "degraded" and "unreachable" in health["ray"]
    r = svc.submit(command="true")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert "unreachable" in r.json()["detail"]

    switch.unlink()  # back: the retried job runs again, submissions are taken again
    rerun = svc.wait(retry["id"], lambda x: x["state"] == "running", timeout=10)
    assert rerun["state"] == "running" and rerun["attempts"] == 2
    assert svc.submit(command="true").status_code == 201
    assert _health(svc)["status"] == "ok"
    svc.client.post(f"/api/v1/jobs/{retry['id']}/cancel", headers=svc.a)
    assert svc.wait(retry["id"])["state"] == "cancelled"


def test_an_engine_that_hangs_makes_health_degraded_and_submissions_503(outage):
    svc, switch = outage
    job = svc.submit(command="sleep 30").json()
    assert svc.wait(job["id"], lambda x: x["state"] == "running")["state"] == "running"
    svc.app.state.suanli.scheduler.stuck_after_s = 1.0
    hang = switch.with_suffix(".hang")
    hang.touch()  # every engine call now blocks: no error, no answer
    try:
        end = time.time() + 15
        while _health(svc)["status"] != "degraded" and time.time() < end:
            time.sleep(0.2)
        health = _health(svc)
        assert health["status"] == "degraded" and "answer" in health["ray"], health
        time.sleep(1.2)  # the scheduler's pass is now stuck for longer than 1 s
        r = svc.submit(command="true")
        assert r.status_code == 503 and "waited" in r.json()["detail"], r.text
    finally:
        hang.unlink()
    end = time.time() + 10
    while _health(svc)["status"] != "ok" and time.time() < end:
        time.sleep(0.2)
    assert _health(svc)["status"] == "ok"
    assert svc.submit(command="true").status_code == 201
    svc.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=svc.a)
    assert svc.wait(job["id"])["state"] == "cancelled"
