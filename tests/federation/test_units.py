"""Pure parts of the federation: availability windows, the site file, settlement arithmetic,
and the admin CLI for site keys."""

from __future__ import annotations

import calendar
import json
import math
from pathlib import Path
from typing import Any

import pytest

from suanli.errors import InputError
from suanli.federation.agent import load_site
from suanli.federation.protocol import in_window


def _t(day: int, hh: int, mm: int = 0) -> float:
    """Unix time of 2024-01-(day) hh:mm UTC (2024-01-01 is a Monday)."""
    return float(calendar.timegm((2024, 1, day, hh, mm, 0)))


def _db_with_job(tmp_path: Path, cpus: float, gpus: float, state: str) -> tuple[Any, str]:
    """A migrated SQLite state with tenant "t", site "s" and job "j1": (sessions, tenant id)."""
    from suanli.federation.registry import create_site
    from suanli.service.db import make_engine, session_factory, upgrade
    from suanli.service.models import Job
    from suanli.service.tenants import create_tenant

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    with sessions() as s:
        tenant, _ = create_tenant(s, "t")
        create_site(s, "s")
        s.add(Job(id="j1", tenant_id=tenant.id, name="n", kind="command", command="true",
                  args_json="{}", cpus=cpus, gpus=gpus, memory_mb=0, state=state,
                  created_at=0.0))
        s.commit()
        return sessions, str(tenant.id)


def test_windows_in_utc_with_days_and_wrap_past_midnight() -> None:
    nights = [{"start": "20:00", "end": "08:00", "days": ["mon", "tue", "wed", "thu", "fri"]}]
    assert in_window([], _t(1, 12))  # no windows: always open
    assert not in_window(nights, _t(1, 12))  # Monday noon
    assert in_window(nights, _t(1, 21))  # Monday night
    assert in_window(nights, _t(2, 7, 59))  # Tuesday early: Monday's window
    assert not in_window(nights, _t(2, 8, 0))
    assert in_window(nights, _t(6, 3))  # Saturday 03:00: Friday's window
    assert not in_window(nights, _t(6, 21))  # Saturday night: not listed
    weekend = [{"start": "00:00", "end": "23:59", "days": ["sat", "sun"]}]
    assert in_window(weekend, _t(7, 10)) and not in_window(weekend, _t(5, 10))


def test_site_file_is_checked_field_by_field(tmp_path: Path) -> None:
    f = tmp_path / "site.yaml"
    f.write_text("site: a\ncpus: 4\nprice: {currency: CNY, cpu_hour: 0.5}\n"
                 "windows: [{start: '20:00', end: '08:00'}]\ndraining: true\n")
    cfg = load_site(f)
    assert (cfg.site, cfg.cpus, cfg.price["currency"], cfg.draining) == ("a", 4.0, "CNY", True)
    for text, needle in (("cpus: 4\n", "site: NAME"), ("site: a\ncpus: -1\n", "cpus"),
                         ("site: a\ncpus: 1\nprice: {cpu_hour: -2}\n", "price"),
                         ("site: a\ncpus: 1\nwindows: [{start: '8am', end: '9'}]\n", "start"),
                         ("site: a\ncpus: 1\ncolour: red\n", "colour"),
                         ("site: a\ncpus: 1\nbench: missing.json\n", "bench")):
        f.write_text(text)
        with pytest.raises(InputError, match=needle):
            load_site(f)


def test_ledger_row_converts_with_the_catalog_fx_and_adds_up(tmp_path: Path) -> None:
    from suanli.federation.ledger import settle, totals, usd_per_unit
    from suanli.federation.models import FedAssignment
    from suanli.money import to_usd

    sessions, _ = _db_with_job(tmp_path, cpus=2.0, gpus=1.0, state="running")
    with sessions() as s:
        a = FedAssignment(id="fa-j1", job_id="j1", site_id="s", attempt=0, spec_json="{}",
                          price_json=json.dumps({"currency": "CNY", "cpu_hour": 0.5,
                                                 "gpu_hour": 12.0}),
                          state="succeeded", created_at=0.0, expires_at=1.0,
                          cancel_requested=False, started_at=100.0, finished_at=100.0 + 1800,
                          message="", logs="")
        s.add(a)
        s.commit()
        row = settle(s, a, 0.2, 2000.0)
        assert math.isclose(row.site_earning, 0.5 * 2 * 0.5 + 12.0 * 1 * 0.5)  # CNY
        assert math.isclose(row.site_earning_usd, to_usd(row.site_earning, "CNY"))
        assert 0.1 < usd_per_unit("CNY") < 0.2
        assert math.isclose(row.tenant_charge_usd, row.site_earning_usd * 1.2)
        assert settle(s, a, 0.2, 3000.0).id == row.id  # once per job
        tot = totals(s)
        assert tot["jobs"] == 1 and abs(tot["imbalance_usd"]) < 1e-12


def test_admin_cli_creates_revokes_and_lists_sites(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from suanli.cli.main import app

    db = ["--db", f"sqlite:///{tmp_path / 'b.db'}"]
    run = CliRunner().invoke
    r = run(app, ["service", "admin", "create-site", "east", *db, "--key-file",
                  str(tmp_path / "k")])
    assert r.exit_code == 0, r.output
    key = (tmp_path / "k").read_text().strip()
    assert key.startswith("sk-site-") and key not in r.output
    assert (tmp_path / "k").stat().st_mode & 0o077 == 0
    r = run(app, ["service", "admin", "create-site", "east", *db])
    assert r.exit_code != 0
    assert run(app, ["service", "admin", "revoke-site", "east", *db]).exit_code == 0
    r = run(app, ["service", "admin", "fed-sites", *db, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert [x["state"] for x in doc["sites"]] == ["revoked"] and doc["ledger"]["jobs"] == 0


def test_executor_hand_off_is_idempotent_and_a_lapsed_lease_is_lost(tmp_path: Path) -> None:
    import time

    from suanli.federation.executor import FederatedExecutor
    from suanli.federation.models import FedSite
    from suanli.service.executors.base import JobSpec, RunState

    sessions, tenant_id = _db_with_job(tmp_path, cpus=1.0, gpus=0.0, state="placed")
    ex = FederatedExecutor(lease_s=0.3)
    ex.bind(sessions)
    spec = JobSpec(job_id="j1-r1", tenant_id=tenant_id, kind="command", command="true",
                   entrypoint=None, site="s", env={"SUANLI_JOB_ID": "j1"})
    h = ex.submit(spec)
    assert ex.submit(spec) == h == "fa-j1-r1"  # the same attempt, found again
    assert ex.status(h).state is RunState.PENDING and ex.logs(h) == ""
    time.sleep(0.45)
    st = ex.status(h)
    assert st.state is RunState.LOST and "missed its lease" in st.message
    with sessions() as s:
        assert s.get(FedSite, "s").missed_leases == 1  # type: ignore[union-attr]
    assert ex.status(h).state is RunState.LOST  # counted once
    with sessions() as s:
        assert s.get(FedSite, "s").missed_leases == 1  # type: ignore[union-attr]


def test_the_example_agent_site_file_loads_with_its_descriptor() -> None:
    from suanli.network.descriptor import parse_descriptor

    cfg = load_site(Path(__file__).parents[2] / "examples" / "agent-site.yaml")
    assert cfg.site == parse_descriptor(cfg.descriptor).id
    assert len(cfg.windows) == 2 and cfg.price["currency"] == "CNY"


def test_batched_hand_offs_and_read_ahead_logs_never_serve_a_stale_final_log(
        tmp_path: Path) -> None:
    from sqlalchemy import update

    from suanli.federation.executor import FederatedExecutor
    from suanli.federation.models import FedAssignment
    from suanli.service.executors.base import JobSpec, RunState
    from suanli.service.models import Job

    sessions, tenant_id = _db_with_job(tmp_path, cpus=1.0, gpus=0.0, state="placed")
    with sessions() as s:
        for i in (2, 3):
            s.add(Job(id=f"j{i}", tenant_id=tenant_id, name="n", kind="command",
                      command="true", args_json="{}", cpus=1.0, gpus=0.0, memory_mb=0,
                      state="placed", created_at=0.0))
        s.commit()
    ex = FederatedExecutor(lease_s=30.0)
    ex.bind(sessions)

    def spec(job: str, site: str = "s") -> JobSpec:
        return JobSpec(job_id=job, tenant_id=tenant_id, kind="command", command="true",
                       entrypoint=None, site=site, env={"SUANLI_JOB_ID": job})

    with ex.batch():
        handles = [ex.submit(spec(j)) for j in ("j1", "j2")]
        with pytest.raises(RuntimeError, match="not a federated site"):
            ex.submit(spec("j3", site="nowhere"))  # refused at once, as outside a batch
        with sessions() as s:  # nothing written before the block ends
            assert s.get(FedAssignment, handles[0]) is None
    with sessions() as s:
        assert {a.id for a in s.query(FedAssignment)} == set(handles)
    with ex.batch():  # the same attempts again (a restart): found, not duplicated
        assert ex.submit(spec("j1")) == handles[0]
    with sessions() as s:
        assert s.query(FedAssignment).count() == 2

    assert all(ex.status(h).state is RunState.PENDING for h in handles)
    assert ex.logs(handles[0]) == ""  # reads j2's (empty, not started) log ahead too
    with sessions() as s:  # j2 ends with its log before the scheduler asks for it
        s.execute(update(FedAssignment).where(FedAssignment.id == handles[1])
                  .values(state="succeeded", finished_at=1.0, logs="final\n"))
        s.commit()
    import time

    time.sleep(0.15)  # the snapshot is re-read
    assert ex.status(handles[1]).state is RunState.SUCCEEDED
    assert ex.logs(handles[1]) == "final\n"  # not the empty one read ahead
