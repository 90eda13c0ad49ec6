"""RayExecutor against a real local Ray cluster (one loopback-only head carrying site A).

A second Ray node per site (``add_site_node``) needs Ray's multi-node mode, which makes every
Ray process talk over the host's network address; this machine allows loopback traffic only,
so the multi-node test runs only when SUANLI_TEST_RAY_MULTINODE=1 is set.

One cluster is shared by the whole file, and across pytest-xdist workers (file lock plus a
reference count), because starting Ray costs ~7 s on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray.job_submission", reason="ray[default] is not installed")
from filelock import FileLock

from suanli.errors import InfeasibleError, InputError
from suanli.service.executors.base import Executor, JobSpec, RunState
from suanli.service.executors.ray_executor import RayExecutor
from suanli.service.executors.ray_head import (
    add_site_node,
    adopt_head,
    start_head,
    stop_head,
)

pytestmark = pytest.mark.slow


def _spec(job_id: str, **kw: object) -> JobSpec:
    base: dict[str, object] = {"job_id": job_id, "tenant_id": "t1", "kind": "command",
                               "command": None, "entrypoint": None, "cpus": 0.5, "site": "A"}
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def ray_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data dir whose Ray head (sites A and C) is shared by every xdist worker."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # same in every worker of one run
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent / f"suanli-ray-{run[:12]}") if run else (base / "suanli-ray")
    shared.mkdir(exist_ok=True)
    count = shared / "users"
    with FileLock(str(shared / "lock")):
        if adopt_head(shared) is None:
            start_head(shared, {"A": {"CPU": 2.0}}, num_cpus=2)
            count.write_text("0")
        count.write_text(str(int(count.read_text() or 0) + 1))
    yield shared
    with FileLock(str(shared / "lock")):
        left = int(count.read_text()) - 1
        count.write_text(str(left))
        info_now = adopt_head(shared)
        if left == 0 and info_now is not None:
            stop_head(info_now, shared)


@pytest.fixture(scope="session")
def ex(ray_data_dir: Path) -> RayExecutor:
    executor = RayExecutor(data_dir=ray_data_dir)
    executor.start()  # adopts the shared head
    deadline = time.monotonic() + 30
    while "A" not in executor.resources() and time.monotonic() < deadline:
        time.sleep(0.2)
    return executor


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


def test_failing_command_reports_exit_code(ex: RayExecutor) -> None:
    handle = ex.submit(_spec("bad", command="echo about-to-fail >&2; exit 7"))
    status = ex.wait(handle, timeout_s=30)
    assert status.state is RunState.FAILED
    assert status.exit_code == 7
    assert "exit code 7" in status.message and "about-to-fail" in status.message


def test_cancel_stops_the_process(ex: RayExecutor, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    handle = ex.submit(_spec("slow", command=f"echo $$ > {pid_file}; exec sleep 60"))
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.1)
    pid = int(pid_file.read_text())
    assert ex.status(handle).state is RunState.RUNNING
    os.kill(pid, 0)  # alive
    ex.cancel(handle)
    status = ex.wait(handle, timeout_s=20)
    assert status.state is RunState.CANCELLED
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), "sleep 60 still runs after cancel"


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
    ok = ex.submit(_spec("py", kind="python", entrypoint="json:dumps",
                         args={"obj": {"b": [1, 2], "a": None}, "sort_keys": True}))
    env = ex.submit(_spec("pyenv", kind="python", entrypoint="os:getenv",
                          args={"key": "SUANLI_SITE"}, site="A"))
    bad = ex.submit(_spec("pybad", kind="python", entrypoint="json:loads",
                          args={"s": "{not json"}))
    assert ex.wait(ok, timeout_s=30).state is RunState.SUCCEEDED
    assert json.dumps({"a": None, "b": [1, 2]}) in ex.logs(ok)
    assert ex.wait(env, timeout_s=30).state is RunState.SUCCEEDED
    assert ex.logs(env).splitlines()[-1] == "A"
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
        "    command='sleep 2; echo survived', entrypoint=None, cpus=0.5, site='A'))\n"
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
    assert fresh.head.dashboard_url == ex.head.dashboard_url
    assert fresh.reattach(handle).state in (RunState.PENDING, RunState.RUNNING)
    done = fresh.wait(handle, timeout_s=30)
    assert done.state is RunState.SUCCEEDED and "survived" in fresh.logs(handle)

    remote = RayExecutor(address=ex.url)  # the --ray-address path, same cluster
    remote.start()
    assert remote.reattach(handle).state is RunState.SUCCEEDED
    lost = remote.reattach("raysubmit_does_not_exist")
    assert lost.state is RunState.LOST and "no job" in lost.message
    gone = RayExecutor(address="http://127.0.0.1:9")  # nothing listens there
    lost_cluster = gone.reattach(handle)
    assert lost_cluster.state is RunState.LOST and "127.0.0.1:9" in lost_cluster.message


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
