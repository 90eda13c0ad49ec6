"""Run service jobs on Ray: one Ray task per job, each in the job sandbox, with token auth.

The service connects to the cluster as a Ray driver (``ray.init`` with the cluster's token,
:mod:`.ray_head`) and hands each job to the detached dispatcher actor
(:mod:`.ray_dispatch`), which submits it as a Ray task asking for the job's CPUs, GPUs and
memory and for ``0.001`` of the custom resource ``site:<id>`` of its placement, so Ray enforces
the placement (a node without that resource never runs it; Ray docs, "Custom resources").
The task runs the job in the sandbox (:mod:`suanli.service.sandbox`) on that node.

The handle is ``suanli-<job id>``: a service that dies between submitting and saving the handle
submits again after its restart and gets the same run (the dispatcher knows the job id), never a
second one. Every Ray failure to answer (head down, dispatcher gone, timeouts) is raised as
:class:`~suanli.service.executors.base.ExecutorUnavailable`; a cluster that answers but does not
know a job reports it LOST.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from suanli.errors import InfeasibleError, InputError
from suanli.service.executors.base import ExecutorUnavailable, JobSpec, RunState, RunStatus
from suanli.service.executors.ray_head import (
    TOKEN_FILE,
    HeadInfo,
    adopt_head,
    auth_env,
    hardware_resource,
    site_resource,
    start_head,
    stop_head,
)
from suanli.service.sandbox import check_hidden, check_spec

__all__ = ["RayExecutor", "handle_of"]

SITE_SHARE = 0.001  # of a "site:<id>" resource a job asks for: a marker, not a capacity limit
CALL_TIMEOUT_S = 15.0  # s a call to the dispatcher may take before Ray counts as unreachable
_STATES = {"pending": RunState.PENDING, "running": RunState.RUNNING,
           "succeeded": RunState.SUCCEEDED, "failed": RunState.FAILED,
           "cancelled": RunState.CANCELLED, "lost": RunState.LOST}


def handle_of(job_id: str) -> str:
    """The handle of a job: derived from its id alone (a resubmit finds the same run)."""
    return f"suanli-{job_id}"


def _job_id(handle: str) -> str:
    return handle.removeprefix("suanli-")


class RayExecutor:
    """Executor on a Ray cluster: an embedded local head, or ``address`` (GCS ``host:port``).

    With ``address=None`` the executor adopts the head recorded in ``data_dir`` or starts a
    detached one whose node carries one ``site:<id>`` resource per entry of ``sites``
    (``{"A": {"CPU": 2, "GPU": 0}}``). On an existing cluster, start each site's nodes with
    ``--resources '{"site:<id>": N}'`` and ``RAY_AUTH_MODE=token``; the token is read from
    ``RAY_AUTH_TOKEN_PATH``/``RAY_AUTH_TOKEN`` or ``<data_dir>/ray-token``.
    ``require_sandbox=False`` (``--insecure-single-tenant``) lets a node that cannot sandbox
    run jobs unsandboxed; otherwise such a job fails with the reason.
    """

    def __init__(self, address: str | None = None, data_dir: Path | str | None = None,
                 sites: dict[str, dict[str, float]] | None = None, *,
                 num_cpus: float | None = None, object_store_mb: int = 200,
                 require_sandbox: bool = True) -> None:
        self.address = address
        self.data_dir = Path(data_dir) if data_dir else Path.home() / ".suanli"
        self.sites = dict(sites or {"local": {"CPU": 2.0, "GPU": 0.0}})
        self.num_cpus, self.object_store_mb = num_cpus, object_store_mb
        self.require_sandbox = require_sandbox
        self.head: HeadInfo | None = None  # set when we manage a local head
        self._bridge: Any = None  # ray_bridge.Bridge after start()
        self._res: tuple[float, dict[str, dict[str, float]]] = (0.0, {})  # (time, sites)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Adopt / start the embedded head (or use ``address``); connect through the bridge."""
        from suanli.service.executors.ray_bridge import Bridge, BridgeConfig

        check_hidden(self.data_dir)
        gcs = self.address
        if gcs is None:
            self.head = adopt_head(self.data_dir) or start_head(
                self.data_dir, self.sites, num_cpus=self.num_cpus,
                object_store_mb=self.object_store_mb)
            gcs = self.head.gcs_address
        elif "://" in gcs:
            raise InputError(f"--ray-address {gcs!r} must be the cluster's GCS address "
                             "host:port (e.g. head-node:6379), not a URL.")
        env = {"RAY_USAGE_STATS_ENABLED": "0"}
        token = self.data_dir / TOKEN_FILE
        if token.exists() and not os.environ.get("RAY_AUTH_TOKEN"):
            env.update(auth_env(token))
        if gcs.startswith(("127.", "localhost:")):  # a loopback-only head: Ray must not swap
            env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # in the host's network address
        if self._bridge is not None:
            self._bridge.close()
        self._bridge = Bridge(BridgeConfig(gcs=gcs, env=tuple(sorted(env.items()))))
        self._bridge.call("ping")  # connect now: a bad cluster fails start(), not a later call

    def _call(self, method: str, *args: Any) -> Any:
        """One call through the bridge (ExecutorUnavailable when Ray does not answer)."""
        if self._bridge is None:
            raise ExecutorUnavailable("not connected to Ray (start() was not called)")
        return self._bridge.call(method, *args)

    @property
    def url(self) -> str:
        """The cluster address in use (GCS host:port)."""
        if self.head is not None:
            return self.head.gcs_address
        if self.address is None:
            raise RuntimeError("RayExecutor.start() was not called")
        return self.address

    def shutdown(self, stop_cluster: bool = True) -> None:
        """Disconnect; stop the local head this executor manages (its jobs die with it)."""
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None
        if self.head is not None and stop_cluster:
            stop_head(self.head, self.data_dir)
            self.head = None

    # -- resources and placement ------------------------------------------------------------
    def _nodes(self) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = self._call("nodes")
        return nodes

    def resources(self) -> dict[str, dict[str, float]]:
        """site -> {"CPU", "GPU", "hw:<system>"...} summed over the alive nodes carrying
        ``site:<id>``."""
        out: dict[str, dict[str, float]] = {}
        for node in self._nodes():
            total = node.get("Resources") or {}
            for key in total:
                if key.startswith("site:"):
                    site = out.setdefault(key[5:], {"CPU": 0.0, "GPU": 0.0})
                    site["CPU"] += float(total.get("CPU", 0.0))
                    site["GPU"] += float(total.get("GPU", 0.0))
                    for hw, n in total.items():  # devices by hardware, where declared
                        if hw.startswith("hw:"):
                            site[hw] = site.get(hw, 0.0) + float(n)
        return out

    def node_of(self, handle: str) -> str | None:
        """Ray node id that runs (ran) the job, or None while pending."""
        rec = self._call("status", [_job_id(handle)])[_job_id(handle)]
        return None if rec is None else rec.get("node")

    def node_resources(self, node_id: str) -> dict[str, float]:
        """Total resources of one Ray node."""
        for node in self._nodes():
            if node.get("NodeID") == node_id:
                return dict(node.get("Resources") or {})
        return {}

    def _check_feasible(self, spec: JobSpec) -> dict[str, float]:
        """Refuse work Ray could never place (it would wait forever); return extra resources.

        The sites' totals are cached for 2 s (one GCS query, not one per submitted job)."""
        if spec.site is None:
            return {}
        if time.monotonic() - self._res[0] > 2.0 or spec.site not in self._res[1]:
            self._res = (time.monotonic(), self.resources())
        have = self._res[1]
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
        return {site_resource(spec.site): SITE_SHARE, **self._hardware(spec, site)}

    @staticmethod
    def _hardware(spec: JobSpec, site: dict[str, float]) -> dict[str, float]:
        """``hw:<system>`` for a job bound to a hardware line, one per device, where the
        site's nodes declare their hardware (a site that declares none is one kind)."""
        if spec.hardware is None or not any(k.startswith("hw:") for k in site):
            return {}
        key = hardware_resource(spec.hardware)
        need = max(spec.gpus, SITE_SHARE)
        if site.get(key, 0.0) < need:
            have = ", ".join(f"{k[3:]} x {v:g}" for k, v in site.items() if k.startswith("hw:"))
            raise InfeasibleError(
                f"job {spec.job_id} needs {spec.gpus:g} x {spec.hardware} but site "
                f"{spec.site!r} has {have}.", fixes=["pick an offer of hardware this site has"])
        return {key: need}

    # -- jobs -------------------------------------------------------------------------------
    def submit(self, spec: JobSpec) -> str:
        """Hand ``spec`` to the dispatcher; a job id it already knows is not started again."""
        check_spec(spec)  # NUL bytes, empty commands, bad network: one-line InputError
        extra = self._check_feasible(spec)
        options: dict[str, Any] = {"num_cpus": spec.cpus, "num_gpus": spec.gpus or 0,
                                   "resources": extra}
        if spec.memory_mb:
            options["memory"] = spec.memory_mb * (1 << 20)  # bytes
        self._call("submit", asdict(spec), options, self.require_sandbox)
        return handle_of(spec.job_id)

    def status(self, handle: str) -> RunStatus:
        """Current state; FAILED carries the exit code and the last lines of output."""
        return self.statuses([handle])[handle]

    def statuses(self, handles: list[str]) -> dict[str, RunStatus]:
        """The state of many jobs in one round trip (a scheduler pass polls all at once)."""
        recs = self._call("status", [_job_id(h) for h in handles])
        out = {}
        for h in handles:
            rec = recs[_job_id(h)]
            out[h] = RunStatus(RunState.LOST, None, f"Ray has no job {h!r} (the cluster or "
                               "its dispatcher was restarted since it was submitted)", None,
                               time.time()) if rec is None else \
                RunStatus(_STATES[rec["state"]], rec["exit_code"], rec["message"],
                          rec["started_at"], rec["finished_at"])
        return out

    def logs(self, handle: str, tail: int = 200) -> str:
        """Last ``tail`` lines of the job's output (the dispatcher keeps its last bytes)."""
        text = self._call("logs", _job_id(handle)) or ""
        return "\n".join(text.splitlines()[-tail:]) + ("\n" if text.endswith("\n") else "") \
            if tail > 0 else text

    def cancel(self, handle: str) -> None:
        """Stop the job: SIGTERM to every process of its sandbox, SIGKILL after 2 s."""
        self._call("cancel", _job_id(handle))

    def wait(self, handle: str, timeout_s: float = 60.0, poll_s: float = 0.1) -> RunStatus:
        """Poll until the job is terminal or ``timeout_s`` passes; return the last status."""
        deadline = time.monotonic() + timeout_s
        status = self.status(handle)
        while not status.state.terminal and time.monotonic() < deadline:
            time.sleep(poll_s)
            status = self.status(handle)
        return status

    def reattach(self, handle: str) -> RunStatus:
        """Find ``handle`` again after a restart (LOST when Ray does not know it)."""
        if self._bridge is None:
            self.start()
        return self.status(handle)
