"""Supervise one sandboxed job: start it, keep the tail of its output, enforce wall time, stop it.

:func:`run_job` is what both executors call where the job lands (the local executor in a
detached launcher process, ``python -m suanli.service.sandbox_run <job dir>``; the Ray
executor inside a Ray task). It returns an :class:`Outcome`; it never raises for the job's own
failures. Stopping (cancel, wall time) sends SIGTERM to every process of the sandbox, waits
``grace_s``, then SIGKILLs bubblewrap, which takes its whole pid namespace down with it.

The local launcher is at-most-once across ``kill -9`` of the service: before anything runs it
*claims* the job directory by ``link(2)``-ing a file holding its pid to ``claim`` (atomic, fails
if the name exists), so a second launcher for the same job (a service that died between
starting the job and saving its handle, then submitted it again) exits without running it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from suanli.service import cgroups
from suanli.service.executors.base import JobSpec
from suanli.service.sandbox import (
    SandboxPolicy,
    job_argv,
    job_env,
    prepare_workdir,
    sandbox_argv,
    tenant_uid,
)

__all__ = ["Outcome", "TailLog", "claim", "descendants", "run_job", "start_ticks"]


@dataclass(frozen=True)
class Outcome:
    """How a job ended; times in unix seconds."""

    state: str  # "succeeded" | "failed" | "cancelled"
    exit_code: int | None
    message: str  # one line
    started_at: float
    finished_at: float


class TailLog:
    """The last ``limit`` bytes of a job's output: in memory, and in ``path`` when given.

    On disk it is two files, ``path`` and ``path.1``: when ``path`` reaches ``limit`` bytes it
    becomes ``path.1`` and a new one starts, so at most ``2 x limit`` bytes are ever stored and
    the last ``limit`` are always there."""

    def __init__(self, limit: int, path: Path | None = None) -> None:
        self.limit, self.path = max(int(limit), 1), path
        self.buf = bytearray()
        self.total = 0  # bytes the job wrote in all

    def write(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.buf += chunk
        if len(self.buf) > 2 * self.limit:
            del self.buf[:-self.limit]
        if self.path is None:
            return
        if self.path.exists() and self.path.stat().st_size >= self.limit:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        with open(self.path, "ab") as f:
            f.write(chunk)

    def tail(self) -> bytes:
        return bytes(self.buf[-self.limit:])

    @staticmethod
    def read(path: Path, limit: int) -> str:
        """The stored tail of a log written by another process."""
        data = b""
        for p in (path.with_name(path.name + ".1"), path):
            with contextlib.suppress(OSError):
                data += p.read_bytes()
        return data[-limit:].decode(errors="replace")


def start_ticks(pid: int) -> str | None:
    """Process start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None
    when there is no such live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (sandboxed processes included: they keep host pids)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM every process of the job, wait ``grace_s``, then SIGKILL the rest."""
    for pid in descendants(proc.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in [proc.pid, *descendants(proc.pid)]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def _message(state: str, code: int | None, log: TailLog, reason: str) -> str:
    if reason:
        return reason
    if state == "succeeded":
        return "exit code 0"
    last = [ln.strip() for ln in log.tail()[-2000:].decode(errors="replace").splitlines()
            if ln.strip()][-3:]
    msg = f"command exited with status {code}"
    if last:
        msg += f"; last output: {' | '.join(last)}"
    return msg[:500]


def workdir_of(folder: Path) -> Path:
    """The job's working folder inside its run folder (its cgroup is named by it too)."""
    return folder / "work"


def run_job(spec: JobSpec, workdir: Path, log: TailLog, *, sandboxed: bool = True,
            policy: SandboxPolicy | None = None, cancelled: Callable[[], bool] = lambda: False,
            on_start: Callable[[int], None] | None = None,
            on_output: Callable[[bytes], None] | None = None,
            grace_s: float = 2.0, poll_s: float = 0.2) -> Outcome:
    """Run ``spec`` to the end (see module doc); ``cancelled()`` is polled every ``poll_s``.

    A KeyboardInterrupt (how Ray cancels a running task) stops the job like a cancel."""
    p = policy or SandboxPolicy()
    wall = spec.wall_time_s or p.default_wall_time_s  # s
    cg = None
    if sandboxed:
        prepare_workdir(workdir, tenant_uid(spec.tenant_id))
        memory = (spec.memory_mb or p.default_memory_mb) << 20  # bytes
        cg = cgroups.create(spec.job_id, max(spec.cpus, 0.01), memory, p.max_procs,
                            scope=str(workdir))
        argv, env, cwd = cgroups.join_argv(cg, sandbox_argv(spec, workdir, p)), {}, "/"
    else:  # --insecure-single-tenant: same clean environment, no namespaces, no uid switch
        workdir.mkdir(parents=True, exist_ok=True)
        argv, env, cwd = job_argv(spec), {**job_env(spec), "HOME": str(workdir)}, str(workdir)
    try:
        return _supervise(argv, env, cwd, log, wall, cancelled, on_start, on_output,
                          grace_s, poll_s)
    finally:
        if cg is not None:
            cg.remove()


def _supervise(argv: list[str], env: dict[str, str], cwd: str, log: TailLog,
               wall: float, cancelled: Callable[[], bool],
               on_start: Callable[[int], None] | None,
               on_output: Callable[[bytes], None] | None,
               grace_s: float, poll_s: float) -> Outcome:
    t0 = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True)
    if on_start is not None:
        on_start(proc.pid)
    assert proc.stdout is not None
    fd, deadline, reason, state = proc.stdout.fileno(), time.monotonic() + wall, "", ""
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], poll_s)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break  # every writer closed its end: the job is over
                log.write(chunk)
                if on_output is not None:
                    on_output(chunk)
            elif proc.poll() is not None:
                break  # ended; a leftover background process still holds the pipe
            if cancelled():
                state, reason = "cancelled", "cancelled on request"
            elif time.monotonic() > deadline:
                state, reason = "failed", f"stopped: wall time of {wall:g} s exceeded"
            if reason:
                _stop(proc, grace_s)
                break
    except KeyboardInterrupt:
        state, reason = "cancelled", "cancelled on request"
        _stop(proc, grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers of its session (the leader is unreaped)
    code = proc.wait()
    proc.stdout.close()
    if not state:
        state = "succeeded" if code == 0 else "failed"
    return Outcome(state, None if state == "cancelled" else code,
                   _message(state, code, log, reason), t0, time.time())


# ---- the local launcher: python -m suanli.service.sandbox_run <job dir> --------------------
def claim(folder: Path) -> bool:
    """Atomically take ``folder/claim`` for this process (its pid and start ticks)."""
    tmp = folder / f"claim.{os.getpid()}"
    tmp.write_text(json.dumps({"pid": os.getpid(), "ticks": start_ticks(os.getpid())}))
    try:
        os.link(tmp, folder / "claim")
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def main(folder: Path) -> int:
    """Claim, run, write ``result.json`` atomically; exit 0 also when the job failed."""
    if not claim(folder):
        return 0  # another launcher owns (or owned) this job: never run it twice
    spec_doc = json.loads((folder / "spec.json").read_text())
    sandboxed = bool(spec_doc.pop("_sandboxed", True))
    spec = JobSpec(**spec_doc)
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
    log = TailLog(spec.log_limit_bytes, folder / "out.log")
    try:
        out = run_job(spec, workdir_of(folder), log, sandboxed=sandboxed,
                      cancelled=lambda: stop["flag"] or (folder / "cancel").exists())
    except Exception as exc:  # the sandbox itself failed to start: say so in one line
        now = time.time()
        out = Outcome("failed", None, f"sandbox failed to start: {type(exc).__name__}: {exc}",
                      now, now)
    tmp = folder / "result.json.tmp"
    tmp.write_text(json.dumps(asdict(out)))
    os.replace(tmp, folder / "result.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
