"""Sites (list, join by descriptor) and quotes (the network's ranked offers), per tenant."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"


def test_sites_list_runnable_and_network_sites(svc):
    sites = svc.client.get("/api/v1/sites", headers=svc.a).json()["sites"]
    by_id = {s["id"]: s for s in sites}
    assert by_id["local"]["runnable"] and by_id["local"]["devices"]["CPU"] >= 1
    priced = [s for s in sites if s["price_usd_per_device_hour"]]
    assert len(priced) > 10 and all(s["price_usd_per_device_hour"] > 0 for s in priced)


def test_join_site_by_descriptor(svc):
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["id"] = "acme-test-site"
    r = svc.client.post("/api/v1/sites", json=raw, headers=svc.a)
    assert r.status_code == 201, r.text
    assert r.json()["devices"] == sum(i["count"] for i in raw["inventory"])
    ids = [s["id"] for s in svc.client.get("/api/v1/sites", headers=svc.b).json()["sites"]]
    assert "acme-test-site" in ids  # sites are network-wide
    assert svc.client.post("/api/v1/sites", json=raw, headers=svc.a).status_code == 409
    bad = {**raw, "id": "x2", "pue": 0.5}
    r = svc.client.post("/api/v1/sites", json=bad, headers=svc.a)
    assert r.status_code == 422 and "pue" in r.json()["detail"]


def test_quote_ranked_offers_and_isolation(svc):
    r = svc.client.post("/api/v1/quotes", headers=svc.a,
                        json={"model": "llama3-8b", "tokens": "1B", "top": 5})
    assert r.status_code == 201, r.text
    q = r.json()
    costs = [o["cost_usd"] for o in q["offers"]]
    assert 1 <= len(costs) <= 5 and costs == sorted(costs)
    assert svc.client.get(f"/api/v1/quotes/{q['id']}", headers=svc.a).json() == q
    assert svc.client.get(f"/api/v1/quotes/{q['id']}", headers=svc.b).status_code == 404


def test_quote_errors_are_clear(svc):
    r = svc.client.post("/api/v1/quotes", headers=svc.a, json={"model": "llama3-8b"})
    assert r.status_code == 422 and "exactly one of 'tokens'" in r.json()["detail"]
    r = svc.client.post("/api/v1/quotes", headers=svc.a,
                        json={"model": "no-such-model", "tokens": 1e9})
    assert r.status_code == 400 and "no-such-model" in r.json()["detail"]


def test_training_job_prediction_comes_from_the_planner(svc):
    from suanli.plan.api import best_training_plan

    body = {"command": "true", "model": "llama3-8b", "hardware": "H100", "gpus": 8}
    one = svc.submit(tokens=1e9, **body).json()
    two = svc.submit(tokens=2e9, **body).json()
    plan = best_training_plan("llama3-8b", "H100", 8, 1e9)
    assert one["predicted_duration_s"] == plan.days * 86400
    # time is linear in tokens for a fixed plan (FLOPs = 6 N D, Kaplan et al. 2020)
    assert two["predicted_duration_s"] / one["predicted_duration_s"] == pytest.approx(2.0)
    r = svc.submit(tokens=1e9, **{**body, "model": "llama-nope"})
    assert r.status_code == 400 and "llama-nope" in r.json()["detail"]
    r = svc.submit(command="true", model="llama3-8b")
    assert r.status_code == 422 and "together" in r.json()["detail"]
