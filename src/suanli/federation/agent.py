"""The site agent: runs next to a site's own engine and pulls the work the broker assigns it.

Only outbound HTTP(S) to the broker: the site opens no port. Two loops (threads):

- heartbeat, every ``heartbeat_s``: re-reads the site file when it changed (its mtime or
  size; so the operator's price, availability windows and drain flag take effect without a
  restart, and an unchanged file is not parsed again), reports capacity and
  health (does the engine answer?) and lists the leases it holds, which renews them. The
  broker answers with leases to abandon (ended: the run is stopped) and runs to cancel;
- work, every ``poll_s``: pulls new assignments (unless draining), submits each to the local
  engine (:class:`~suanli.service.executors.base.Executor`: a local Ray head or the sandboxed
  subprocess executor), uploads log tails every ``log_s`` (which also renews the lease) and
  posts the result when the run ends.

A 401 (key revoked) stops the agent; a broker that does not answer is retried (the leases then
run out on the broker's side and the work is requeued, which is the point).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from suanli.errors import InputError
from suanli.service.executors.base import Executor, JobSpec
from suanli.service.joblogs import LOG_LINES

log = logging.getLogger("suanli.agent")


@dataclass(frozen=True)
class SiteConfig:
    """The site file an operator writes (``site.yaml``, docs/federation.md)."""

    site: str
    cpus: float
    gpus: float = 0.0
    price: dict[str, Any] = field(default_factory=dict)
    windows: list[dict[str, Any]] = field(default_factory=list)
    draining: bool = False
    descriptor: dict[str, Any] = field(default_factory=dict)
    bench: dict[str, Any] | None = None


def load_site(path: Path) -> SiteConfig:
    """Read and check ``path``; every problem is an :class:`InputError` naming the field."""
    import json

    import yaml
    from pydantic import ValidationError

    from suanli.federation.protocol import Price, Window

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read the site file ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("site"), str):
        raise InputError(f"{path}: needs a mapping with 'site: NAME' (the name the broker "
                         "gave your key)")
    unknown = set(raw) - {"site", "cpus", "gpus", "price", "windows", "draining",
                          "descriptor", "bench"}
    if unknown:
        raise InputError(f"{path}: unknown fields {sorted(unknown)}")

    def sub(name: str, value: Any) -> dict[str, Any]:
        if isinstance(value, str):  # a path, relative to the site file
            p = (path.parent / value).expanduser()
            try:
                text = p.read_text(encoding="utf-8")
            except OSError as exc:
                raise InputError(f"{path}: {name}: cannot read {p} ({exc})") from None
            value = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
        if not isinstance(value, dict):
            raise InputError(f"{path}: {name} must be a mapping or a file holding one")
        return value

    def check(model: Any, value: Any, where: str) -> dict[str, Any]:
        from suanli.network.descriptor import _error_text

        try:
            return dict(model.model_validate(value).model_dump())
        except ValidationError as exc:
            loc, msg = _error_text(exc)
            raise InputError(f"{path}: {'.'.join(p for p in (where, loc) if p)}: "
                             f"{msg}") from None

    price = check(Price, raw.get("price") or {}, "price")
    if not isinstance(raw.get("windows") or [], list):
        raise InputError(f"{path}: windows must be a list of {{start, end, days}}")
    windows = [check(Window, w, f"windows.{i}") for i, w in enumerate(raw.get("windows") or [])]
    cpus, gpus = raw.get("cpus"), raw.get("gpus", 0)
    for name, v in (("cpus", cpus), ("gpus", gpus)):
        if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= 1e6:
            raise InputError(f"{path}: {name} must be a number in 0..1e6 (the engine's "
                             f"capacity offered to the network), got {v!r}")
    return SiteConfig(site=raw["site"], cpus=float(cpus or 0), gpus=float(gpus or 0),
                      price=price, windows=windows, draining=bool(raw.get("draining")),
                      descriptor=sub("descriptor", raw["descriptor"]) if raw.get("descriptor")
                      else {},
                      bench=sub("bench", raw["bench"]) if raw.get("bench") else None)


def _stamp(path: Path) -> tuple[int, int] | None:
    """What says the site file changed: its mtime (ns) and size; None when it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


@dataclass
class _Run:
    token: str
    handle: str
    spec: JobSpec
    submitted: float
    logged: float = 0.0


class Agent:
    """One site's agent (module doc). ``run()`` blocks until ``stop()`` or a revoked key."""

    def __init__(self, broker: str, key: str, site_file: Path, executor: Executor, *,
                 engine: str = "subprocess", local_site: str | None = None,
                 heartbeat_s: float | None = None, poll_s: float = 0.5,
                 log_s: float = 1.0, cfg: SiteConfig | None = None) -> None:
        import httpx

        self.site_file, self.executor, self.engine = site_file, executor, engine
        self.stamp = _stamp(site_file)  # before the read: an edit during it is read next beat
        self.cfg = cfg if cfg is not None else load_site(site_file)  # already read: reused
        self.local_site = local_site  # the site name on the local engine (Ray), None: local
        self.heartbeat_s, self.poll_s, self.log_s = heartbeat_s, poll_s, log_s
        self.http = httpx.Client(base_url=broker.rstrip("/"), timeout=10.0,
                                 headers={"Authorization": f"Bearer {key}"})
        self.runs: dict[str, _Run] = {}
        self.pending: dict[str, str] = {}  # pulled, engine submit in progress: id -> token
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.error: str | None = None
        self.lease_s = 30.0

    # ---- HTTP --------------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any]) -> Any:
        import httpx

        try:
            r = self.http.post(f"/api/v1/federation{path}", json=body)
        except httpx.HTTPError as exc:
            log.warning("broker unreachable (%s): %s", path, exc)
            return None
        if r.status_code == 401:
            self.error = f"the broker refused the site key: {r.json().get('detail')}"
            self.halt.set()
            return None
        if r.status_code >= 400:
            log.warning("broker answered %s to %s: %s", r.status_code, path, r.text[:300])
            return r.status_code
        return r.json()

    def register(self) -> None:
        c = self.cfg
        got = self._post("/register", {"descriptor": c.descriptor, "bench": c.bench,
                                       "engine": self.engine, "cpus": c.cpus, "gpus": c.gpus})
        if got is None and self.error is None:
            raise InputError(f"cannot reach the broker at {self.http.base_url}: check --broker "
                             "(and that outbound HTTPS to it is allowed)")
        if not isinstance(got, dict):
            raise InputError(self.error or f"the broker refused the registration (HTTP {got}; "
                             "its reason is logged above); fix the site file")
        self.lease_s = float(got["lease_s"])
        if self.heartbeat_s is None:
            self.heartbeat_s = float(got["heartbeat_s"])

    # ---- heartbeat loop ----------------------------------------------------------------
    def reload(self) -> bool:
        """Re-read the site file if it changed since the last read (the operator's edits take
        effect); a bad or missing file keeps the last good one and is warned about once per
        change. True when a new configuration was loaded."""
        stamp = _stamp(self.site_file)
        if stamp == self.stamp:
            return False
        self.stamp = stamp
        try:
            self.cfg = load_site(self.site_file)
        except InputError as exc:
            log.warning("site file not re-read, keeping the last good one: %s", exc)
            return False
        return True

    def beat(self) -> None:
        self.reload()
        healthy = True
        try:
            self.executor.resources()
        except Exception as exc:  # the engine does not answer: take no new work
            log.warning("engine unhealthy: %s", exc)
            healthy = False
        with self.lock:
            leases = [{"id": aid, "token": r.token} for aid, r in self.runs.items()]
            leases += [{"id": aid, "token": t} for aid, t in self.pending.items()]
        c = self.cfg
        got = self._post("/heartbeat", {"cpus": c.cpus, "gpus": c.gpus, "healthy": healthy,
                                        "draining": c.draining, "windows": c.windows,
                                        "price": c.price, "leases": leases})
        if isinstance(got, dict):
            for aid in got.get("abandon", []):
                self._stop_run(aid, drop=True)
            for aid in got.get("cancel", []):
                self._stop_run(aid, drop=False)

    def _stop_run(self, aid: str, drop: bool) -> None:
        with self.lock:
            run = self.runs.pop(aid, None) if drop else self.runs.get(aid)
        if run is not None:
            try:
                self.executor.cancel(run.handle)
            except Exception as exc:
                log.warning("cancel of %s failed: %s", aid, exc)

    def _heartbeats(self) -> None:
        while not self.halt.is_set():
            self.beat()
            self.halt.wait(self.heartbeat_s or 5.0)

    # ---- work loop ---------------------------------------------------------------------
    def pull(self) -> int:
        if self.cfg.draining:
            return 0
        got = self._post("/pull", {"max": 64})
        if not isinstance(got, dict):
            return 0
        from suanli.federation.executor import parse_spec

        with self.lock:  # heartbeats renew these leases while the engine takes them
            self.pending.update({a["id"]: a["token"] for a in got["assignments"]})
        for a in got["assignments"]:
            spec = replace(parse_spec(a["spec"]), site=self.local_site)
            try:
                handle = self.executor.submit(spec)
            except Exception as exc:  # the engine refused it: report the failure
                with self.lock:
                    self.pending.pop(a["id"], None)
                now = time.time()
                self._post(f"/leases/{a['id']}/result", {
                    "id": a["id"], "token": a["token"], "state": "failed",
                    "message": f"the site's engine refused the job: {exc}"[:4000],
                    "started_at": now, "finished_at": now})
                continue
            with self.lock:
                self.runs[a["id"]] = _Run(a["token"], handle, spec, time.time())
                self.pending.pop(a["id"], None)
        return len(got["assignments"])

    def tend(self) -> None:
        """Upload logs of live runs, post results of ended ones."""
        with self.lock:
            runs = list(self.runs.items())
        now = time.time()
        for aid, run in runs:
            try:
                st = self.executor.status(run.handle)
            except Exception as exc:
                log.warning("status of %s failed: %s", aid, exc)
                continue
            if st.state.terminal:
                text = self.executor.logs(run.handle, LOG_LINES)
                state = st.state.value if st.state.value in ("succeeded", "cancelled") \
                    else "failed"
                started = st.started_at or run.submitted
                got = self._post(f"/leases/{aid}/result", {
                    "id": aid, "token": run.token, "state": state, "exit_code": st.exit_code,
                    "message": st.message[:4000], "started_at": started,
                    "finished_at": max(st.finished_at or now, started), "logs": text[-(1 << 20):]})
                if got is not None or self.halt.is_set():  # accepted or refused: done with it
                    with self.lock:
                        self.runs.pop(aid, None)
            elif now - run.logged >= self.log_s:
                run.logged = now
                text = self.executor.logs(run.handle, LOG_LINES)
                got = self._post(f"/leases/{aid}/logs", {
                    "id": aid, "token": run.token, "text": text[-(1 << 20):],
                    "running": st.state.value == "running"})
                if isinstance(got, dict) and got.get("cancel"):
                    self._stop_run(aid, drop=False)
                elif got == 409:  # the lease has ended: stop the run
                    self._stop_run(aid, drop=True)

    def run(self) -> None:
        self.register()
        hb = threading.Thread(target=self._heartbeats, name="suanli-agent-hb", daemon=True)
        hb.start()
        while not self.halt.is_set():
            try:
                self.pull()
                self.tend()
            except Exception:  # keep the agent alive; the leases say the rest
                log.exception("agent pass failed")
            self.halt.wait(self.poll_s)
        hb.join(timeout=5)
        if self.error:
            raise InputError(self.error)

    def stop(self) -> None:
        self.halt.set()
