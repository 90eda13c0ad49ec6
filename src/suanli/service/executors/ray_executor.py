"""Run service jobs on Ray through its Job Submission API.

Each job becomes one Ray *submission*: the entrypoint is the job's shell command, or
``python -m suanli.service.executors.run_entrypoint MOD:FN ARGS`` for a Python entrypoint. The
submission asks Ray for the job's CPUs, GPUs and memory and for ``0.001`` of the custom resource
``site:<id>`` of its placement, so Ray enforces the placement (a node without that resource
never runs it). The submission id is the handle the service stores; status, logs and cancel map
onto ``get_job_info`` / ``get_job_logs`` / ``stop_job`` (Ray docs, "Ray Jobs Python SDK",
https://docs.ray.io/en/latest/cluster/running-applications/job-submission/sdk.html).

Jobs are run by Ray's job supervisor actors, never as children of the service, so they survive a
``kill -9`` of the service; :meth:`RayExecutor.reattach` finds them again by handle.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from suanli.errors import InfeasibleError, InputError
from suanli.service.executors.base import JobSpec, RunState, RunStatus
from suanli.service.executors.ray_head import (
    HeadInfo,
    adopt_head,
    dashboard_alive,
    site_resource,
    start_head,
    stop_head,
)

__all__ = ["RayExecutor", "build_entrypoint"]

SITE_SHARE = 0.001  # of a "site:<id>" resource a job asks for: a marker, not a capacity limit
_EXIT_RE = re.compile(r"exit code (-?\d+)")


def build_entrypoint(spec: JobSpec, python: str = sys.executable) -> str:
    """The shell command Ray runs for ``spec`` (pure; raises InputError on a bad spec)."""
    if spec.kind == "command":
        if not spec.command or not spec.command.strip():
            raise InputError(f"job {spec.job_id}: kind 'command' needs a non-empty command.")
        return spec.command
    if spec.kind == "python":
        if not spec.entrypoint or ":" not in spec.entrypoint:
            raise InputError(f"job {spec.job_id}: kind 'python' needs entrypoint "
                             f"'package.module:function', got {spec.entrypoint!r}.")
        return " ".join(shlex.quote(p) for p in (
            python, "-m", "suanli.service.executors.run_entrypoint", spec.entrypoint,
            json.dumps(spec.args)))
    raise InputError(f"job {spec.job_id}: unknown kind {spec.kind!r}; use 'command' or 'python'.")


def _status_from(info: Any) -> RunStatus:
    """Map Ray's JobDetails onto RunStatus (times: Ray gives ms since epoch; we store s)."""
    name = str(getattr(info.status, "value", info.status))
    state = {"PENDING": RunState.PENDING, "RUNNING": RunState.RUNNING,
             "SUCCEEDED": RunState.SUCCEEDED, "FAILED": RunState.FAILED,
             "STOPPED": RunState.CANCELLED}.get(name, RunState.LOST)
    exit_code = getattr(info, "driver_exit_code", None)
    message = info.message or ""
    if exit_code is None and state is RunState.FAILED:
        match = _EXIT_RE.search(message)
        exit_code = int(match.group(1)) if match else None
    if state is RunState.SUCCEEDED and exit_code is None:
        exit_code = 0
    if state is RunState.FAILED and len(message) > 2000:
        message = message[:300] + " ... " + message[-1500:]
    start = info.start_time / 1000.0 if info.start_time else None  # s
    end = info.end_time / 1000.0 if info.end_time else None  # s
    return RunStatus(state=state, exit_code=exit_code, message=message, started_at=start,
                     finished_at=end)


class RayExecutor:
    """Executor backed by a Ray cluster: an embedded local head, or ``address`` of an existing one.

    ``address`` is the cluster's Jobs API (``http://head:8265``). With ``address=None`` the
    executor adopts the head recorded in ``data_dir`` or starts a detached one whose node
    carries one ``site:<id>`` resource per entry of ``sites`` (``{"A": {"CPU": 2, "GPU": 0}}``).
    On an existing cluster, start each site's nodes with ``--resources '{"site:<id>": N}'``.
    """

    def __init__(self, address: str | None = None, data_dir: Path | str | None = None,
                 sites: dict[str, dict[str, float]] | None = None, *,
                 num_cpus: float | None = None, object_store_mb: int = 200) -> None:
        self.address = address
        self.data_dir = Path(data_dir) if data_dir else Path.home() / ".suanli"
        self.sites = dict(sites or {"local": {"CPU": 2.0, "GPU": 0.0}})
        self.num_cpus, self.object_store_mb = num_cpus, object_store_mb
        self.head: HeadInfo | None = None  # set when we manage a local head
        self._client: Any = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Connect to ``address``, or adopt / start the embedded local head."""
        from ray.job_submission import JobSubmissionClient

        url = self.address
        if url is None:
            self.head = adopt_head(self.data_dir) or start_head(
                self.data_dir, self.sites, num_cpus=self.num_cpus,
                object_store_mb=self.object_store_mb)
            url = self.head.dashboard_url
        elif not url.startswith(("http://", "https://")):
            raise InputError(f"--ray-address {url!r} must be the cluster's Jobs API URL, e.g. "
                             f"http://head-node:8265 (Ray's dashboard port).")
        try:
            self._client = JobSubmissionClient(url)
        except (ConnectionError, RuntimeError) as exc:
            raise InputError(f"cannot reach the Ray Jobs API at {url}: {exc}. Is the cluster "
                             f"up (`ray status`) and the dashboard enabled?") from exc

    @property
    def url(self) -> str:
        """The Jobs API URL in use."""
        if self.head is not None:
            return self.head.dashboard_url
        if self.address is None:
            raise RuntimeError("RayExecutor.start() was not called")
        return self.address

    @property
    def client(self) -> Any:
        """The JobSubmissionClient (after :meth:`start`)."""
        if self._client is None:
            raise RuntimeError("RayExecutor.start() was not called")
        return self._client

    def shutdown(self, stop_cluster: bool = True) -> None:
        """Stop the local head this executor manages (its jobs die with it); never a remote one."""
        if self.head is not None and stop_cluster:
            stop_head(self.head, self.data_dir)
            self.head = None
        self._client = None

    # -- resources and placement ------------------------------------------------------------
    def resources(self) -> dict[str, dict[str, float]]:
        """site -> {"CPU", "GPU"} summed over the alive nodes carrying ``site:<id>``."""
        from ray.util.state import list_nodes

        out: dict[str, dict[str, float]] = {}
        for node in list_nodes(address=self.url, detail=True):
            if node.state != "ALIVE":
                continue
            total = node.resources_total or {}
            for key in total:
                if key.startswith("site:"):
                    site = out.setdefault(key[5:], {"CPU": 0.0, "GPU": 0.0})
                    site["CPU"] += float(total.get("CPU", 0.0))
                    site["GPU"] += float(total.get("GPU", 0.0))
        return out

    def node_of(self, handle: str) -> str | None:
        """Ray node id that runs (ran) the job's driver, or None while pending."""
        node_id: str | None = self.client.get_job_info(handle).driver_node_id
        return node_id or None

    def node_resources(self, node_id: str) -> dict[str, float]:
        """Total resources of one Ray node."""
        from ray.util.state import list_nodes

        for node in list_nodes(address=self.url, detail=True):
            if node.node_id == node_id:
                return dict(node.resources_total or {})
        return {}

    def _check_feasible(self, spec: JobSpec) -> dict[str, float]:
        """Refuse work Ray could never place (it would wait forever); return extra resources."""
        if spec.site is None:
            return {}
        have = self.resources()
        if spec.site not in have:
            raise InputError(f"job {spec.job_id}: site {spec.site!r} has no Ray node (no node "
                             f"carries resource 'site:{spec.site}'). Known sites: "
                             f"{', '.join(sorted(have)) or 'none'}; start a node with "
                             f"--resources '{{\"site:{spec.site}\": 1}}'.")
        site = have[spec.site]
        if spec.cpus > site["CPU"] or spec.gpus > site["GPU"]:
            raise InfeasibleError(
                f"job {spec.job_id} needs {spec.cpus:g} CPU / {spec.gpus:g} GPU but site "
                f"{spec.site!r} has {site['CPU']:g} CPU / {site['GPU']:g} GPU in total.",
                fixes=["ask for fewer CPUs/GPUs", "place the job on a larger site"])
        return {site_resource(spec.site): SITE_SHARE}

    # -- jobs -------------------------------------------------------------------------------
    def submit(self, spec: JobSpec) -> str:
        """Submit ``spec``; the returned Ray submission id is the handle.

        The id is derived from the service's job id alone, so a service that dies between this
        call and saving the handle finds the same run again instead of starting a second one."""
        entrypoint = build_entrypoint(spec)
        extra = self._check_feasible(spec)
        env = {**spec.env, "SUANLI_JOB_ID": spec.job_id, "SUANLI_TENANT_ID": spec.tenant_id,
               "SUANLI_SITE": spec.site or ""}
        submission_id = f"suanli-{spec.job_id}"
        with contextlib.suppress(Exception):  # already submitted before a crash: reuse it
            if self.client.get_job_info(submission_id) is not None:
                return submission_id
        handle: str = self.client.submit_job(
            entrypoint=entrypoint,
            submission_id=submission_id,
            runtime_env={"env_vars": env},
            metadata={"suanli_job_id": spec.job_id, "tenant": spec.tenant_id,
                      "site": spec.site or ""},
            entrypoint_num_cpus=spec.cpus,
            entrypoint_num_gpus=spec.gpus or None,
            entrypoint_memory=spec.memory_mb * 1024 * 1024 if spec.memory_mb else None,  # bytes
            entrypoint_resources=extra or None,
        )
        return handle

    def status(self, handle: str) -> RunStatus:
        """Current state; FAILED carries Ray's message (exit code and the tail of the logs)."""
        return _status_from(self.client.get_job_info(handle))

    def logs(self, handle: str, tail: int = 200) -> str:
        """Last ``tail`` lines of the job's output."""
        text: str = self.client.get_job_logs(handle)
        return "\n".join(text.splitlines()[-tail:]) if tail > 0 else text

    def cancel(self, handle: str) -> None:
        """Stop the job: Ray sends SIGTERM to its process group, then SIGKILL."""
        self.client.stop_job(handle)

    def wait(self, handle: str, timeout_s: float = 60.0, poll_s: float = 0.1) -> RunStatus:
        """Poll until the job is terminal or ``timeout_s`` passes; return the last status."""
        deadline = time.monotonic() + timeout_s
        status = self.status(handle)
        while not status.state.terminal and time.monotonic() < deadline:
            time.sleep(poll_s)
            status = self.status(handle)
        return status

    def reattach(self, handle: str) -> RunStatus:
        """Find ``handle`` again after a restart, or LOST with the reason."""
        if self._client is None:
            try:
                self.start()
            except InputError as exc:
                return RunStatus(RunState.LOST, None, f"Ray cluster unavailable: {exc}", None,
                                 time.time())
        if not dashboard_alive(self.url):
            return RunStatus(RunState.LOST, None, f"Ray cluster at {self.url} is gone (not "
                             "reachable); the job's work was lost with it.", None, time.time())
        try:
            return self.status(handle)
        except RuntimeError as exc:  # the Jobs API answers 404 as RuntimeError
            return RunStatus(RunState.LOST, None, f"Ray has no job {handle!r} (the cluster was "
                             f"restarted since it was submitted): {exc}", None, time.time())
