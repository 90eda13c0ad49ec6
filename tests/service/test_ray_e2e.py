"""The whole stack on a real local Ray: ``suanli service up --executor ray`` starts a detached
Ray head; a job runs through the Jobs API; kill -9 the service, start it again, and the job is
re-attached and finishes; a cancel stops a Ray job."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

pytest.importorskip("ray.job_submission", reason="ray[default] is not installed")

from .procs import SUANLI, Proc
from .test_recovery import _wait

pytestmark = pytest.mark.slow


class RayService(Proc):
    executor = "ray"

    def _ready(self) -> bool:
        return bool(httpx.get(self.url + "/health", timeout=1).json()["ray"] == "ok")

    def start(self, timeout: float = 90) -> None:
        super().start(timeout)


def test_ray_kill9_reattach_and_cancel(tmp_path: Path):
    from suanli.service.executors.ray_head import adopt_head, stop_head

    svc = RayService(tmp_path)
    out = subprocess.run([*SUANLI, "service", "admin", "create-tenant", "acme", "--json"],
                         env=svc.env, capture_output=True, text=True, check=True)
    auth = {"Authorization": f"Bearer {json.loads(out.stdout)['api_key']}"}
    try:
        svc.start()
        with httpx.Client(base_url=svc.url, headers=auth, timeout=30) as c:
            job = c.post("/api/v1/jobs", headers={"Idempotency-Key": "r1"}, json={
                "name": "ray", "kind": "command", "command": "sleep 3; echo from-ray",
                "cpus": 0.5}).json()
            running = _wait(c, job["id"], ("running", "failed"), timeout=60)
            assert running["state"] == "running", running
            svc.kill9()
            svc.start()
            again = c.post("/api/v1/jobs", headers={"Idempotency-Key": "r1"}, json={
                "name": "ray", "kind": "command", "command": "sleep 3; echo from-ray",
                "cpus": 0.5})  # the same request again: the first response, replayed
            assert again.status_code == 201 and again.json()["id"] == job["id"]
            assert again.headers["Idempotent-Replayed"] == "true"
            done = _wait(c, job["id"], ("succeeded", "failed", "cancelled"), timeout=60)
            assert done["state"] == "succeeded", done
            assert "from-ray" in c.get(f"/api/v1/jobs/{job['id']}/logs").json()["logs"]

            long = c.post("/api/v1/jobs", json={"name": "long", "kind": "command",
                                                "command": "sleep 120", "cpus": 0.5}).json()
            assert _wait(c, long["id"], ("running",), timeout=60)["state"] == "running"
            c.post(f"/api/v1/jobs/{long['id']}/cancel")
            stopped = _wait(c, long["id"], ("cancelled", "failed", "succeeded"), timeout=30)
            assert stopped["state"] == "cancelled", stopped
    finally:
        svc.stop()
        head = adopt_head(tmp_path)
        if head is not None:
            stop_head(head, tmp_path)
