"""Findings 6 and 8 on a real local Ray: the Ray head goes away under a running service.
Earlier jobs' logs are still served (from the service's copy), ``/health`` says degraded, new
submissions get 503 with ``Retry-After``, and the running job is lost and failed with the
reason (``max_retries`` 0) instead of staying ``running`` forever."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

pytest.importorskip("ray.job_submission", reason="ray[default] is not installed")

from .procs import SUANLI
from .test_ray_e2e import RayService
from .test_recovery import _wait

pytestmark = pytest.mark.slow


def test_ray_head_gone_logs_kept_health_degraded_jobs_lost(tmp_path: Path):
    from suanli.service.executors.ray_head import adopt_head, stop_head

    svc = RayService(tmp_path)
    svc.env["SUANLI_LOST_AFTER_S"] = "2"
    out = subprocess.run([*SUANLI, "service", "admin", "create-tenant", "acme", "--json"],
                         env=svc.env, capture_output=True, text=True, check=True)
    auth = {"Authorization": f"Bearer {json.loads(out.stdout)['api_key']}"}
    try:
        svc.start()
        with httpx.Client(base_url=svc.url, headers=auth, timeout=30) as c:
            done = c.post("/api/v1/jobs", json={"name": "early", "kind": "command",
                                                "command": "echo kept-log", "cpus": 0.5}).json()
            assert _wait(c, done["id"], ("succeeded", "failed"), 60)["state"] == "succeeded"
            long = c.post("/api/v1/jobs", json={"name": "long", "kind": "command",
                                                "command": "sleep 300", "cpus": 0.5}).json()
            assert _wait(c, long["id"], ("running",), 60)["state"] == "running"

            head = adopt_head(tmp_path)
            assert head is not None
            stop_head(head, tmp_path)  # the Ray head is gone

            lost = _wait(c, long["id"], ("failed", "succeeded", "cancelled"), 60)
            assert lost["state"] == "failed" and "unreachable" in lost["error"], lost
            r = c.get(f"/api/v1/jobs/{done['id']}/logs")
            assert r.status_code == 200 and "kept-log" in r.json()["logs"]
            health = c.get("/health").json()
            assert health["status"] == "degraded", health
            r = c.post("/api/v1/jobs", json={"name": "new", "kind": "command", "command": "true"})
            assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text
    finally:
        svc.stop()
        head = adopt_head(tmp_path)
        if head is not None:
            stop_head(head, tmp_path)
