"""The federation protocol against a real broker app: keys, leases, isolation, refusals,
placement by price and liveness, requeue after a missed lease, settlement."""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from .conftest import FED, Broker


def _assigned(b: Broker, tenant: str, job_id: str) -> dict[str, Any]:
    j = b.wait(tenant, job_id, lambda j: j["state"] in ("queued", "running", "failed"))
    assert j["state"] == "queued", j
    return j


def _pull_one(b: Broker, site: str) -> dict[str, Any]:
    r = b.site(site, "/pull", {"max": 4})
    assert r.status_code == 200, r.text
    got = r.json()["assignments"]
    assert len(got) == 1, got
    return dict(got[0])


def _result(a: dict[str, Any], state: str = "succeeded", **kw: Any) -> dict[str, Any]:
    now = time.time()
    return {"id": a["id"], "token": a["token"], "state": state, "exit_code": 0,
            "started_at": now - 0.5, "finished_at": now, "logs": "hello\n", **kw}


def test_wrong_tenant_or_revoked_site_key_is_401(broker: Broker) -> None:
    from suanli.federation.registry import revoke_site

    bad = {"Authorization": "Bearer sk-site-not-a-key"}
    for path, body in (("/register", {"cpus": 1}), ("/heartbeat", {"cpus": 1}),
                       ("/pull", {"max": 1})):
        assert broker.client.post(FED + path, json=body, headers=bad).status_code == 401
        # a tenant's key is no site key
        r = broker.client.post(FED + path, json=body, headers=broker.tenants["alpha"])
        assert r.status_code == 401
    assert broker.client.post(FED + "/pull", json={}).status_code == 401
    assert broker.join("east").status_code == 200
    with broker.app.state.suanli.sessions() as s:
        revoke_site(s, "east")
    r = broker.beat("east")
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_cheapest_live_site_wins_and_sites_see_only_their_own(broker: Broker) -> None:
    broker.join("east", price=1.0)
    broker.join("west", price=0.05, currency="CNY")  # ~0.007 USD: the cheapest
    broker.join("north", price=0.001, draining=True)  # cheaper still, but draining
    job = broker.submit("alpha", max_retries=1)
    assert _assigned(broker, "alpha", job)["site"] == "west"
    assert broker.site("east", "/pull", {"max": 4}).json()["assignments"] == []
    assert broker.site("north", "/pull", {"max": 4}).json()["assignments"] == []
    a = _pull_one(broker, "west")
    assert a["job_id"] == job and a["spec"]["command"] == "true"
    mine = broker.site("east", "/assignments").json()
    assert mine["count"] == 0  # east never sees west's work
    assert [x["id"] for x in broker.site("west", "/assignments").json()["assignments"]] == [
        a["id"]]

    # replaying west's lease from east: 409 on logs, result and heartbeat; nothing changes
    for path, body in ((f"/leases/{a['id']}/logs", {"id": a["id"], "token": a["token"],
                                                    "text": "forged"}),
                       (f"/leases/{a['id']}/result", _result(a))):
        r = broker.site("west", path, body, as_site="east")
        assert r.status_code == 409 and "not held by site 'east'" in r.json()["detail"]
    r = broker.beat("east", price=1.0, leases=[{"id": a["id"], "token": a["token"]}])
    assert r.status_code == 409
    # west with a wrong token: 409 too
    r = broker.site("west", f"/leases/{a['id']}/result", {**_result(a), "token": "x" * 20})
    assert r.status_code == 409 and "wrong lease token" in r.json()["detail"]
    assert broker.job("alpha", job)["state"] == "queued"

    # west's own result is accepted once; a second one is refused
    r = broker.site("west", f"/leases/{a['id']}/result", _result(a))
    assert r.status_code == 200, r.text
    assert r.json()["currency"] == "CNY"
    assert broker.site("west", f"/leases/{a['id']}/result", _result(a)).status_code == 409
    j = broker.wait("alpha", job, lambda j: j["state"] == "succeeded")
    assert j["state"] == "succeeded" and j["site"] == "west"
    logs = broker.client.get(f"/api/v1/jobs/{job}/logs", headers=broker.tenants["alpha"])
    assert logs.json()["logs"] == "hello\n"
    # another tenant cannot see the job
    assert broker.client.get(f"/api/v1/jobs/{job}",
                             headers=broker.tenants["beta"]).status_code == 404


def test_malformed_heartbeat_and_result_are_422_and_change_nothing(broker: Broker) -> None:
    from suanli.federation.models import FedAssignment, FedSite

    broker.join("east", price=1.0)
    before = _site_row(broker, "east")
    for body, field in (({"cpus": -1}, "cpus"), ({"cpus": 1, "bogus": 1}, "bogus"),
                        ({"cpus": 1, "price": {"currency": "usd"}}, "price.currency"),
                        ({"cpus": 1, "price": {"currency": "XYZ"}}, "price.currency"),
                        ({"cpus": 1, "windows": [{"start": "25:00", "end": "08:00"}]},
                         "windows.0.start"),
                        ({"cpus": "lots"}, "cpus")):
        r = broker.site("east", "/heartbeat", body)
        assert r.status_code == 422 and field in r.json()["detail"], (body, r.text)
    r = broker.client.post(FED + "/heartbeat", content=b'{"cpus": NaN}',
                           headers={**broker.sites["east"], "content-type": "application/json"})
    assert r.status_code in (400, 422)
    assert _site_row(broker, "east") == before

    job = broker.submit("beta", max_retries=1)
    _assigned(broker, "beta", job)
    a = _pull_one(broker, "east")
    for body, field in ((_result(a, state="done"), "state"),
                        (_result(a, finished_at=1.0), "finished_at"),
                        ({**_result(a), "exit_code": 10_000}, "exit_code"),
                        ({**_result(a), "id": "fa-other"}, "id")):
        r = broker.site("east", f"/leases/{a['id']}/result", body)
        assert r.status_code == 422 and field in r.json()["detail"], (body, r.text)
    with broker.app.state.suanli.sessions() as s:
        row = s.get(FedAssignment, a["id"])
        assert row is not None and row.state == "assigned" and row.logs == ""
        assert s.get(FedSite, "east").completed_jobs == 0  # type: ignore[union-attr]


def _site_row(b: Broker, name: str) -> dict[str, Any]:
    from suanli.federation.models import FedSite

    with b.app.state.suanli.sessions() as s:
        r = s.get(FedSite, name)
        assert r is not None
        return {c: getattr(r, c) for c in ("heartbeats", "cpus", "currency", "cpu_price",
                                            "windows_json", "last_seen")}


def test_missed_lease_requeues_elsewhere_and_late_result_is_refused(broker: Broker) -> None:
    broker.join("east", price=2.0)
    broker.join("west", price=1.0)
    job = broker.submit("alpha", max_retries=2, cpus=1)
    assert _assigned(broker, "alpha", job)["site"] == "west"
    a = _pull_one(broker, "west")
    assert broker.site("west", f"/leases/{a['id']}/logs",
                       {"id": a["id"], "token": a["token"], "text": "working\n"}
                       ).status_code == 200
    # west goes dark; east keeps beating past west's lease (1 s)
    end = time.time() + 1.6
    while time.time() < end:
        assert broker.beat("east", price=2.0).status_code == 200
        time.sleep(0.2)
    j = broker.wait("alpha", job, lambda j: j["site"] == "east" and j["state"] == "queued")
    assert j["site"] == "east" and j["attempts"] == 2, j
    late = broker.site("west", f"/leases/{a['id']}/result", _result(a))
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    b = _pull_one(broker, "east")
    assert b["attempt"] == 1 and b["job_id"] == job
    assert broker.site("east", f"/leases/{b['id']}/result", _result(b)).status_code == 200
    j = broker.wait("alpha", job, lambda j: j["state"] == "succeeded")
    assert j["state"] == "succeeded" and j["site"] == "east"
    board = {r["site"]: r for r in broker.client.get(
        FED + "/sites", headers=broker.tenants["alpha"]).json()["sites"]}
    assert board["west"]["reliability"]["missed_leases"] == 1
    assert board["west"]["state"] == "offline" and "earnings" not in board["west"]
    assert board["east"]["reliability"]["completed"] == 1
    ledger = broker.client.get(FED + "/ledger", headers=broker.tenants["alpha"]).json()
    assert [e["job_id"] for e in ledger["entries"]] == [job]  # once, at east
    e = ledger["entries"][0]
    assert e["site"] == "east" and math.isclose(e["tenant_charge_usd"],
                                                e["site_earning_usd"] * 1.1)
    assert math.isclose(e["site_earning"], e["cpu_hours"] * 2.0)
    assert broker.site("west", "/site/ledger").json()["jobs"] == 0


def test_closed_window_gets_no_work_and_unregistered_site_cannot_pull(broker: Broker) -> None:
    import datetime as dt

    assert broker.site("north", "/pull", {"max": 1}).status_code == 409
    now = dt.datetime.now(dt.UTC)
    closed = {"start": f"{(now.hour + 2) % 24:02d}:00", "end": f"{(now.hour + 3) % 24:02d}:00"}
    broker.join("east", price=0.01, windows=[closed])
    broker.join("west", price=5.0)
    job = broker.submit("alpha")
    assert _assigned(broker, "alpha", job)["site"] == "west"


def test_registration_with_a_measured_bench_profile_shows_on_the_board(broker: Broker) -> None:
    from pathlib import Path

    import yaml

    from suanli.bench.profile import DeviceProfile

    prof = DeviceProfile.model_validate({  # the shape `suanli bench -o` writes
        "tool": "suanli bench", "date": "2026-12-07T00:00:00Z", "versions": {"numpy": "2"},
        "hardware": {"kind": "cpu", "name": "test cpu", "threads": 1},
        "gemm": {"fp32": [[64, 64, 64, 2e-5], [256, 256, 256, 4e-4]]},
        "elementwise": [[1e6, 1e-4], [1e8, 2e-2]], "op_overhead_s": 1e-5,
        "autograd_overhead_s": 1e-5})
    bench = {"measured": prof.model_dump(mode="json")}
    desc = yaml.safe_load((Path(__file__).parents[2] / "examples" / "site.yaml").read_text())
    r = broker.site("east", "/register", {"cpus": 2, "engine": "ray", "bench": bench,
                                          "descriptor": desc})
    assert r.status_code == 200, r.text
    broker.beat("east")
    row = broker.client.get(FED + "/sites", headers=broker.tenants["beta"]).json()["sites"][0]
    assert row["declared"]["inventory"] == [f"{x['count']}x {x['hardware']}"
                                            for x in desc["inventory"]]
    assert row["engine"] == "ray"
    assert math.isclose(row["measured"]["gemm_tflops"], prof.peak_gemm_flops / 1e12,
                        rel_tol=1e-3)
    assert math.isclose(row["measured"]["stream_gbs"], prof.memory_bw / 1e9, rel_tol=1e-2)
    assert row["measured"]["threads"] == 1 and row["state"] == "live"
    bad = broker.site("east", "/register", {"cpus": 2, "bench": {"measured": {"gemm": {}}}})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("bench:")
    bad = broker.site("east", "/register", {"cpus": 2, "descriptor": {"id": 3}})
    assert bad.status_code == 400


def test_tenant_cancel_reaches_the_site_through_its_heartbeat(broker: Broker) -> None:
    broker.join("east", price=1.0)
    job = broker.submit("alpha", cpus=1)
    _assigned(broker, "alpha", job)
    a = _pull_one(broker, "east")
    lease = [{"id": a["id"], "token": a["token"]}]
    r = broker.client.post(f"/api/v1/jobs/{job}/cancel", headers=broker.tenants["alpha"])
    assert r.status_code == 202
    end, told = time.time() + 5, []
    while time.time() < end and not told:  # the scheduler passes the request on
        told = broker.beat("east", leases=lease).json()["cancel"]
        time.sleep(0.05)
    assert told == [a["id"]]
    r = broker.site("east", f"/leases/{a['id']}/result", _result(a, state="cancelled"))
    assert r.status_code == 200
    j = broker.wait("alpha", job, lambda j: j["state"] == "cancelled")
    assert j["state"] == "cancelled"
    # the ended lease is abandoned on the next heartbeat
    assert broker.beat("east", leases=lease).json()["abandon"] == [a["id"]]


def test_the_agent_rereads_its_site_file_only_when_it_changes(broker: Broker, tmp_path: Path,
                                                              caplog: Any) -> None:
    """A real agent (subprocess engine) heartbeating the real broker: an unchanged site file is
    not parsed again, an edit (new mtime) reaches the broker on the next beat, and a broken
    edit keeps the last good file, warned about once."""
    from suanli.federation.agent import Agent
    from suanli.service.local_subprocess import SubprocessExecutor

    path = tmp_path / "site.yaml"

    def write(text: str, bump_s: float) -> None:
        path.write_text(text)
        t = path.stat().st_mtime + bump_s  # a new mtime even on a coarse-grained filesystem
        os.utime(path, (t, t))

    write("site: east\ncpus: 2\nprice: {currency: USD, cpu_hour: 1.0}\n", 0)
    agent = Agent("http://testserver", "unused", path,
                  SubprocessExecutor(tmp_path / "runs", require_sandbox=False))
    agent.http = broker.client
    broker.client.headers.update(broker.sites["east"])
    agent.register()
    first = agent.cfg
    agent.beat()
    agent.beat()
    assert agent.cfg is first  # not re-read
    row = _site_row(broker, "east")
    assert row["heartbeats"] == 2 and row["cpu_price"] == 1.0
    write("site: east\ncpus: 2\nprice: {currency: USD, cpu_hour: 2.5}\n", 5)
    agent.beat()
    assert agent.cfg is not first and agent.cfg.price["cpu_hour"] == 2.5
    assert _site_row(broker, "east")["cpu_price"] == 2.5
    good = agent.cfg
    write("site: east\ncpus: -1\n", 10)
    with caplog.at_level(logging.WARNING, logger="suanli.agent"):
        agent.beat()
        agent.beat()
    assert agent.cfg is good
    row = _site_row(broker, "east")
    assert row["heartbeats"] == 5 and row["cpu_price"] == 2.5
    assert sum("site file not re-read" in r.message for r in caplog.records) == 1


def test_a_job_pinned_to_a_site_that_is_not_live_waits_for_it(broker: Broker) -> None:
    # north drains: a job pinned to it is not handed over (it would sit on a site that takes
    # no work) even when it is the first job the scheduler looks at in its pass
    broker.join("east", price=1.0)
    broker.join("north", price=0.5, draining=True)
    pinned = broker.submit("alpha", site="north")
    time.sleep(0.5)  # several scheduler passes (poll 0.05 s)
    j = broker.job("alpha", pinned)
    assert j["state"] not in ("queued", "running", "failed") and j["site"] is None, j
    assert broker.site("north", "/pull", {"max": 4}).json()["assignments"] == []
    # north is live again: the job goes there
    broker.beat("north", price=0.5, draining=False)
    assert _assigned(broker, "alpha", pinned)["site"] == "north"
