"""The "no Ray" fallback executor: real local processes, detached from the service.

Each job runs as ``sh -c '<command>'`` in its own session (``setsid``), so a ``kill -9`` of the
service leaves it running. Its folder ``<runs_dir>/<job_id>/`` holds ``out.log`` (stdout and
stderr) and, when it ends, ``exit_code`` written by the wrapping shell. The handle is JSON
``{"pid", "dir", "boot"}``; after a restart :meth:`reattach` finds the process again by pid and
its start time (``/proc/<pid>/stat`` field 22), or reports it LOST.

It has one site, ``local``, with the machine's CPUs and no GPUs. Use the Ray executor
(``executors/ray_executor.py``) for several sites and GPUs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from suanli.service.executors.base import JobSpec, RunState, RunStatus

SITE = "local"
_PY = "import importlib,json,sys; m,f=sys.argv[1].split(':'); " \
      "r=getattr(importlib.import_module(m),f)(**json.loads(sys.argv[2])); " \
      "r is not None and print(json.dumps(r, default=str))"


def _start_ticks(pid: int) -> str | None:
    """Process start time in clock ticks since boot, or None if no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]  # field 22 of stat(5); "Z" = zombie


class SubprocessExecutor:
    """Executor protocol on local processes (see module doc)."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        self.runs_dir.mkdir(parents=True, exist_ok=True)

    def submit(self, spec: JobSpec) -> str:
        if spec.site not in (None, SITE):
            raise RuntimeError(f"site '{spec.site}' is not served by the local executor")
        if spec.gpus > 0:
            raise RuntimeError("the local subprocess executor has no GPUs; run with Ray")
        folder = self.runs_dir / spec.job_id
        folder.mkdir(parents=True, exist_ok=True)
        if spec.kind == "python":
            assert spec.entrypoint is not None
            inner = shlex.join([sys.executable, "-c", _PY, spec.entrypoint,
                                json.dumps(spec.args)])
        else:
            assert spec.command is not None
            inner = spec.command
        code = folder / "exit_code"
        script = f"({inner}); echo $? > {shlex.quote(str(code))}.tmp && " \
                 f"mv {shlex.quote(str(code))}.tmp {shlex.quote(str(code))}"
        with open(folder / "out.log", "ab") as log:
            proc = subprocess.Popen(["sh", "-c", script], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    cwd=folder, env={**os.environ, **spec.env})
        self._children[proc.pid] = proc
        return json.dumps({"pid": proc.pid, "dir": str(folder),
                           "ticks": _start_ticks(proc.pid), "t0": time.time()})

    def _reap(self) -> None:
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]

    def status(self, handle: str) -> RunStatus:
        self._reap()
        h = json.loads(handle)
        folder = Path(h["dir"])
        code_file = folder / "exit_code"
        if (folder / "cancelled").exists():
            return RunStatus(RunState.CANCELLED, None, "cancelled on request", h["t0"],
                             (folder / "cancelled").stat().st_mtime)
        if code_file.exists():
            code = int(code_file.read_text().strip() or "-1")
            end = code_file.stat().st_mtime
            if code == 0:
                return RunStatus(RunState.SUCCEEDED, 0, "exit 0", h["t0"], end)
            return RunStatus(RunState.FAILED, code, f"command exited with status {code}",
                             h["t0"], end)
        ticks = _start_ticks(int(h["pid"]))
        if ticks is not None and ticks == h["ticks"]:
            return RunStatus(RunState.RUNNING, None, "running", h["t0"], None)
        return RunStatus(RunState.LOST, None, f"process {h['pid']} is gone and left no exit "
                         "status (killed, or the machine restarted)", h["t0"], time.time())

    def logs(self, handle: str, tail: int = 200) -> str:
        path = Path(json.loads(handle)["dir"]) / "out.log"
        if not path.exists():
            return ""
        lines = path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:]) + ("\n" if lines else "")

    def cancel(self, handle: str) -> None:
        h = json.loads(handle)
        if self.status(handle).state.terminal:
            return
        (Path(h["dir"]) / "cancelled").touch()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(h["pid"]), signal.SIGTERM)
        self._reap()

    def reattach(self, handle: str) -> RunStatus:
        return self.status(handle)

    def resources(self) -> dict[str, dict[str, float]]:
        return {SITE: {"CPU": float(os.cpu_count() or 1), "GPU": 0.0}}

    def shutdown(self) -> None:
        self._reap()
