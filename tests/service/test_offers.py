"""Jobs from a quote's offer: honoured on the offer's site, hardware and devices, or refused
(409 with the reason and the next offer that can run); the job keeps its offer.

The refusals run on the local executor (one site, ``local``, no GPUs). The honoured offer
needs a site with devices: a real Ray head of its own whose node carries the site
``gpu-a`` and 8 *logical* GPUs (Ray schedules by declared resources; the job is a shell
command, so no GPU is touched)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import TERMINAL, Svc


def _site(site_id: str, price: float, count: int = 8) -> dict[str, Any]:
    return {"id": site_id, "name": f"{site_id} test site", "provider": "acme",
            "kind": "ai_centre", "country": "China", "location": {"lat": 30.6, "lon": 114.3},
            "pue": 1.2, "inventory": [{"hardware": "dgx-h100", "count": count,
                                       "on_demand_usd_per_device_hour": price}]}


def _quote(svc: Svc, **body: Any) -> dict[str, Any]:
    r = svc.client.post("/api/v1/quotes", headers=svc.a,
                        json={"model": "llama3-8b", "tokens": 1e9, **body})
    assert r.status_code == 201, r.text
    return r.json()


def _jobs(svc: Svc) -> int:
    return int(svc.client.get("/api/v1/jobs", headers=svc.a).json()["count"])


def test_offer_on_a_site_the_executor_does_not_run_is_refused_with_no_silent_run(svc):
    q = _quote(svc, top=3)  # built-in cloud sites: priced, not run by this service
    before = _jobs(svc)
    r = svc.submit(command="true", quote_id=q["id"], offer=0)
    assert r.status_code == 409, r.text
    site = q["offers"][0]["site"]
    body = r.json()
    assert f"site '{site}' is not run by this service's executor" in body["reason"]
    assert "runs: local" in body["reason"] and body["next_offer"] is None
    assert "no other offer" in body["detail"]
    assert _jobs(svc) == before  # nothing was created, nothing ran locally


def test_offer_larger_than_the_site_is_refused(svc):
    """A joined site named like the executor's site is runnable; 8 devices on a site with no
    GPUs is refused with the totals, never run without them."""
    assert svc.client.post("/api/v1/sites", json=_site("local", 2.0),
                           headers=svc.a).status_code == 201
    q = _quote(svc, sites=["local"], top=2)
    assert {o["site"] for o in q["offers"]} == {"local"}
    r = svc.submit(command="true", quote_id=q["id"], offer=0)
    assert r.status_code == 409
    assert "has" in r.json()["reason"] and "the offer needs 8 devices (dgx-h100)" in \
        r.json()["reason"]


def test_offer_fields_cannot_be_overridden(svc):
    q = _quote(svc, top=2)
    r = svc.submit(command="true", quote_id=q["id"], gpus=1)
    assert r.status_code == 422 and "gpus" in r.json()["detail"]
    r = svc.submit(command="true", quote_id=q["id"], site="local")
    assert r.status_code == 422 and "offer's site" in r.json()["detail"]
    r = svc.submit(svc.b, command="true", quote_id=q["id"])  # not B's quote
    assert r.status_code == 422 and "not found" in r.json()["detail"]
    r = svc.submit(command="true", quote_id=q["id"], offer=50)
    assert r.status_code == 422 and "has 2 offers" in r.json()["detail"]


# ---- honoured, on a real Ray site with devices ---------------------------------------------
@pytest.fixture
def ray_svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Svc]:
    pytest.importorskip("ray", reason="ray[default] is not installed")
    from fastapi.testclient import TestClient

    from suanli.service.app import create_app
    from suanli.service.config import Settings
    from suanli.service.executors.ray_executor import RayExecutor
    from suanli.service.executors.ray_head import adopt_head, stop_head
    from suanli.service.sandbox import sandbox_available
    from suanli.service.tenants import create_tenant

    if not sandbox_available()[0]:
        pytest.skip(f"no sandbox here: {sandbox_available()[1]}")
    monkeypatch.setenv("SUANLI_SITES_DIR", str(tmp_path / "registry"))
    data = tmp_path / "ray"
    ex = RayExecutor(data_dir=data, sites={"gpu-a": {"CPU": 2.0, "GPU": 8.0, "hw:dgx-h100": 8.0}},
                     num_cpus=2)
    settings = Settings(data_dir=tmp_path, executor="ray", poll_interval_s=0.1)
    app = create_app(settings, ex)
    try:
        with TestClient(app) as client:
            with app.state.suanli.sessions() as s:
                _, ka = create_tenant(s, "alpha")
                _, kb = create_tenant(s, "beta")
            end = time.monotonic() + 30
            while "gpu-a" not in ex.resources() and time.monotonic() < end:
                time.sleep(0.2)
            yield Svc(client, app, {"Authorization": f"Bearer {ka}"},
                      {"Authorization": f"Bearer {kb}"}, ka, kb, tmp_path)
    finally:
        info = adopt_head(data)
        ex.shutdown(stop_cluster=False)
        if info is not None:
            stop_head(info, data)


@pytest.mark.slow
def test_job_from_offer_runs_on_the_offer_site_and_keeps_the_offer(ray_svc):
    svc = ray_svc
    # gpu-a is runnable (the Ray node carries site:gpu-a) but dearer than a built-in
    # H100 site, so the best offers are elsewhere and gpu-a is a later one
    site = _site("gpu-a", 6.0)  # its Ray node declares 8 x dgx-h100 (hw:dgx-h100), no H200
    site["inventory"].append({"hardware": "hgx-h200", "count": 8,
                              "on_demand_usd_per_device_hour": 9.0})
    assert svc.client.post("/api/v1/sites", json=site, headers=svc.a).status_code == 201
    q = _quote(svc, hardware=["dgx-h100", "hgx-h200"], sites=["gpu-a", "nebius:eu-north1"],
               top=60)
    h200 = next(i for i, o in enumerate(q["offers"])
                if o["site"] == "gpu-a" and o["hardware"] == "hgx-h200")
    r = svc.submit(command="true", quote_id=q["id"], offer=h200)
    assert r.status_code == 409  # the site's nodes carry no H200: refused, not run on H100s
    assert "runs dgx-h100 x 8; the offer needs 8 x hgx-h200" in r.json()["reason"]
    idx = next(i for i, o in enumerate(q["offers"])
               if o["site"] == "gpu-a" and o["hardware"] == "dgx-h100")
    assert idx > 0 and q["offers"][0]["site"] != "gpu-a"
    want = q["offers"][idx]

    r = svc.submit(command="sleep 30", quote_id=q["id"], offer=0)
    assert r.status_code == 409, r.text  # the best offer's site is not run here
    assert r.json()["next_offer"]["offer"] == idx  # the next best that can: gpu-a's
    assert r.json()["next_offer"]["site"] == "gpu-a"

    r = svc.submit(command="sleep 30", quote_id=q["id"], offer=idx)
    assert r.status_code == 201, r.text
    job = svc.wait(r.json()["id"], lambda j: j["state"] in ("running", *TERMINAL), timeout=60)
    assert job["state"] == "running", job
    assert job["site"] == "gpu-a" and job["hardware"] == "dgx-h100"
    assert job["gpus"] == want["devices"] == 8
    o = job["offer"]
    assert (o["quote_id"], o["offer"], o["site"], o["devices"]) == (q["id"], idx, "gpu-a", 8)
    assert o["total_s"] == want["total_s"] and o["cost_usd"] == want["cost_usd"]
    assert o["on_quoted_site"] is True and "not compared with the quote" in o["note"]
    assert job["predicted_duration_s"] is None  # a shell job is not the quoted workload
    # the job holds the site's 8 devices: the same offer again is refused, site full
    r = svc.submit(command="true", quote_id=q["id"], offer=idx)
    assert r.status_code == 409 and "is full now" in r.json()["reason"]
    with svc.app.state.suanli.sessions() as s:
        from suanli.service.models import Job

        handle = s.get(Job, job["id"]).handle
    ex = svc.app.state.suanli.executor
    node = ex.node_of(handle)
    res = ex.node_resources(node) if node is not None else {}
    assert "site:gpu-a" in res and res["hw:dgx-h100"] == 8
    svc.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=svc.a)
    assert svc.wait(job["id"], timeout=30)["state"] == "cancelled"


def test_api_quote_marks_measured_and_declared_offers(svc):
    measured = {"date": "2026-12-07", "gemm_tflops": {"bf16": 400.0}, "memory_bw_gbs": 2000.0}
    for site_id, m in (("acme-m", measured), ("acme-d", None)):
        body = _site(site_id, 2.0) | ({"measured": m} if m else {})
        r = svc.client.post("/api/v1/sites", json=body, headers=svc.a)
        assert r.status_code == 201, r.text
    q = _quote(svc, sites=["acme-m", "acme-d"], top=20)
    by = {(o["site"], o["devices"]): o for o in q["offers"] if not o["spot"]}
    m, d = by[("acme-m", 8)], by[("acme-d", 8)]
    assert m["capability"] == "measured" and m["measured_figures"] == "bf16 GEMM, memory bandwidth"
    assert d["capability"] == "declared"
    assert m["run_s"] > d["run_s"]  # 400 TFLOP/s measured < 989 x 0.84 declared
