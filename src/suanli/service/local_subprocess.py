"""The "no Ray" executor: each job in the sandbox, supervised by a detached local launcher.

``submit`` writes ``<runs_dir>/<job_id>/spec.json`` and starts a launcher for it in its own
session, so a ``kill -9`` of the service leaves it running: forked by the executor's fork server
(:mod:`suanli.service.forkserver`, ~1 ms), or, when that server cannot be used,
``python -m suanli.service.sandbox_run <dir>`` (~50 CPU-ms of interpreter start). The launcher
first *claims* the directory (an atomic ``link(2)`` of
``claim``, holding its pid and start ticks), runs the job in the sandbox
(:mod:`suanli.service.sandbox`) with ``work/`` as ``/job``, keeps the tail of its output in
``out.log`` (+ ``out.log.1``), and writes ``result.json`` atomically when it ends.

At most once across ``kill -9``: the folder is named by the job id, so a service that died after
starting a job but before saving its handle, and submits the job again after the restart, finds
the claim and gets the same run back (no second launcher runs it). A launcher that died with no
result is reported LOST, never restarted.

The handle is JSON ``{"pid", "dir", "ticks", "t0"}`` (the launcher's pid and start ticks,
``/proc/<pid>/stat`` field 22). One site, ``local``, with the machine's CPUs and no GPUs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from suanli.service import cgroups
from suanli.service.executors.base import JobSpec, RunState, RunStatus
from suanli.service.forkserver import ForkServer, yield_cpu
from suanli.service.sandbox import check_hidden, check_spec, sandbox_available
from suanli.service.sandbox_run import TailLog, start_ticks, workdir_of

log = logging.getLogger("suanli.service.local_subprocess")

SITE = "local"
_STATES = {"succeeded": RunState.SUCCEEDED, "failed": RunState.FAILED,
           "cancelled": RunState.CANCELLED}


def _alive(pid: int, ticks: str | None) -> bool:
    return ticks is not None and start_ticks(pid) == ticks


class SubprocessExecutor:
    """Executor protocol on sandboxed local processes (see module doc).

    ``require_sandbox=False`` (``--insecure-single-tenant``) runs jobs unsandboxed when this
    machine cannot sandbox; with True (the default) such jobs fail with the reason."""

    def __init__(self, runs_dir: Path, require_sandbox: bool = True) -> None:
        self.runs_dir = Path(runs_dir)
        self.require_sandbox = require_sandbox
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._forks = ForkServer(Path("/"), _launcher_env())

    def start(self) -> None:
        check_hidden(self.runs_dir)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.runs_dir.chmod(0o700)  # job folders hold logs; tenants' uids never enter here

    def submit(self, spec: JobSpec) -> str:
        if spec.site not in (None, SITE):
            raise RuntimeError(f"site '{spec.site}' is not served by the local executor")
        if spec.gpus > 0:
            raise RuntimeError("the local subprocess executor has no GPUs; run with Ray")
        check_spec(spec)
        folder = self.runs_dir / spec.job_id
        folder.mkdir(parents=True, exist_ok=True)
        claim = folder / "claim"
        if claim.exists():  # started before a crash: the same run, never a second one
            return self._handle_from_claim(folder)
        ok, reason = sandbox_available()
        if not ok and self.require_sandbox:
            raise RuntimeError(f"cannot sandbox the job: {reason}")
        doc = {**asdict(spec), "_sandboxed": ok}
        tmp = folder / "spec.json.tmp"
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, folder / "spec.json")
        try:
            pid, ticks = self._forks.launch(folder)  # niced by itself
        except OSError as exc:
            log.warning("launcher fork server unusable (%s); starting the launcher directly",
                        exc)
            pid, ticks = self._spawn(folder)
        return json.dumps({"pid": pid, "dir": str(folder), "ticks": ticks, "t0": time.time()})

    def _spawn(self, folder: Path) -> tuple[int, str | None]:
        """A launcher as its own Python process (the fork server's fallback)."""
        with open(folder / "launcher.log", "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "suanli.service.sandbox_run",
                                     str(folder)], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    cwd=folder, env=_launcher_env())
        self._children[proc.pid] = proc
        yield_cpu(proc.pid)
        return proc.pid, start_ticks(proc.pid)

    @staticmethod
    def _handle_from_claim(folder: Path) -> str:
        doc = json.loads((folder / "claim").read_text())
        return json.dumps({"pid": doc["pid"], "dir": str(folder), "ticks": doc["ticks"],
                           "t0": (folder / "claim").stat().st_mtime})

    def _reap(self) -> None:
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]

    @staticmethod
    def _look(folder: Path, h: dict[str, Any]) -> RunStatus | None:
        """The run's status from its folder, or None when its launcher is gone with no result."""
        with contextlib.suppress(FileNotFoundError):
            r = json.loads((folder / "result.json").read_text())
            return RunStatus(_STATES[r["state"]], r["exit_code"], r["message"],
                             r["started_at"], r["finished_at"])
        try:
            owner = json.loads((folder / "claim").read_text())
        except (FileNotFoundError, ValueError):
            owner = None
        if owner is not None:
            if _alive(int(owner["pid"]), owner["ticks"]):
                return RunStatus(RunState.RUNNING, None, "running", h["t0"], None)
        elif _alive(int(h["pid"]), h["ticks"]):
            return RunStatus(RunState.PENDING, None, "starting", h["t0"], None)
        return None

    def status(self, handle: str) -> RunStatus:
        self._reap()
        h = json.loads(handle)
        folder = Path(h["dir"])
        # twice: a launcher that wrote its result (or claimed) and exited between the reads of
        # one look is not lost; only one gone in both looks is
        st = self._look(folder, h) or self._look(folder, h)
        if st is not None:
            return st
        cgroups.leftover(folder.name, scope=str(workdir_of(folder))).remove(
            timeout_s=0.5)  # its supervisor cannot any more
        if (folder / "cancel").exists():
            return RunStatus(RunState.CANCELLED, None, "cancelled on request", h["t0"],
                             (folder / "cancel").stat().st_mtime)
        return RunStatus(RunState.LOST, None, f"launcher {h['pid']} is gone and left no result "
                         "(killed, or the machine restarted); the job is not run again",
                         h["t0"], time.time())

    def logs(self, handle: str, tail: int = 200) -> str:
        folder = Path(json.loads(handle)["dir"])
        try:
            limit = int(json.loads((folder / "spec.json").read_text())["log_limit_bytes"])
        except (OSError, ValueError, KeyError):
            limit = 1 << 20
        lines = TailLog.read(folder / "out.log", limit).splitlines()
        return "\n".join(lines[-tail:]) + ("\n" if lines else "")

    def cancel(self, handle: str) -> None:
        h = json.loads(handle)
        if self.status(handle).state.terminal:
            return
        folder = Path(h["dir"])
        (folder / "cancel").touch()
        with contextlib.suppress(FileNotFoundError, ValueError):
            owner = json.loads((folder / "claim").read_text())
            if _alive(int(owner["pid"]), owner["ticks"]):
                os.kill(int(owner["pid"]), signal.SIGTERM)  # the launcher stops its sandbox
        self._reap()

    def reattach(self, handle: str) -> RunStatus:
        return self.status(handle)

    def resources(self) -> dict[str, dict[str, float]]:
        return {SITE: {"CPU": float(os.cpu_count() or 1), "GPU": 0.0}}

    def shutdown(self) -> None:
        self._forks.close()  # the launchers it started run on
        self._reap()


def _launcher_env() -> dict[str, str]:
    """The launcher's own environment: enough to run Python; nothing of the service's secrets
    (the job's environment is built from scratch inside the sandbox anyway)."""
    keep = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: os.environ[k] for k in keep if k in os.environ}
