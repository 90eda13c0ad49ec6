"""The job sandbox on its own (no Ray): real bubblewrap, real uids, real limits.

The pure parts (uids, spec checks, the clean environment, the tail log) run anywhere; the rest
needs what CI has (root and bubblewrap) and is skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.errors import InputError
from suanli.service.executors.base import JobSpec
from suanli.service.sandbox import (
    UID_BASE,
    UID_SPAN,
    check_spec,
    job_env,
    sandbox_available,
    tenant_uid,
)
from suanli.service.sandbox_run import TailLog, run_job

OK, WHY = sandbox_available()
needs_sandbox = pytest.mark.skipif(not OK, reason=f"no sandbox here: {WHY}")


def _spec(command: str, **kw: object) -> JobSpec:
    base: dict[str, object] = {"job_id": "j1", "tenant_id": "tenant-a", "kind": "command",
                               "command": command, "entrypoint": None}
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]


def _run(tmp_path: Path, command: str, **kw: object) -> tuple[str, object]:
    spec = _spec(command, **kw)
    log = TailLog(spec.log_limit_bytes)
    out = run_job(spec, tmp_path / spec.job_id, log)
    return log.tail().decode(), out


@given(st.text(min_size=1, max_size=40))
def test_tenant_uids_are_unprivileged_and_stable(tenant: str) -> None:
    uid = tenant_uid(tenant)
    assert UID_BASE <= uid < UID_BASE + UID_SPAN
    assert uid == tenant_uid(tenant)


def test_tenants_get_different_uids() -> None:
    uids = {tenant_uid(f"tenant-{i}") for i in range(2000)}
    assert len(uids) == 2000


@pytest.mark.parametrize(("kw", "words"), [
    ({"command": "echo a\x00b"}, "NUL byte"),
    ({"command": "   "}, "non-empty command"),
    ({"kind": "python", "command": None, "entrypoint": "json"}, "package.module:function"),
    ({"kind": "shell"}, "unknown kind"),
    ({"network": "host"}, "'none' or 'egress'"),
    ({"env": {"A\x00": "1"}}, "environment variable"),
    ({"job_id": "../../etc"}, "job id"),
    ({"tenant_id": ""}, "tenant id"),
])
def test_bad_specs_get_one_line(kw: dict[str, object], words: str) -> None:
    spec = _spec(str(kw.pop("command", "true")), **kw)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=words) as err:
        check_spec(spec)
    assert "\n" not in str(err.value)


def test_job_env_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_DATABASE_URL", "postgresql://u:secret@db/x")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "tok")
    env = job_env(_spec("true", env={"MINE": "1", "RAY_ADDRESS": "x"}))
    assert env["MINE"] == "1" and "RAY_ADDRESS" not in env
    assert not any("secret" in v or v == "tok" for v in env.values())
    assert set(env) == {"MINE", "PATH", "HOME", "TMPDIR", "LANG", "SUANLI_JOB_ID",
                        "SUANLI_TENANT_ID", "SUANLI_SITE"}


def test_tail_log_keeps_the_last_bytes(tmp_path: Path) -> None:
    log = TailLog(100, tmp_path / "out.log")
    for i in range(50):
        log.write(f"line {i:03d}\n".encode())
    assert log.tail().endswith(b"line 049\n") and len(log.tail()) == 100
    on_disk = TailLog.read(tmp_path / "out.log", 100)
    assert on_disk == log.tail().decode()
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 200  # at most 2 x limit


@needs_sandbox
def test_job_runs_as_its_tenant_in_private_dirs(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_SECRET", "s3cr3t")
    (tmp_path / "state.db").write_text("private")
    out, res = _run(tmp_path, f"id -u; pwd; ls -A /tmp | wc -l; touch /tmp/x /job/y && echo rw;"
                              f" cat {tmp_path}/state.db; env; ls /root")
    lines = out.splitlines()
    from suanli.service.sandbox import bound_paths

    # /tmp is private: empty but for the read-only Python install/checkout when it lives
    # under /tmp (a CI clone), mounted on top of it
    shown = {Path(b).parts[2] for b in bound_paths() if Path(b).parts[1:2] == ("tmp",)}
    assert lines[:4] == [str(tenant_uid("tenant-a")), "/job", str(len(shown)), "rw"]
    assert "private" not in out and "s3cr3t" not in out
    assert (tmp_path / "j1" / "y").stat().st_uid == tenant_uid("tenant-a")
    assert res.state == "succeeded"  # type: ignore[attr-defined]


@needs_sandbox
def test_no_network_unless_egress(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    threading.Thread(target=lambda: [server.accept() for _ in range(2)], daemon=True).start()
    probe = (f"{sys.executable} -c \"import socket; s=socket.socket(); s.settimeout(3); "
             f"print('connect', s.connect_ex(('127.0.0.1', {port})))\"")
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass  # the port answers from the host
    none, _ = _run(tmp_path, probe)
    egress, _ = _run(tmp_path, probe, job_id="j2", network="egress")
    server.close()
    assert "connect 111" in none  # ECONNREFUSED: nothing listens in the job's own namespace
    assert "connect 0" in egress


@needs_sandbox
def test_limits_wall_time_memory_and_log(tmp_path: Path) -> None:
    _, slow = _run(tmp_path, "sleep 30", wall_time_s=1.0)
    assert slow.state == "failed" and "wall time of 1 s" in slow.message  # type: ignore
    assert slow.finished_at - slow.started_at < 10  # type: ignore[attr-defined]
    out, big = _run(tmp_path, f"{sys.executable} -c 'bytearray(400 << 20)'", job_id="j2",
                    memory_mb=200)
    assert big.state == "failed" and "MemoryError" in out  # type: ignore[attr-defined]
    out, loud = _run(tmp_path, "seq 1 100000", job_id="j3", log_limit_bytes=1000)
    assert len(out) == 1000 and out.endswith("99999\n100000\n")
    assert loud.state == "succeeded"  # type: ignore[attr-defined]


@needs_sandbox
def test_cancel_stops_every_process(tmp_path: Path) -> None:
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 5

    spec = _spec("sleep 60.321 & sleep 61.321 & wait")
    res = run_job(spec, tmp_path / "c", TailLog(100), cancelled=cancelled, poll_s=0.1)
    assert res.state == "cancelled"
    left = subprocess.run(["pgrep", "-u", str(tenant_uid("tenant-a")), "-f", "sleep 6[01].321"],
                          capture_output=True, text=True)
    assert left.stdout.strip() == ""


@needs_sandbox
def test_python_entrypoint_in_the_sandbox(tmp_path: Path) -> None:
    spec = JobSpec(job_id="py", tenant_id="t", kind="python", command=None,
                   entrypoint="os:getcwd")
    log = TailLog(1000)
    assert run_job(spec, tmp_path / "py", log).state == "succeeded"
    assert json.loads(log.tail()) == "/job"


def test_service_refuses_to_start_without_a_sandbox(tmp_path: Path) -> None:
    env = {**os.environ, "SUANLI_BWRAP": "/nonexistent/bwrap", "SUANLI_DATA_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "suanli.cli.main", "service", "up", "--port", "1",
           "--executor", "subprocess"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "refusing to start a multi-tenant service" in r.stderr
    assert "--insecure-single-tenant" in r.stderr


def test_cgroup_caps_the_cpu_share(tmp_path: Path) -> None:
    """Half a CPU: the kernel throttles a busy loop (cpu.stat nr_throttled grows)."""
    from suanli.service import cgroups

    cg = cgroups.create("cgtest-cpu", 0.5, 256 << 20, 64)
    if cg is None:
        pytest.skip("no writable cgroup hierarchy with cpu and pids here")
    try:
        cpu_dir = next(d for d in cg.dirs if (d / "cpu.stat").exists())
        quota = (cpu_dir / ("cpu.max" if cg.version == 2 else "cpu.cfs_quota_us")).read_text()
        assert quota.split()[0] == str(cgroups.PERIOD_US // 2)
        # one CPU-second of work rather than 1.5 s of wall time: on a machine busy with other
        # work a wall-clock loop can get under half a CPU throughout and never meet the cap
        busy = [sys.executable, "-c", "import time\nwhile time.process_time() < 1.0:"
                                      " pass\nprint(open('/proc/self/cgroup').read())"]
        out = subprocess.run(cgroups.join_argv(cg, busy), capture_output=True, text=True,
                             timeout=60)
        assert "suanli-cgtest-cpu" in out.stdout  # the process ran inside the job's cgroup
        stat = dict(line.split() for line in (cpu_dir / "cpu.stat").read_text().splitlines())
        assert int(stat["nr_throttled"]) > 0
    finally:
        cg.remove()
    assert not any(d.exists() for d in cg.dirs)


@needs_sandbox
def test_sandboxed_job_runs_in_its_cgroup(tmp_path: Path) -> None:
    from suanli.service import cgroups

    probe = cgroups.create("cgtest-probe", 1.0, None, 8)
    if probe is None:
        pytest.skip("no writable cgroup hierarchy with cpu and pids here")
    probe.remove()
    seen: list[str] = []

    def look(_chunk: bytes) -> None:  # the job is up: where does the kernel say it runs?
        for pid in subprocess.run(["pgrep", "-u", str(tenant_uid("tenant-a")), "-f",
                                   "sleep 1.234"], capture_output=True, text=True
                                  ).stdout.split():
            seen.append(Path(f"/proc/{pid}/cgroup").read_text())

    spec = _spec("echo up; exec sleep 1.234", job_id="cgjob", cpus=0.5)
    res = run_job(spec, tmp_path / "cg", TailLog(100), on_output=look)
    assert res.state == "succeeded" and seen
    assert all("suanli-cgjob" in text for text in seen)
    assert not list(Path("/sys/fs/cgroup").glob("*/suanli-cgjob"))  # removed afterwards
