"""A real ``suanli service up`` for the service benchmarks: a fresh SQLite state folder, a
tenant, the local-process executor on a loopback port it picks (``--port 0``), stopped on exit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Service:
    url: str
    auth: dict[str, str]  # the tenant's Authorization header
    pid: int
    data: Path


def announced_url(log: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The URL ``service up --port 0`` prints once it holds its socket (no chosen-then-bound
    port, which another process could take in between)."""
    end = time.time() + timeout_s
    while time.time() < end:
        m = re.search(rb"service on (http://127\.0\.0\.1:\d+)", log.read_bytes())
        if m:
            return m.group(1).decode()
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"the service did not start; see {log}")


def wait_healthy(url: str, timeout_s: float) -> bool:
    """Poll ``url``/health until it answers 200 (True) or ``timeout_s`` passes (False)."""
    end = time.time() + timeout_s
    while time.time() < end:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; NaN if gone)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running_service(scheduler: bool, prefix: str, start_timeout_s: float = 60.0
                    ) -> Iterator[Service]:
    """Start the service (scheduler on or off), wait for /health, yield it, stop it."""
    data = Path(tempfile.mkdtemp(prefix=prefix))
    env = {**os.environ, "SUANLI_DATA_DIR": str(data), "SUANLI_SITES_DIR": str(data / "reg"),
           "SUANLI_SCHEDULER": "true" if scheduler else "false"}
    cli = [sys.executable, "-m", "suanli.cli.main", "service"]
    key = json.loads(subprocess.run([*cli, "admin", "create-tenant", "bench", "--json"], env=env,
                                    check=True, capture_output=True, text=True).stdout)["api_key"]
    with open(data / "service.log", "wb") as log:
        proc = subprocess.Popen([*cli, "up", "--port", "0", "--executor", "subprocess"],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = announced_url(data / "service.log", proc, start_timeout_s)
            wait_healthy(url, start_timeout_s)
            yield Service(url, {"Authorization": f"Bearer {key}"}, proc.pid, data)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
