"""The local launchers' fork server: one pre-imported Python process that forks a launcher per job.

Starting a job's launcher as ``python -m suanli.service.sandbox_run <dir>`` costs ~50 CPU-ms of
interpreter start and imports (``hashlib``'s OpenSSL, ``subprocess``, ``dataclasses``, ...) before
the job's own ~2 CPU-ms of bubblewrap, ``setpriv`` and ``prlimit``; at 100 jobs/s that is more
than two cores. :class:`ForkServer` starts one Python process running :func:`serve`, with the
launcher's code already imported; each request is one ``fork(2)`` (~1 ms) and the child runs
exactly what the separate launcher ran (:func:`suanli.service.sandbox_run.main`), so the job's
sandbox, its claim (at most once across ``kill -9``), limits and result file are unchanged.

Protocol: the service writes one JSON line per job (its folder) to the server's stdin; the
server answers one JSON line, ``{"pid": P, "ticks": T}`` (the launcher's pid and start ticks)
or ``{"error": "..."}``. The server is single-threaded (so forking it is safe) and reaps its
children. When the service goes away (even by ``kill -9``) the server reads end-of-file and
exits; launchers it started live on: each leads its own session, as a separately started one did.

Each launcher gets the lowest CPU weight (``nice`` 19 and its session's *autogroup* at 19, see
:func:`yield_cpu`) before the server answers, so that starting jobs never starves the service's
API (the job itself then weighs what its cgroup says, :mod:`suanli.service.cgroups`). The server
itself keeps the service's weight: its work is one ``fork`` (~1 ms) per job, and at the lowest
weight on a busy machine (two test workers on two cores) its start-up imports and each answer
waited behind everything else, so a job sat ``placed`` for more than 15 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

__all__ = ["ForkServer", "serve", "yield_cpu"]

REAP_S = 0.5  # s between reaps of ended launchers when no request comes
REPLY_TIMEOUT_S = 30.0  # s; a server this slow is replaced (a hung one would stall the scheduler)


def yield_cpu(pid: int) -> None:
    """Let the service win the CPU from ``pid``, the leader of its own session: Linux gives each
    session its own *autogroup*, weighted like the service's whole process unless the group is
    niced (a plain ``nice`` acts only inside the group), so both are set to 19."""
    with contextlib.suppress(OSError):  # no autogroups (CONFIG_SCHED_AUTOGROUP off): no-op
        Path(f"/proc/{pid}/autogroup").write_text("19")
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, 19)


def _launch(folder: Path, ready: int) -> None:
    """In the forked child: become a detached launcher for ``folder`` and never return; close
    ``ready`` once it leads its own session (the server answers only then)."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setsid()  # its own session and process group, as a separately started launcher
        os.close(ready)  # the server lowers this session's CPU weight, then answers
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(folder / "launcher.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)  # the request pipes (fds 0 and 1) are closed in the launcher
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(null)
        os.close(out)
        os.chdir(folder)
        from suanli.service.sandbox_run import main

        code = main(folder)
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _fork(folder: Path) -> int:
    """Fork a launcher for ``folder``; return once it leads its own session, niced."""
    r, w = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _launch(folder, w)
        os.close(w)
        w = -1
        os.read(r, 1)  # end-of-file: the child closed its end (or died)
        yield_cpu(pid)  # here, not in the child: it would wait at nice 19 to say it is ready
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    return pid


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def serve(inp: int = 0, out: int = 1) -> int:
    """The server loop (see module doc): read folders from ``inp``, answer on ``out``."""
    import gc

    from suanli.service.sandbox_run import start_ticks

    gc.freeze()  # a child's collections skip the preloaded objects: their pages stay shared
    buf = b""
    while True:
        ready, _, _ = select.select([inp], [], [], REAP_S)
        _reap()
        if not ready:
            continue
        chunk = os.read(inp, 1 << 16)
        if not chunk:
            return 0  # the service is gone; the launchers are not
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                folder = Path(json.loads(line))
                pid = _fork(folder)
                reply: dict[str, object] = {"pid": pid, "ticks": start_ticks(pid)}
            except (OSError, ValueError, TypeError) as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            os.write(out, json.dumps(reply).encode() + b"\n")


class ForkServer:
    """The service's end: starts the server on first use, asks it for launchers (thread-safe),
    and starts it again once if it died."""

    def __init__(self, cwd: Path, env: dict[str, str], python: str = sys.executable,
                 reply_timeout_s: float = REPLY_TIMEOUT_S) -> None:
        self.cwd, self.env, self.python = cwd, env, python
        self.reply_timeout_s = reply_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        # preloaded: the launcher's imports, paid once here instead of in every launcher
        code = ("import suanli.service.sandbox_run, suanli.service.forkserver as f, sys; "
                "sys.exit(f.serve())")
        proc = subprocess.Popen([self.python, "-c", code], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=None, cwd=self.cwd, env=self.env,
                                start_new_session=True)
        return proc  # the service's weight (module doc); its launchers are niced

    def _ask(self, proc: subprocess.Popen[bytes], folder: Path) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(str(folder)).encode() + b"\n")
        proc.stdin.flush()
        # one line per request, so nothing is ever left buffered: select sees the next one
        if not select.select([proc.stdout], [], [], self.reply_timeout_s)[0]:
            raise OSError(f"the launcher fork server did not answer in "
                          f"{self.reply_timeout_s:g} s")
        line = proc.stdout.readline()
        if not line:
            raise OSError("the launcher fork server exited")
        reply = json.loads(line)
        if "error" in reply:
            raise OSError(f"the launcher fork server could not start a launcher: "
                          f"{reply['error']}")
        return dict(reply)

    @property
    def pid(self) -> int | None:
        """The running server's pid, or None."""
        proc = self._proc
        return None if proc is None or proc.poll() is not None else proc.pid

    def launch(self, folder: Path) -> tuple[int, str | None]:
        """Start a launcher for ``folder``; its (pid, start ticks). Raises OSError when the
        server cannot be used (the caller then starts the launcher itself)."""
        with self._lock:
            for attempt in (0, 1):
                if self._proc is None or self._proc.poll() is not None:
                    self._proc = self._start()
                try:
                    reply = self._ask(self._proc, folder)
                    return int(reply["pid"]), (None if reply["ticks"] is None
                                               else str(reply["ticks"]))
                except (OSError, ValueError) as exc:
                    self._close(kill=True)  # dead, hung or confused: a new one next time
                    if attempt:
                        raise OSError(str(exc)) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the server (end-of-file on its stdin); launchers it started go on."""
        with self._lock:
            self._close()

    def _close(self, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if kill:
            proc.kill()  # the server only: its launchers lead their own sessions
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
