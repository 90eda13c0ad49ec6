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


def pids_of(uid: int, needle: bytes) -> list[int]:
    """Host pids of processes running as ``uid`` whose command line contains ``needle``."""
    out = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid \
                    and needle in (entry / "cmdline").read_bytes():
                out.append(int(entry.name))
        except OSError:
            continue
    return out


class Proc:
    """One service process on a free loopback port (local-process executor)."""

    def __init__(self, data: Path, *args: str, name: str = "svc") -> None:
        # Port 0 on the first start: the service binds a free port itself and prints it (a port
        # chosen here could be taken by a Ray worker before the service binds it); restarts
        # keep the port it printed.
        self.data, self.port, self.args = data, 0, args
        self.url = ""
        self.env = {**os.environ, "SUANLI_DATA_DIR": str(data), "SUANLI_POLL_INTERVAL_S": "0.1",
                    "SUANLI_SITES_DIR": str(data / "registry")}
        self.log = data / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    executor = "subprocess"

    def spawn(self) -> subprocess.Popen[bytes]:
        self._log_from = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*SUANLI, "service", "up", "--port", str(self.port),
                                          "--executor", self.executor, *self.args],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self.proc

    def _ready(self) -> bool:
        return httpx.get(self.url + "/health", timeout=1).status_code == 200

    def start(self, timeout: float = 60) -> None:
        self.spawn()
        end = time.time() + timeout
        while time.time() < end:
            if not self.url:
                self._read_port()
            try:
                if self.url and self._ready():
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("service did not start:\n" + self.log.read_text())

    def _read_port(self) -> None:
        """The port the service printed on start (``suanli service on http://host:PORT``)."""
        import re

        with open(self.log, "rb") as f:
            f.seek(self._log_from)
            m = re.search(rb"suanli service on http://127\.0\.0\.1:(\d+)", f.read())
        if m:
            self.port = int(m.group(1))
            self.url = f"http://127.0.0.1:{self.port}"

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


class Collector:
    """A loopback TCP listener that records one line per connection: how a sandboxed job
    (``network: egress``; it cannot write host files) reports that it ran. The job sends its
    line with bash's /dev/tcp: ``bash -c 'echo $SUANLI_JOB_ID > /dev/tcp/127.0.0.1/PORT'``."""

    def __init__(self) -> None:
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def send_cmd(self, text: str = "$SUANLI_JOB_ID") -> str:
        """A shell snippet that reports ``text`` to this collector."""
        return f"bash -c 'echo \"{text}\" > /dev/tcp/127.0.0.1/{self.port}'"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while chunk := conn.recv(4096):
                        data += chunk
                except OSError:
                    pass
                self.lines += data.decode(errors="replace").split()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
