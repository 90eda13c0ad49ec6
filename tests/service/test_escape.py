"""Escape attempts from inside a job: every one must fail (issue 9, "escape tests in CI").

Tenant A runs a victim job that writes a secret into its working directory and sleeps. Tenant
B's job then tries to read the service's SQLite database and the Ray token, read A's working
directory, connect to the Ray GCS and dashboard ports and the service's port, signal A's
process (by its host pid, and ``kill(-1)``), and look for Ray or service secrets in its
environment. Each target is first shown reachable from the host (so a failure means the
sandbox stopped it), then the attack runs on the real executor (real bubblewrap, real Ray with
token auth; the local executor too), and the victim must be alive and untouched afterwards.
With ``network: egress`` the job reaches the dashboard, which refuses it without the token.
"""

from __future__ import annotations

import json
import shlex
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from suanli.service.executors.base import JobSpec, RunState
from suanli.service.executors.ray_head import TOKEN_FILE
from suanli.service.sandbox import sandbox_available, tenant_uid

from .procs import pids_of

OK, WHY = sandbox_available()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not OK, reason=f"bubblewrap absent or not root: {WHY}")]

ATTACK = r'''
import json, os, signal, socket, sys, urllib.request, urllib.error
t = json.loads(sys.argv[1]); res = {}
for name, path in t["files"].items():
    try:
        with open(path, "rb") as f:
            res[name] = "READ " + f.read(40).decode(errors="replace")
    except OSError as e:
        res[name] = "blocked: " + str(e.strerror)
for name, port in t["ports"].items():
    s = socket.socket(); s.settimeout(2)
    rc = s.connect_ex(("127.0.0.1", port))
    res[name] = "OPEN" if rc == 0 else "blocked: errno %d" % rc
for pid in t["pids"]:
    try:
        os.kill(pid, signal.SIGKILL); res["kill %d" % pid] = "KILLED"
    except OSError as e:
        res["kill %d" % pid] = "blocked: " + str(e.strerror)
try:  # every process this job may signal, but itself: none at all in its own namespace
    os.kill(-1, signal.SIGKILL); res["kill -1"] = "SENT"
except OSError as e:
    res["kill -1"] = "blocked: " + str(e.strerror)
res["env"] = sorted(k for k in os.environ if k.startswith("RAY") or "TOKEN" in k
                    or k.startswith("SUANLI_DATA") or k.startswith("SUANLI_DATABASE"))
if t.get("dashboard"):
    try:
        urllib.request.urlopen(t["dashboard"] + "/api/jobs/", timeout=5); res["http"] = "200"
    except urllib.error.HTTPError as e:
        res["http"] = "blocked: HTTP %d" % e.code
    except OSError as e:
        res["http"] = "blocked: " + str(e)
print("RESULT " + json.dumps(res))
'''


def _listener() -> tuple[socket.socket, int]:
    """A listening loopback socket standing in for the service's HTTP port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def accept() -> None:
        while True:
            try:
                conn, _ = srv.accept()
                conn.close()
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return srv, int(srv.getsockname()[1])



def _reachable(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _spec(job_id: str, tenant: str, command: str, **kw: Any) -> JobSpec:
    return JobSpec(job_id=job_id, tenant_id=tenant, kind="command", command=command,
                   entrypoint=None, cpus=0.5, **kw)


@pytest.fixture(params=["ray", "subprocess"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The executor under attack, with the paths and ports of what it must protect."""
    srv, port = _listener()
    if request.param == "ray":
        ex = request.getfixturevalue("ex")
        data = request.getfixturevalue("ray_data_dir")
        assert ex.head is not None
        gcs_port = int(ex.head.gcs_address.rsplit(":", 1)[1])
        dash = ex.head.dashboard_url
        ports = {"ray GCS": gcs_port, "ray dashboard": int(dash.rsplit(":", 1)[1]),
                 "service": port}
        extra = {"site": "A"}
        victim_dir = Path("/var/tmp/suanli-jobs")
    else:
        from suanli.service.local_subprocess import SubprocessExecutor

        data = tmp_path
        ex = SubprocessExecutor(data / "runs")
        ex.start()
        (data / TOKEN_FILE).write_text("not-a-real-token")
        (data / TOKEN_FILE).chmod(0o600)
        ports, extra, dash = {"service": port}, {}, None
        victim_dir = data / "runs"
    db = data / "suanli.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS tenants (key_hash TEXT)")
        conn.execute("INSERT INTO tenants VALUES ('hash-of-tenant-a')")
    yield {"ex": ex, "db": db, "token": data / TOKEN_FILE, "ports": ports, "extra": extra,
           "dashboard": dash, "victim_dir": victim_dir, "kind": request.param}
    srv.close()


def test_a_job_cannot_escape(target: dict[str, Any]) -> None:
    ms = int(time.time() * 1000)
    ex, run, nap = target["ex"], f"{target['kind']}-{ms}", f"61.{ms % 1000:03d}"
    needle = f"sleep\x00{nap}".encode()  # this test's victim, no other job's sleep
    victim = ex.submit(_spec(f"{run}-victim", "tenant-a",
                             f"echo top-secret > /job/secret.txt; exec sleep {nap}",
                             **target["extra"]))
    uid_a = tenant_uid("tenant-a")
    deadline = time.monotonic() + 60
    while not pids_of(uid_a, needle):
        assert time.monotonic() < deadline, "the victim job never started"
        time.sleep(0.1)
    victim_pids = pids_of(uid_a, needle)
    secret = next(target["victim_dir"].glob(f"*{run}-victim*/**/secret.txt"))
    files = {"database": str(target["db"]), "ray token": str(target["token"]),
             "other tenant's dir": str(secret), "service env": "/proc/1/environ"}
    for path in list(files.values())[:3]:  # each target exists and the host can read it
        assert Path(path).read_bytes()
    for port in target["ports"].values():
        assert _reachable(port)
    doc = {"files": files, "ports": target["ports"], "pids": victim_pids}
    attack = shlex.join(["exec", sys.executable, "-c", ATTACK, json.dumps(doc)])
    handle = ex.submit(_spec(f"{run}-attacker", "tenant-b", attack, **target["extra"]))
    deadline = time.monotonic() + 60
    while not (st := ex.status(handle)).state.terminal:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    line = [ln for ln in ex.logs(handle).splitlines() if ln.startswith("RESULT ")]
    assert line, ex.logs(handle)
    res = json.loads(line[-1][7:])
    assert res.pop("env") == []
    assert set(res) == {*files, *target["ports"], *(f"kill {p}" for p in victim_pids),
                        "kill -1"}
    for what, outcome in res.items():
        assert outcome.startswith("blocked"), f"{what}: {outcome}"
    assert st.state is RunState.SUCCEEDED  # the attack ran to the end: the failures are real
    assert pids_of(uid_a, needle) == victim_pids  # the victim is untouched
    assert secret.read_text() == "top-secret\n"
    assert ex.status(victim).state is RunState.RUNNING
    ex.cancel(victim)
    deadline = time.monotonic() + 20
    while pids_of(uid_a, needle) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pids_of(uid_a, needle)


def test_egress_reaches_the_dashboard_but_not_without_the_token(ex: Any) -> None:
    assert ex.head is not None
    doc = {"files": {}, "ports": {}, "pids": [], "dashboard": ex.head.dashboard_url}
    attack = shlex.join(["exec", sys.executable, "-c", ATTACK, json.dumps(doc)])
    handle = ex.submit(_spec(f"egress-{int(time.time() * 1000)}", "tenant-b", attack,
                             site="A", network="egress"))
    assert ex.wait(handle, timeout_s=60).state is RunState.SUCCEEDED
    res = json.loads([ln for ln in ex.logs(handle).splitlines()
                      if ln.startswith("RESULT ")][-1][7:])
    assert res["http"] == "blocked: HTTP 401" and res["env"] == []
    assert res["kill -1"] == "blocked: No such process"
