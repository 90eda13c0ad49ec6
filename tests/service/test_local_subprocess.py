"""The local executor's launchers: forked by one fork server (suanli.service.forkserver), each a
detached session leader that yields the CPU to the service (forkserver.yield_cpu)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from suanli.service.executors.base import JobSpec, RunState
from suanli.service.forkserver import ForkServer
from suanli.service.forkserver import yield_cpu as _yield_cpu
from suanli.service.local_subprocess import SubprocessExecutor
from suanli.service.sandbox import sandbox_available
from suanli.service.sandbox_run import start_ticks

AUTOGROUPS = Path("/proc/sys/kernel/sched_autogroup_enabled")
HAVE_AUTOGROUPS = AUTOGROUPS.exists() and AUTOGROUPS.read_text().strip() == "1"
OK, WHY = sandbox_available()
needs_sandbox = pytest.mark.skipif(not OK, reason=f"no sandbox here: {WHY}")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


@pytest.mark.skipif(not HAVE_AUTOGROUPS, reason="this kernel schedules without autogroups")
def test_a_launchers_session_gets_the_lowest_cpu_weight() -> None:
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)  # as submit starts one
    try:
        before = Path(f"/proc/{proc.pid}/autogroup").read_text()
        assert before.split()[-1] == "0"
        _yield_cpu(proc.pid)
        group = Path(f"/proc/{proc.pid}/autogroup").read_text()
        assert group.split()[0] == before.split()[0]  # its own group, now niced
        assert group.split()[-1] == "19"
        assert int(_stat(proc.pid)[16]) == 19
    finally:
        proc.kill()
        proc.wait()


def test_a_gone_process_is_no_error() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    _yield_cpu(proc.pid)  # reaped: nothing to lower, nothing raised


def _spec(job_id: str, command: str) -> JobSpec:
    return JobSpec(job_id=job_id, tenant_id="t", kind="command", command=command,
                   entrypoint=None, cpus=0.5)


def _wait(ex: SubprocessExecutor, handle: str, timeout: float = 30) -> RunState:
    end = time.time() + timeout
    while not (st := ex.status(handle)).state.terminal and time.time() < end:
        time.sleep(0.05)
    return st.state


@needs_sandbox
def test_launchers_are_forked_detached_and_outlive_the_fork_server(tmp_path: Path) -> None:
    ex = SubprocessExecutor(tmp_path / "runs")
    ex.start()
    h = json.loads(ex.submit(_spec("slow", "sleep 3; echo done")))
    server = ex._forks.pid
    assert server is not None and int(_stat(h["pid"])[1]) == server  # forked, not exec'd
    st = _stat(h["pid"])
    assert st[2] == st[3] == str(h["pid"])  # leads its own process group and session
    assert h["ticks"] == start_ticks(h["pid"])
    if HAVE_AUTOGROUPS:  # the launcher yields the CPU to the service; the server does not
        assert Path(f"/proc/{h['pid']}/autogroup").read_text().split()[-1] == "19"
        assert int(_stat(h["pid"])[16]) == 19
        # at the lowest weight on a busy machine the server's answer waited > 15 s
        assert int(_stat(server)[16]) == os.getpriority(os.PRIO_PROCESS, 0) < 19
    ex.shutdown()  # as when the service exits (or is killed): the server goes, the job runs on
    with pytest.raises(ChildProcessError):
        os.waitpid(server, os.WNOHANG)  # reaped by shutdown
    handle = json.dumps(h)
    assert ex.status(handle).state in (RunState.PENDING, RunState.RUNNING)  # not lost
    assert _wait(ex, handle) is RunState.SUCCEEDED
    assert ex.logs(handle) == "done\n"


@needs_sandbox
def test_a_dead_fork_server_is_started_again(tmp_path: Path) -> None:
    ex = SubprocessExecutor(tmp_path / "runs")
    first = ex.submit(_spec("a", "echo a"))
    server = ex._forks.pid
    assert server is not None
    os.kill(server, 9)
    second = ex.submit(_spec("b", "echo b"))
    assert ex._forks.pid not in (None, server)
    assert [_wait(ex, h) for h in (first, second)] == [RunState.SUCCEEDED] * 2
    ex.shutdown()


@needs_sandbox
def test_without_a_fork_server_the_launcher_is_started_directly(tmp_path: Path) -> None:
    ex = SubprocessExecutor(tmp_path / "runs")
    ex._forks = ForkServer(Path("/"), {}, python="/bin/false")  # a server that cannot run
    with pytest.raises(OSError):
        ex._forks.launch(tmp_path)
    h = ex.submit(_spec("direct", "sleep 2; echo direct"))  # the launcher lives while it runs
    cmdline = Path(f"/proc/{json.loads(h)['pid']}/cmdline")
    end = time.monotonic() + 1.5  # empty for a moment: exec closes the pipe Popen waits on
    while not cmdline.read_bytes() and time.monotonic() < end:  # before it sets the new args
        time.sleep(0.01)
    assert b"sandbox_run" in cmdline.read_bytes()
    assert _wait(ex, h) is RunState.SUCCEEDED and ex.logs(h) == "direct\n"


def test_a_fork_server_that_never_answers_is_given_up(tmp_path: Path) -> None:
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nexec sleep 60\n")  # reads nothing, answers nothing
    hang.chmod(0o755)
    fs = ForkServer(Path("/"), {}, python=str(hang), reply_timeout_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(OSError, match="did not answer"):
        fs.launch(tmp_path)
    assert time.monotonic() - t0 < 5  # two tries, each killed (not a 60 s hang)
    assert fs.pid is None
