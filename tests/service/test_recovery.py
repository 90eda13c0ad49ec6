"""Kill -9 the real service while jobs run, start it again: nothing is lost.

A real ``suanli service up`` process on a free loopback port (local-process executor; the Ray
variant lives in test_ray_e2e.py). One job survives the crash and is re-attached; the other's
process is killed while the service is down, so after the restart it fails with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow
SUANLI = [sys.executable, "-m", "suanli.cli.main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    def __init__(self, data: Path) -> None:
        self.data, self.port = data, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SUANLI_DATA_DIR": str(data), "SUANLI_POLL_INTERVAL_S": "0.1",
                    "SUANLI_SITES_DIR": str(data / "registry")}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data / "service.log"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*SUANLI, "service", "up", "--port", str(self.port),
                                          "--executor", "subprocess"], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT)
        end = time.time() + 30
        while time.time() < end:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("service did not start:\n" + self.log.read_text())

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path)
    yield svc
    svc.stop()


def _wait(client: httpx.Client, jid: str, states: tuple[str, ...], timeout: float = 20) -> Any:
    end = time.time() + timeout
    while True:
        job = client.get(f"/api/v1/jobs/{jid}").json()
        if job["state"] in states or time.time() > end:
            return job
        time.sleep(0.1)


def test_kill9_recovery(service: Service):
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
                       json={"name": "keep", "kind": "command", "command": "sleep 2.5"})
        assert again.status_code == 200 and again.json()["id"] == keep["id"]
        assert c.get("/api/v1/jobs").json()["count"] == 2
        lost = _wait(c, lose["id"], ("failed", "succeeded", "cancelled"))
        assert lost["state"] == "failed" and "lost across a service restart" in lost["error"]
        done = _wait(c, keep["id"], ("failed", "succeeded", "cancelled"))
        assert done["state"] == "succeeded", done
        assert done["started_at"] < done["finished_at"] and done["actual_duration_s"] >= 2.0
        assert c.get(f"/api/v1/jobs/{keep['id']}/logs").json()["logs"] == "survived\n"
    assert key not in service.log.read_text()
