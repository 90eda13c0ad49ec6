"""Inside the Ray cluster: one detached dispatcher actor, and one Ray task per job.

Why not Ray's Job Submission API (issue 9, finding 11): every submission there starts a job
supervisor *actor*, a new Python worker process per job (~1 s each on 2 cores), so the service
started ~1 job/s. Here a job is a plain Ray *task*: Ray reuses warm worker processes, and the
task starts the job's sandbox (:func:`suanli.service.sandbox_run.run_job`) on the node Ray chose.

The tasks are submitted by the **dispatcher**, a detached named actor (``suanli-dispatcher`` in
namespace ``suanli``), not by the service: a task lives as long as its owner, and the
dispatcher outlives a ``kill -9`` of the service, so jobs keep running and the restarted service
finds them by job id. The dispatcher keeps, per job: state, times, exit code, message, node id
and the tail of the output (pushed by the task every 0.5 s while it runs), for at most
``keep_finished`` finished jobs holding at most ``keep_log_bytes`` of logs (oldest dropped
first; the service copies what it keeps into its own storage). Each task asks Ray for the
job's CPUs, GPUs, memory and ``0.001`` of ``site:<id>``, with ``max_retries=0`` (a job never
runs twice), and removes the job's working directory on the node when the job ends.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import threading
import time
from collections import OrderedDict
from typing import Any

import ray

from suanli.service.executors.base import JobSpec

PROTOCOL = 3  # bump when the dispatcher or task signature changes (old actors keep old code)
NAME, NAMESPACE = f"suanli-dispatcher-v{PROTOCOL}", "suanli"
SANDBOX_ROOT = "/var/tmp/suanli-jobs"  # node-local parent of the jobs' working directories


def _root() -> str:
    """The node's job root: root-owned, mode 0711 (a job can enter only its own directory)."""
    root = os.environ.get("SUANLI_SANDBOX_ROOT", SANDBOX_ROOT)
    os.makedirs(root, mode=0o711, exist_ok=True)
    st = os.lstat(root)
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise RuntimeError(f"{root} must be owned by uid {os.geteuid()} and not group/world "
                           "writable (someone else created it?)")
    return root


def interruptible() -> None:
    """Let ``ray.cancel`` reach this task: Ray cancels a running task by interrupting its
    worker's main thread as SIGINT would, and Python drops that interrupt where SIGINT is
    ignored. A process started in the background by a non-interactive shell (``suanli service
    up &`` in a script, CI) inherits SIGINT ignored, and so do the Ray head and every worker it
    forks: a cancelled job then ran on to its end. Restore Python's handler in the task."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run_job_task(spec_doc: dict[str, Any], require_sandbox: bool,
                 dispatcher: Any) -> dict[str, Any]:
    """The Ray task body: run one job in the sandbox on this node; return its outcome."""
    from dataclasses import asdict
    from pathlib import Path

    from suanli.service.sandbox import sandbox_available
    from suanli.service.sandbox_run import TailLog, run_job

    interruptible()
    spec = JobSpec(**spec_doc)
    ok, reason = sandbox_available()
    now = time.time()
    if not ok and require_sandbox:
        return {"state": "failed", "exit_code": None, "started_at": now, "finished_at": now,
                "message": f"node cannot sandbox jobs: {reason}", "log": ""}
    node = ray.get_runtime_context().get_node_id()
    pending = bytearray()
    last = [time.monotonic()]

    def started(_pid: int) -> None:
        dispatcher.started.remote(spec.job_id, time.time(), node)

    def output(chunk: bytes) -> None:
        pending.extend(chunk)
        if time.monotonic() - last[0] >= 0.5:
            dispatcher.output.remote(spec.job_id, bytes(pending[-spec.log_limit_bytes:]))
            pending.clear()
            last[0] = time.monotonic()

    log = TailLog(spec.log_limit_bytes)
    workdir = Path(_root()) / f"{spec.tenant_id[:40]}-{spec.job_id[:80]}"
    try:
        out = run_job(spec, workdir, log, sandboxed=ok, on_start=started, on_output=output)
    finally:  # nothing reads a Ray job's files afterwards: free the node's disk
        shutil.rmtree(workdir, ignore_errors=True)
    return {**asdict(out), "log": log.tail().decode(errors="replace")}


@ray.remote(num_cpus=0, max_restarts=0)
class Dispatcher:
    """Submits job tasks and remembers what became of them (see module doc)."""

    def __init__(self, keep_finished: int = 20_000, keep_log_bytes: int = 256 << 20) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.refs: dict[str, Any] = {}
        self.finished: OrderedDict[str, int] = OrderedDict()  # job id -> log bytes, by end
        self.keep_finished, self.keep_log_bytes = keep_finished, keep_log_bytes
        self.finished_bytes = 0
        self.task = ray.remote(run_job_task)

    async def submit(self, spec_doc: dict[str, Any], options: dict[str, Any],
                     require_sandbox: bool) -> bool:
        """Start the job unless this job id is known (then False: never a second run)."""
        job_id = spec_doc["job_id"]
        if job_id in self.jobs:
            return False
        self.jobs[job_id] = {"state": "pending", "exit_code": None, "message": "waiting for "
                             "resources", "started_at": None, "finished_at": None, "node": None,
                             "log": "", "limit": int(spec_doc["log_limit_bytes"]),
                             "cancel": False}
        me = ray.get_runtime_context().current_actor
        ref = self.task.options(max_retries=0, **options).remote(spec_doc, require_sandbox, me)
        self.refs[job_id] = ref
        asyncio.get_running_loop().create_task(self._watch(job_id, ref))
        return True

    async def _watch(self, job_id: str, ref: Any) -> None:
        rec = self.jobs[job_id]
        try:
            out = await ref
            rec.update(out)
        except ray.exceptions.TaskCancelledError:
            rec.update(state="cancelled", message="cancelled on request")
        except ray.exceptions.RayError as exc:  # the worker or its node died
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            rec.update(state="cancelled" if rec["cancel"] else "lost",
                       message="cancelled on request" if rec["cancel"] else
                       f"the Ray worker running the job died: {first}")
        rec["finished_at"] = rec.get("finished_at") or time.time()
        rec["log"] = rec["log"][-rec["limit"]:]
        self.refs.pop(job_id, None)
        self.finished[job_id] = len(rec["log"])
        self.finished_bytes += len(rec["log"])
        while self.finished and (len(self.finished) > self.keep_finished
                                 or self.finished_bytes > self.keep_log_bytes):
            old, size = self.finished.popitem(last=False)
            self.finished_bytes -= size
            self.jobs.pop(old, None)

    async def started(self, job_id: str, t: float, node: str) -> None:
        rec = self.jobs.get(job_id)
        if rec is not None and rec["state"] == "pending":
            rec.update(state="running", started_at=t, node=node, message="running")

    async def output(self, job_id: str, chunk: bytes) -> None:
        rec = self.jobs.get(job_id)
        if rec is not None and job_id in self.refs:
            rec["log"] = (rec["log"] + chunk.decode(errors="replace"))[-rec["limit"]:]

    async def status(self, job_ids: list[str]) -> dict[str, dict[str, Any] | None]:
        """State of each job (``None`` for an unknown id); logs left out."""
        return {j: ({k: v for k, v in self.jobs[j].items() if k != "log"}
                    if j in self.jobs else None) for j in job_ids}

    async def logs(self, job_id: str) -> str | None:
        rec = self.jobs.get(job_id)
        return None if rec is None else str(rec["log"])

    async def cancel(self, job_id: str) -> None:
        ref = self.refs.get(job_id)
        if ref is not None:
            self.jobs[job_id]["cancel"] = True
            ray.cancel(ref)  # a running task gets KeyboardInterrupt: run_job stops its sandbox

    async def ping(self) -> int:
        return len(self.refs)
