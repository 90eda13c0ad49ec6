"""The service's Ray driver, kept in a child process so that Ray can never take the service down.

A Ray driver whose GCS stays unreachable for 60 s exits its whole process (Ray's core worker
gives up: "Failed to connect to GCS within 60 seconds"), and calls such as ``ray.nodes()`` block
until then. So the service never imports Ray itself: :class:`Bridge` starts
``python -m suanli.service.executors.ray_bridge FD`` as a child that runs ``ray.init`` with the
cluster token and answers requests over a socket pair (``multiprocessing.connection``). A call
that gets no answer within its timeout, or finds the child dead, kills the child and raises
:class:`ExecutorUnavailable`; the next call starts a fresh child (a fresh ``ray.init``), after
a TCP probe of the GCS port (``ray.init`` itself retries for minutes when nothing listens).
The child exits when the service dies (its end of the pipe closes).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

from suanli.service.executors.base import ExecutorUnavailable

__all__ = ["Bridge", "BridgeConfig", "probe"]


def probe(gcs: str, timeout_s: float = 3.0) -> None:
    """ExecutorUnavailable at once when nothing listens at the GCS address."""
    host, _, port = gcs.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        raise ExecutorUnavailable(f"cannot reach the Ray cluster at {gcs}: {exc}") from None


@dataclass(frozen=True)
class BridgeConfig:
    gcs: str  # host:port of the cluster's GCS
    env: tuple[tuple[str, str], ...]  # set before Ray is imported (auth mode, token path, ...)
    start_timeout_s: float = 30.0  # s for the child to import Ray and connect
    call_timeout_s: float = 15.0  # s for one call


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _serve(conn: Any, cfg: BridgeConfig) -> None:
    """The child: connect, then answer ``(method, args)`` with ``(ok, value)`` until EOF."""
    os.environ.update(dict(cfg.env))
    try:
        import ray

        from suanli.service.executors.ray_dispatch import NAME, NAMESPACE, Dispatcher

        ray.init(address=cfg.gcs, namespace=NAMESPACE, logging_level=40,  # ERROR
                 log_to_driver=False, configure_logging=False)
        cls: Any = Dispatcher  # a Ray actor class (Ray's decorator hides .options from mypy)
        disp = cls.options(name=NAME, namespace=NAMESPACE, lifetime="detached",
                                  get_if_exists=True).remote()
        ray.get(disp.ping.remote(), timeout=cfg.call_timeout_s)
    except Exception as exc:
        conn.send((False, f"cannot connect to the Ray cluster at {cfg.gcs}: "
                          f"{type(exc).__name__}: {_first_line(exc)}"))
        return
    conn.send((True, "ready"))
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError):
            return  # the service is gone
        try:
            if method == "nodes":
                value: Any = [{"NodeID": n["NodeID"], "Resources": n.get("Resources") or {}}
                              for n in ray.nodes() if n.get("Alive")]
            else:
                value = ray.get(getattr(disp, method).remote(*args),
                                timeout=cfg.call_timeout_s)
            conn.send((True, value))
        except Exception as exc:
            conn.send((False, f"{type(exc).__name__}: {_first_line(exc)}"))


class Bridge:
    """The service side of the pipe (see module doc); calls are serialised by a lock."""

    def __init__(self, cfg: BridgeConfig) -> None:
        self.cfg = cfg
        self._proc: Any = None
        self._conn: Any = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        probe(self.cfg.gcs)
        ours, theirs = socket.socketpair()
        cfg = json.dumps(asdict(self.cfg))
        proc = subprocess.Popen([sys.executable, "-m", "suanli.service.executors.ray_bridge",
                                 str(theirs.fileno()), cfg], pass_fds=(theirs.fileno(),),
                                env={**os.environ, **dict(self.cfg.env)},
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        theirs.close()
        parent = Connection(ours.detach())
        if not parent.poll(self.cfg.start_timeout_s):
            self._kill(proc)
            raise ExecutorUnavailable(f"Ray cluster at {self.cfg.gcs} did not answer within "
                                      f"{self.cfg.start_timeout_s:.0f} s")
        try:
            ok, msg = parent.recv()
        except (EOFError, OSError):
            ok, msg = False, f"the Ray client process for {self.cfg.gcs} died while connecting"
        if not ok:
            self._kill(proc)
            raise ExecutorUnavailable(msg)
        self._proc, self._conn = proc, parent

    @staticmethod
    def _kill(proc: Any) -> None:
        with contextlib.suppress(Exception):
            proc.kill()
            proc.wait(5)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        if self._proc is not None:
            try:
                self._proc.wait(2)
            except subprocess.TimeoutExpired:
                self._kill(self._proc)
        self._proc = self._conn = None

    def call(self, method: str, *args: Any, timeout_s: float | None = None) -> Any:
        """Run ``method`` on the dispatcher (or ``"nodes"``); ExecutorUnavailable when Ray
        (or the child) does not answer. Errors the dispatcher raised come back as RuntimeError."""
        with self._lock:
            return self._call(method, args, timeout_s)

    def _call(self, method: str, args: tuple[Any, ...], timeout_s: float | None) -> Any:
        if self._proc is None or self._proc.poll() is not None:
            self.close()
            self._start()
        assert self._conn is not None
        wait = (timeout_s or self.cfg.call_timeout_s) + 5.0  # s; the child times out first
        try:
            self._conn.send((method, args))
            if not self._conn.poll(wait):
                raise TimeoutError(f"no answer within {wait:.0f} s")
            ok, value = self._conn.recv()
        except (EOFError, OSError, TimeoutError) as exc:
            self._kill(self._proc)
            self.close()
            raise ExecutorUnavailable(f"Ray does not answer ({_first_line(exc)})") from None
        if not ok:
            if value.startswith(("GetTimeoutError", "RayActorError", "ActorDiedError",
                                 "ActorUnavailableError", "RaySystemError")):
                self._kill(self._proc)
                self.close()
                raise ExecutorUnavailable(f"Ray does not answer ({value})")
            raise RuntimeError(value)
        return value


def main(argv: list[str]) -> int:
    """Child entry: ``python -m suanli.service.executors.ray_bridge FD CONFIG_JSON``."""
    doc = json.loads(argv[1])
    cfg = BridgeConfig(gcs=doc["gcs"], env=tuple(tuple(kv) for kv in doc["env"]),
                       start_timeout_s=doc["start_timeout_s"],
                       call_timeout_s=doc["call_timeout_s"])
    _serve(Connection(int(argv[0])), cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
