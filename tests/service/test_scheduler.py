"""The live scheduler with real processes: lifecycle, failure reasons, cancellation, costs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.service.lifecycle import NEXT, IllegalTransition, allowed, transition
from suanli.service.models import STATES, TERMINAL, Job

ORDER = ("submitted", "quoted", "placed", "queued", "running", "succeeded")


def _job(state: str) -> Job:
    return Job(id="j1", state=state, quoted_at=None, placed_at=None, queued_at=None,
               started_at=None, finished_at=None, error=None)


@given(st.sampled_from(STATES), st.sampled_from(STATES))
def test_lifecycle_laws(old, new):
    # terminal states are final; failure and cancellation are reachable from any live state;
    # otherwise only the listed forward moves
    if old in TERMINAL:
        assert not allowed(old, new)
    elif new in ("failed", "cancelled"):
        assert allowed(old, new)
    else:
        assert allowed(old, new) == (new in NEXT.get(old, ()))


def test_transition_stamps_and_refuses():
    job = _job("submitted")
    for t, state in enumerate(ORDER[1:], start=1):
        transition(job, state, float(t))
    assert (job.quoted_at, job.placed_at, job.queued_at, job.started_at, job.finished_at) == \
        (1.0, 2.0, 3.0, 4.0, 5.0)
    with pytest.raises(IllegalTransition, match="succeeded -> running"):
        transition(job, "running", 6.0)


def test_job_runs_through_every_state_in_order(svc):
    jid = svc.submit(command="echo hello; sleep 0.4", predicted_duration_s=0.5).json()["id"]
    running = svc.wait(jid, lambda j: j["state"] in ("running", "succeeded"))
    assert running["state"] == "running" and running["site"] == "local"
    job = svc.wait(jid)
    assert job["state"] == "succeeded" and job["exit_code"] == 0 and job["error"] is None
    stamps = [job[k] for k in ("created_at", "quoted_at", "placed_at", "queued_at",
                               "started_at", "finished_at")]
    assert stamps == sorted(stamps)
    assert 0.35 <= job["actual_duration_s"] <= 5.0
    assert job["actual_duration_s"] == pytest.approx(job["finished_at"] - job["started_at"])
    # cost = duration x hourly price; predicted uses the same price (1 CPU)
    rate = job["predicted_cost_usd"] / (0.5 / 3600)
    assert job["actual_cost_usd"] == pytest.approx(job["actual_duration_s"] / 3600 * rate)
    logs = svc.client.get(f"/api/v1/jobs/{jid}/logs", headers=svc.a).json()
    assert logs["logs"] == "hello\n"
    usage = svc.client.get("/api/v1/usage", headers=svc.a).json()
    assert usage["records"][0]["job_id"] == jid
    assert usage["total_cost_usd"] == pytest.approx(job["actual_cost_usd"])


def test_failed_job_says_why(svc):
    jid = svc.submit(command="echo boom >&2; exit 3").json()["id"]
    job = svc.wait(jid)
    assert job["state"] == "failed" and job["exit_code"] == 3
    assert "status 3" in job["error"]
    assert "boom" in svc.client.get(f"/api/v1/jobs/{jid}/logs", headers=svc.a).json()["logs"]


def test_python_entrypoint_job(svc):
    r = svc.submit(kind="python", entrypoint="textwrap:dedent", args={"text": "  hi"})
    jid = r.json()["id"]
    job = svc.wait(jid)
    assert job["state"] == "succeeded", job
    assert svc.client.get(f"/api/v1/jobs/{jid}/logs", headers=svc.a).json()["logs"] == '"hi"\n'


def test_cancel_stops_the_work(svc, tmp_path: Path):
    from .procs import Collector

    report = Collector()  # the sandboxed job reports over loopback (no host files)
    try:
        jid = svc.submit(command=f"{report.send_cmd('started')}; sleep 2; "
                                 f"{report.send_cmd('still-running')}",
                         network="egress").json()["id"]
        svc.wait(jid, lambda j: j["state"] == "running")
        end = time.time() + 10
        while "started" not in report.lines and time.time() < end:
            time.sleep(0.05)
        assert "started" in report.lines  # the channel works: a silence below means something
        r = svc.client.post(f"/api/v1/jobs/{jid}/cancel", headers=svc.a)
        assert r.status_code == 202
        job = svc.wait(jid)
        assert job["state"] == "cancelled"
        time.sleep(2.3)
        assert "still-running" not in report.lines  # the sleep was killed, not just forgotten
    finally:
        report.close()
    assert svc.client.post(f"/api/v1/jobs/{jid}/cancel", headers=svc.a).status_code == 409


def test_unplaceable_jobs_fail_with_the_reason(svc):
    big = svc.submit(command="true", cpus=1000).json()["id"]
    gpu = svc.submit(command="true", gpus=1).json()["id"]
    far = svc.submit(command="true", site="mars-1").json()["id"]
    assert "largest site" in svc.wait(big)["error"]
    assert "GPUs" in svc.wait(gpu)["error"]
    err = svc.wait(far)["error"]
    assert "mars-1" in err and "local" in err


def test_fifo_order_with_backfill(tmp_path: Path):
    """Driven pass by pass: a job too big for the free CPUs waits, a later small one runs."""
    import os

    from suanli.service.local_subprocess import SubprocessExecutor
    from suanli.service.scheduler import LiveScheduler
    from suanli.service.tenants import create_tenant

    from .conftest import build

    _app, settings = build(tmp_path, scheduler=False)
    from suanli.service.db import make_engine, session_factory, upgrade

    upgrade(settings.db_url)
    sessions = session_factory(make_engine(settings.db_url))
    with sessions() as s:
        tenant, _ = create_tenant(s, "gamma")
        ncpu = float(os.cpu_count() or 1)
        for i, (cpus, cmd) in enumerate([(ncpu - 0.5, "sleep 0.5"), (ncpu, "true"),
                                          (0.25, "true")]):
            s.add(Job(id=f"j{i}", tenant_id=tenant.id, name=f"n{i}", kind="command",
                      command=cmd, args_json="{}", cpus=cpus, gpus=0.0, memory_mb=0,
                      state="submitted", created_at=100.0 + i, cancel_requested=False,
                      usd_per_hour=0.0))
        s.commit()
    ex = SubprocessExecutor(tmp_path / "runs")
    ex.start()
    sched = LiveScheduler(sessions, ex, policy="fifo", placer="bestfit")
    sched.step()
    with sessions() as s:
        states = {j.id: j.state for j in s.query(Job)}
    # j0 leaves half a CPU; j1 (all CPUs) waits; j2 (a quarter) backfills
    assert states["j0"] in ("queued", "running") and states["j1"] == "quoted"
    assert states["j2"] in ("queued", "running", "succeeded")
    end = time.time() + 10
    while time.time() < end:
        sched.step()
        with sessions() as s:
            if s.get(Job, "j1").state == "succeeded":
                break
        time.sleep(0.05)
    with sessions() as s:
        j0, j1 = s.get(Job, "j0"), s.get(Job, "j1")
        assert j1.state == "succeeded" and j1.started_at >= j0.finished_at - 0.05


def test_a_poll_pass_writes_its_jobs_in_one_transaction(tmp_path: Path):
    """Five runs end between two passes: the next pass records all five (states, usage) with
    one commit for the poll, not one per job (plus the pass's own quote commit)."""
    from sqlalchemy import event

    from suanli.service.db import make_engine, session_factory, upgrade
    from suanli.service.local_subprocess import SubprocessExecutor
    from suanli.service.models import JobLog, UsageRecord
    from suanli.service.scheduler import LiveScheduler
    from suanli.service.tenants import create_tenant

    from .conftest import build

    _app, settings = build(tmp_path, scheduler=False)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    sessions = session_factory(engine)
    with sessions() as s:
        tenant, _ = create_tenant(s, "delta")
        for i in range(5):
            s.add(Job(id=f"b{i}", tenant_id=tenant.id, name=f"b{i}", kind="command",
                      command=f"echo out-{i}", args_json="{}", cpus=0.1, gpus=0.0, memory_mb=0,
                      state="submitted", created_at=100.0 + i, cancel_requested=False,
                      usd_per_hour=0.0))
        s.commit()
    ex = SubprocessExecutor(tmp_path / "runs")
    sched = LiveScheduler(sessions, ex, policy="fifo", placer="bestfit")
    sched.step()  # quote, place, hand off (and a first poll)
    with sessions() as s:
        handles = [j.handle for j in s.query(Job).order_by(Job.id)]
    assert all(handles)
    end = time.time() + 30
    while not all(ex.status(h).state.terminal for h in handles) and time.time() < end:
        time.sleep(0.05)
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    sched.step()
    with sessions() as s:
        jobs = list(s.query(Job).order_by(Job.id))
        usage = s.query(UsageRecord).count()
    ex.shutdown()
    assert [j.state for j in jobs] == ["succeeded"] * 5
    assert usage == 5
    assert len(commits) == 2  # the quote UPDATEs, then the whole poll
    with sessions() as s:
        assert s.get(JobLog, "b3").text == "out-3\n"
