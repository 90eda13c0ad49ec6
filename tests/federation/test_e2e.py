"""End to end on one machine: a broker (`suanli service up --executor federated`) and three
real site agents (`suanli agent up`) on loopback, each with its own engine (one its own local
Ray head, two the sandboxed subprocess executor); 50 jobs of two tenants; the cheapest site's
agent is kill -9'd mid-run. Its work is requeued and completes elsewhere, no job is recorded
twice, no site ever holds more than it offers, and the ledger balances."""

from __future__ import annotations

import importlib.util
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("ray", reason="one site runs its own Ray head")

SUANLI = [sys.executable, "-m", "suanli.cli.main"]
LEASE_S = 5.0  # heartbeats every 0.3 s: a live agent must stall 5 s to lose a lease (2-core CI)
SITES = {  # name: (engine, cpus, currency, price per CPU-hour)
    "cheap": ("subprocess", 2, "CNY", 1.0),  # ~0.14 USD: first choice
    "mid": ("ray", 2, "USD", 0.5),
    "dear": ("subprocess", 4, "EUR", 1.0),
}


def _procs() -> Any:
    path = Path(__file__).parents[1] / "service" / "procs.py"
    spec = importlib.util.spec_from_file_location("federation_procs", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _setup(data: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Tenants and site keys in the broker's database (the admin CLI's functions)."""
    from suanli.federation.registry import create_site
    from suanli.service.db import make_engine, session_factory, upgrade
    from suanli.service.tenants import create_tenant

    url = f"sqlite:///{data / 'suanli.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as s:
        tenants = {n: create_tenant(s, n)[1] for n in ("alpha", "beta")}
        keys = {n: create_site(s, n)[1] for n in SITES}
    engine.dispose()
    return tenants, keys


def _agent(tmp: Path, url: str, name: str, key: str) -> subprocess.Popen[bytes]:
    engine, cpus, cur, price = SITES[name]
    (tmp / f"{name}.yaml").write_text(
        f"site: {name}\ncpus: {cpus}\nprice: {{currency: {cur}, cpu_hour: {price}}}\n")
    (tmp / f"{name}.key").write_text(key)
    log = open(tmp / f"agent-{name}.log", "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen([*SUANLI, "agent", "up", "--broker", url, "--site",
                             str(tmp / f"{name}.yaml"), "--key-file", str(tmp / f"{name}.key"),
                             "--executor", engine, "--data-dir", str(tmp / f"site-{name}"),
                             "--heartbeat-s", "0.3", "--poll-s", "0.1"],
                            stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "RAY_DISABLE_DOCKER_CPU_WARNING": "1"})


def _db(data: Path) -> Any:
    from sqlalchemy import create_engine

    return create_engine(f"sqlite:///{data / 'suanli.db'}")


def _rows(engine: Any, sql: str) -> list[Any]:
    from sqlalchemy import text

    with engine.connect() as c:
        return list(c.execute(text(sql)))


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    ev = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


@pytest.mark.slow
def test_three_sites_one_killed_all_jobs_complete_once_and_ledger_balances(
        tmp_path: Path) -> None:
    data = tmp_path / "broker"
    data.mkdir()
    tenants, keys = _setup(data)
    broker = _procs().Proc(data)
    broker.executor = "federated"
    broker.env.update({"SUANLI_LEASE_S": str(LEASE_S), "SUANLI_POLL_INTERVAL_S": "0.1",
                       "SUANLI_BROKER_FEE": "0.1"})
    agents: dict[str, subprocess.Popen[bytes]] = {}
    db = _db(data)
    try:
        broker.start()
        agents = {n: _agent(tmp_path, broker.url, n, keys[n]) for n in SITES}
        auth = {t: {"Authorization": f"Bearer {k}"} for t, k in tenants.items()}
        end = time.time() + 45
        while time.time() < end:  # the Ray site takes longest to come up
            board = httpx.get(broker.url + "/api/v1/federation/sites", headers=auth["alpha"],
                              timeout=5).json()["sites"]
            if sorted(r["site"] for r in board if r["state"] == "live") == sorted(SITES):
                break
            for n, p in agents.items():
                assert p.poll() is None, (tmp_path / f"agent-{n}.log").read_text()
            time.sleep(0.3)
        else:
            raise AssertionError(f"sites not live: {board}")
        t0 = time.time()
        jobs = {}
        for i in range(50):
            t = ("alpha", "beta")[i % 2]
            r = httpx.post(broker.url + "/api/v1/jobs", headers=auth[t], timeout=10, json={
                "name": f"j{i}", "kind": "command", "command": "sleep 0.3", "cpus": 1,
                "max_retries": 2})
            assert r.status_code == 201, r.text
            jobs[r.json()["id"]] = t
        end = time.time() + 20
        while time.time() < end:  # kill the cheapest site while it holds running work
            held = _rows(db, "select count(*) from fed_assignments where site_id='cheap' "
                         "and state in ('assigned', 'running')")[0][0]  # a live lease
            done = _rows(db, "select count(*) from fed_assignments where site_id='cheap' "
                         "and state='succeeded'")[0][0]
            if held >= 1 and done >= 2:
                break
            time.sleep(0.02)
        else:
            raise AssertionError(f"site 'cheap' never held a lease after 2 results ({held=})")
        agents["cheap"].send_signal(signal.SIGKILL)
        agents["cheap"].wait()
        killed_at = time.time()
        end = time.time() + 40
        while time.time() < end:
            states = dict(_rows(db, "select state, count(*) from jobs group by state"))
            if states.get("succeeded", 0) + states.get("failed", 0) == 50:
                break
            time.sleep(0.2)
        elapsed = time.time() - t0
        assert states == {"succeeded": 50}, states

        attempts = _rows(db, "select job_id, site_id, state, created_at, coalesce(finished_at, "
                         "expires_at) from fed_assignments")
        expired = [a for a in attempts if a[2] == "expired"]
        assert expired and {a[1] for a in expired} == {"cheap"}, expired
        final = dict(_rows(db, "select id, site from jobs"))
        for job_id, *_ in expired:  # requeued and completed elsewhere
            assert final[job_id] != "cheap"
        won = [a for a in attempts if a[2] == "succeeded"]
        assert sorted(a[0] for a in won) == sorted(jobs)  # each job completed exactly once
        used = {a[1] for a in won}
        assert used == set(SITES), used
        assert min(attempts, key=lambda a: a[3])[1] == "cheap"  # the cheapest goes first
        for site, (_, cpus, _, _) in SITES.items():  # capacity is never exceeded
            spans = [(a[3], a[4]) for a in attempts if a[1] == site]
            assert _max_overlap(spans) <= cpus, (site, _max_overlap(spans))

        ledger = _rows(db, "select job_id, tenant_id, site_id, tenant_charge_usd, "
                       "site_earning_usd, broker_fee_usd from fed_ledger")
        assert sorted(r[0] for r in ledger) == sorted(jobs)  # none recorded twice
        assert {r[0]: r[2] for r in ledger} == {j: final[j] for j in jobs}
        charges = sum(r[3] for r in ledger)
        assert charges > 0 and math.isclose(charges, sum(r[4] + r[5] for r in ledger),
                                            rel_tol=1e-12)
        for t, key in auth.items():  # each tenant's ledger adds up to its own jobs
            mine = httpx.get(broker.url + "/api/v1/federation/ledger", headers=key,
                             timeout=5).json()
            assert mine["jobs"] == sum(1 for v in jobs.values() if v == t)
        missed = _rows(db, "select missed_leases from fed_sites where id='cheap'")[0][0]
        assert missed == len(expired)
        print(f"\n50 jobs in {elapsed:.1f} s; cheap killed at +{killed_at - t0:.1f} s; "
              f"{len(expired)} attempts requeued; charges ${charges:.6f}")
    finally:
        for p in agents.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)  # the Ray site's agent stops its head
        for p in agents.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.stop()
        db.dispose()
