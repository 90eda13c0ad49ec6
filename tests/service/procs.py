"""Real ``suanli service up`` processes for the state-lock and failover tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

SUANLI = [sys.executable, "-m", "suanli.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """One service process on a free loopback port (local-process executor)."""

    def __init__(self, data: Path, *args: str, name: str = "svc") -> None:
        self.data, self.port, self.args = data, free_port(), args
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SUANLI_DATA_DIR": str(data), "SUANLI_POLL_INTERVAL_S": "0.1",
                    "SUANLI_SITES_DIR": str(data / "registry")}
        self.log = data / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*SUANLI, "service", "up", "--port", str(self.port),
                                          "--executor", "subprocess", *self.args],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self.proc

    def start(self, timeout: float = 60) -> None:
        self.spawn()
        end = time.time() + timeout
        while time.time() < end:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("service did not start:\n" + self.log.read_text())

    def health(self) -> dict[str, Any]:
        return dict(httpx.get(self.url + "/health", timeout=5).json())

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
