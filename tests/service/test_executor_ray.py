"""RayExecutor against a real local Ray cluster (one loopback-only head carrying site A).

Jobs are Ray tasks submitted by the detached dispatcher and run in the bubblewrap sandbox; the
head runs with token authentication. A second Ray node per site (``add_site_node``) needs Ray's
multi-node mode, which makes every Ray process talk over the host's network address; this
machine allows loopback traffic only, so that test runs only when SUANLI_TEST_RAY_MULTINODE=1.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray[default] is not installed")

from suanli.errors import InfeasibleError, InputError
from suanli.service.executors.base import Executor, ExecutorUnavailable, JobSpec, RunState
from suanli.service.executors.ray_executor import RayExecutor
from suanli.service.executors.ray_head import (
    TOKEN_FILE,
    add_site_node,
    start_head,
    stop_head,
)
from suanli.service.sandbox import sandbox_available, tenant_uid

from .procs import pids_of

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sandbox_available()[0],
                                 reason=f"no sandbox here: {sandbox_available()[1]}")]


def _spec(job_id: str, **kw: object) -> JobSpec:
    base: dict[str, object] = {"job_id": job_id, "tenant_id": "t1", "kind": "command",
                               "command": None, "entrypoint": None, "cpus": 0.5, "site": "A"}
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]



def test_is_an_executor(ex: RayExecutor) -> None:
    assert isinstance(ex, Executor)
    res = ex.resources()
    assert res["A"]["CPU"] == 2.0


def test_command_succeeds_with_logs(ex: RayExecutor) -> None:
    handle = ex.submit(_spec("ok", command="echo hello-from-ray; echo job=$SUANLI_JOB_ID"))
    status = ex.wait(handle, timeout_s=30)
    assert status.state is RunState.SUCCEEDED and status.exit_code == 0
    assert status.started_at is not None and status.finished_at is not None
    assert status.finished_at >= status.started_at
    logs = ex.logs(handle)
    assert "hello-from-ray" in logs and "job=ok" in logs
    both = ex.statuses([handle, "suanli-never-submitted"])
    assert both[handle] == status and both["suanli-never-submitted"].state is RunState.LOST


def test_failing_command_reports_exit_code(ex: RayExecutor) -> None:
    handle = ex.submit(_spec("bad", command="echo about-to-fail >&2; exit 7"))
    status = ex.wait(handle, timeout_s=30)
    assert status.state is RunState.FAILED
    assert status.exit_code == 7
    assert "status 7" in status.message and "about-to-fail" in status.message
    assert "\n" not in status.message


def test_cancel_stops_the_process(ex: RayExecutor) -> None:
    handle = ex.submit(_spec("slow", command="exec sleep 60.5"))
    uid = tenant_uid("t1")
    deadline = time.monotonic() + 30
    while not pids_of(uid, b"sleep\x0060.5"):
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.1)
    assert ex.status(handle).state is RunState.RUNNING
    ex.cancel(handle)
    status = ex.wait(handle, timeout_s=20)
    assert status.state is RunState.CANCELLED
    deadline = time.monotonic() + 10
    while pids_of(uid, b"sleep\x0060.5") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pids_of(uid, b"sleep\x0060.5"), "sleep 60 still runs after cancel"


def test_cancel_works_when_the_service_was_started_with_sigint_ignored() -> None:
    """A service started in the background by a non-interactive shell (``suanli service up &``
    in a script, a CI runner) inherits SIGINT ignored, and so does every Ray process it starts;
    Ray's cancel interrupts a task as SIGINT would, so a cancelled job ran on to its end
    (``ray_dispatch.interruptible`` restores the handler in the task). The cancel test again, in
    a process that ignores SIGINT from the start."""
    code = ("import signal, subprocess, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "sys.exit(subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:xdist', "
            "'-p', 'no:cacheprovider', "
            "'tests/service/test_executor_ray.py::test_cancel_stops_the_process']).returncode)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, cwd=Path(__file__).parents[2])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]


def test_nul_byte_is_a_one_line_error(ex: RayExecutor) -> None:
    with pytest.raises(InputError, match="NUL byte") as err:
        ex.submit(_spec("nul", command="echo a\x00b"))
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)
    assert "/" not in str(err.value)  # no server paths


def test_head_requires_the_token(ex: RayExecutor, ray_data_dir: Path) -> None:
    token = ray_data_dir / TOKEN_FILE
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert ex.head is not None
    url = f"{ex.head.dashboard_url}/api/jobs/"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=5)
    assert err.value.code == 401  # the Jobs API without the token
    req = urllib.request.Request(url, headers={"Authorization":
                                               f"Bearer {token.read_text().strip()}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


@pytest.mark.parametrize("site", ["A"])
def test_site_placement_is_enforced_by_ray(ex: RayExecutor, site: str) -> None:
    handle = ex.submit(_spec(f"pin{site}", command="echo site=$SUANLI_SITE", site=site))
    assert ex.wait(handle, timeout_s=30).state is RunState.SUCCEEDED
    node = ex.node_of(handle)
    assert node is not None
    # The node Ray chose carries this site's resource and no other site's.
    sites_on_node = {k for k in ex.node_resources(node) if k.startswith("site:")}
    assert sites_on_node == {f"site:{site}"}
    assert f"site={site}" in ex.logs(handle)


def test_unknown_site_and_oversized_job_are_rejected(ex: RayExecutor) -> None:
    with pytest.raises(InputError, match=r"site 'Z' has no Ray node.*Known sites: A"):
        ex.submit(_spec("nowhere", command="true", site="Z"))
    with pytest.raises(InfeasibleError, match=r"needs 4 CPU.*site 'A' has 2 CPU"):
        ex.submit(_spec("huge", command="true", site="A", cpus=4))
    with pytest.raises(InputError, match="non-empty command"):
        ex.submit(_spec("empty", command="  "))


def test_python_entrypoint_runs_and_fails_with_traceback(ex: RayExecutor) -> None:
    ok = ex.submit(_spec("py", kind="python", entrypoint="collections:OrderedDict",
                         args={"b": [1, 2], "a": None}))
    env = ex.submit(_spec("pyenv", kind="python", entrypoint="os:getenv",
                          args={"key": "SUANLI_SITE"}, site="A"))
    bad = ex.submit(_spec("pybad", kind="python", entrypoint="json:loads",
                          args={"s": "{not json"}))
    assert ex.wait(ok, timeout_s=30).state is RunState.SUCCEEDED
    assert json.loads(ex.logs(ok).splitlines()[-1]) == {"b": [1, 2], "a": None}
    assert ex.wait(env, timeout_s=30).state is RunState.SUCCEEDED
    assert json.loads(ex.logs(env).splitlines()[-1]) == "A"
    failed = ex.wait(bad, timeout_s=30)
    assert failed.state is RunState.FAILED and failed.exit_code == 1
    assert "JSONDecodeError" in ex.logs(bad)


def test_reattach_after_kill_9_of_the_submitting_process(ex: RayExecutor,
                                                        ray_data_dir: Path) -> None:
    """A separate 'service' process submits, is SIGKILLed; a new executor finds the job."""
    script = (
        "import sys, time\n"
        "from suanli.service.executors.ray_executor import RayExecutor\n"
        "from suanli.service.executors.base import JobSpec\n"
        f"e = RayExecutor(data_dir={str(ray_data_dir)!r}); e.start()\n"
        "h = e.submit(JobSpec(job_id='survivor', tenant_id='t1', kind='command',\n"
        "    command='sleep 6; echo survived', entrypoint=None, cpus=0.5, site='A'))\n"
        "print(h, flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    handle = proc.stdout.readline().strip()
    proc.kill()  # SIGKILL, like kill -9
    proc.wait(timeout=10)
    assert handle == "suanli-survivor"  # derived from the job id: a resubmit finds it

    fresh = RayExecutor(data_dir=ray_data_dir)
    fresh.start()  # adopts the running head instead of starting one
    assert fresh.head is not None and ex.head is not None
    assert fresh.head.gcs_address == ex.head.gcs_address
    assert fresh.reattach(handle).state in (RunState.PENDING, RunState.RUNNING)
    again = fresh.submit(JobSpec(job_id="survivor", tenant_id="t1", kind="command",
                                 command="sleep 6; echo survived", entrypoint=None, cpus=0.5,
                                 site="A"))
    assert again == handle  # the same run, not a second one
    done = fresh.wait(handle, timeout_s=30)
    assert done.state is RunState.SUCCEEDED and fresh.logs(handle).count("survived") == 1
    fresh.shutdown(stop_cluster=False)

    remote = RayExecutor(address=ex.url, data_dir=ray_data_dir)  # --ray-address, same cluster
    remote.start()
    assert remote.reattach(handle).state is RunState.SUCCEEDED
    lost = remote.reattach("suanli-does-not-exist")
    assert lost.state is RunState.LOST and "no job" in lost.message
    remote.shutdown(stop_cluster=False)
    with pytest.raises(ExecutorUnavailable, match=r"127\.0\.0\.1:9"):
        RayExecutor(address="127.0.0.1:9").reattach(handle)  # nothing listens there
    with pytest.raises(InputError, match="GCS address"):
        RayExecutor(address="http://127.0.0.1:8265").start()


@pytest.mark.skipif(os.environ.get("SUANLI_TEST_RAY_MULTINODE") != "1",
                    reason="a second Ray node uses the host's network address; this machine "
                           "allows loopback traffic only (set SUANLI_TEST_RAY_MULTINODE=1)")
def test_second_site_node_carries_only_its_site(tmp_path: Path) -> None:
    info = start_head(tmp_path, {"A": {"CPU": 1.0}}, num_cpus=1)
    try:
        add_site_node(info, "C", cpus=1)
        executor = RayExecutor(data_dir=tmp_path)
        executor.start()
        handle = executor.submit(_spec("pinC", command="echo site=$SUANLI_SITE", site="C"))
        assert executor.wait(handle, timeout_s=60).state is RunState.SUCCEEDED
        node = executor.node_of(handle)
        assert node is not None
        sites = {k for k in executor.node_resources(node) if k.startswith("site:")}
        assert sites == {"site:C"}
    finally:
        stop_head(info, tmp_path)


def test_a_dead_head_is_executor_unavailable_not_a_dead_service(tmp_path: Path) -> None:
    """The Ray head dies while the service runs: every call says so in one line, at once, and
    the service's own process is never Ray's driver (Ray exits a driver whose GCS is gone for
    60 s; here that is the bridge child, restarted on the next call)."""
    executor = RayExecutor(data_dir=tmp_path, sites={"B": {"CPU": 1.0}}, num_cpus=1)
    executor.start()
    try:
        handle = executor.submit(_spec("doomed", command="sleep 30", site="B"))
        deadline = time.monotonic() + 30
        while executor.status(handle).state is not RunState.RUNNING:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.2)
        assert executor.head is not None
        stop_head(executor.head, tmp_path)
        for call in (lambda: executor.status(handle), executor.resources,
                     lambda: executor.submit(_spec("late", command="true", site="B"))):
            t0 = time.monotonic()
            with pytest.raises(ExecutorUnavailable) as err:
                call()
            assert time.monotonic() - t0 < 20 and "\n" not in str(err.value)
        code = ("import sys; from suanli.service.executors.ray_executor import RayExecutor; "
                "print('ray' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.stdout.strip() == "False"  # the executor module never imports Ray
    finally:
        executor.shutdown()
