"""HTTP API: auth, tenant isolation, idempotency, validation, body limits, health, metrics."""

from __future__ import annotations

import logging

import pytest


def test_health_metrics_and_openapi_need_no_key(svc):
    h = svc.client.get("/health").json()
    assert h["status"] == "ok" and h["db"] == "ok"
    assert svc.client.get("/openapi.json").json()["info"]["title"]
    assert svc.client.get("/docs").status_code == 200
    text = svc.client.get("/metrics").text
    assert "suanli_jobs_total" in text and "suanli_scheduler_passes_total" in text


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk-wrongwrongwrong"},
                                     {"Authorization": "Basic abc"}])
def test_missing_or_wrong_key_is_401(svc, headers):
    for method, path in [("get", "/api/v1/jobs"), ("get", "/api/v1/usage"),
                         ("get", "/api/v1/sites"), ("post", "/api/v1/jobs")]:
        r = getattr(svc.client, method)(path, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert "sk-wrong" not in r.text


def test_key_never_logged(svc, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    svc.submit(command="true")
    svc.client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {svc.key_a}x"})
    logging.getLogger("suanli.service").warning("client sent %s", svc.key_b)
    out, err = capfd.readouterr()
    text = caplog.text + out + err
    assert "client sent sk-***" in caplog.text  # the filter is on, and it redacts
    assert svc.key_a not in text and svc.key_b not in text


def test_tenant_isolation(svc):
    job = svc.submit(command="true").json()
    jid = job["id"]
    assert svc.client.get(f"/api/v1/jobs/{jid}", headers=svc.a).status_code == 200
    for path in (f"/api/v1/jobs/{jid}", f"/api/v1/jobs/{jid}/logs"):
        r = svc.client.get(path, headers=svc.b)
        assert r.status_code == 404 and "not found" in r.json()["detail"]
    assert svc.client.post(f"/api/v1/jobs/{jid}/cancel", headers=svc.b).status_code == 404
    assert svc.client.get("/api/v1/jobs", headers=svc.b).json()["count"] == 0
    svc.wait(jid)
    assert svc.client.get("/api/v1/usage", headers=svc.a).json()["jobs"] == 1
    assert svc.client.get("/api/v1/usage", headers=svc.b).json()["jobs"] == 0


def test_idempotency_key_returns_the_same_job(svc):
    hdr = {**svc.a, "Idempotency-Key": "run-42"}
    first = svc.submit(hdr, command="true", name="one")
    again = svc.submit(hdr, command="true", name="one")
    assert first.status_code == again.status_code == 201  # the first response, replayed
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.json()["id"] == first.json()["id"]
    other = svc.submit({**svc.b, "Idempotency-Key": "run-42"}, command="true")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert svc.client.get("/api/v1/jobs", headers=svc.a).json()["count"] == 1


@pytest.mark.parametrize(("body", "words"), [
    ({"kind": "command"}, "needs a non-empty 'command'"),
    ({"kind": "python", "entrypoint": "no colon"}, "package.module:function"),
    ({"kind": "command", "command": "true", "cpus": -1}, "cpus"),
    ({"kind": "command", "command": "true", "gpus": 1.5}, "whole number"),
    ({"kind": "shell", "command": "true"}, "kind"),
    ({"kind": "command", "command": "true", "colour": "red"}, "colour"),
    ({"kind": "command", "command": "true", "name": "bad/name"}, "name"),
])
def test_invalid_job_is_422_with_the_field(svc, body, words):
    r = svc.submit(**body)
    assert r.status_code == 422
    assert words in r.json()["detail"]


def test_malformed_json_and_bad_query(svc):
    r = svc.client.post("/api/v1/jobs", content=b"{not json", headers={
        **svc.a, "Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    r = svc.client.get("/api/v1/jobs?state=done", headers=svc.a)
    assert r.status_code == 422 and "succeeded" in r.json()["detail"]
    assert svc.client.get("/api/v1/jobs?limit=0", headers=svc.a).status_code == 422


def test_oversized_body_is_413(svc):
    big = "x" * (2 << 20)
    r = svc.submit(command=f"echo {big}")
    assert r.status_code == 413 and "bytes" in r.json()["detail"]
    assert svc.client.get("/api/v1/jobs", headers=svc.a).json()["count"] == 0


def test_chunked_body_without_length_is_refused(svc):
    def gen():
        yield b'{"name": "t", "kind": "command", "command": "true"}'

    r = svc.client.post("/api/v1/jobs", content=gen(), headers=svc.a)
    assert r.status_code == 411


def test_metrics_count_requests_by_route(svc):
    svc.client.get("/api/v1/jobs", headers=svc.a)
    svc.client.get("/api/v1/jobs", headers=svc.a)
    text = svc.client.get("/metrics").text
    line = next(ln for ln in text.splitlines() if ln.startswith(
        'suanli_http_requests_total{method="GET",route="/api/v1/jobs",status="200"}'))
    assert int(line.split()[-1]) == 2
    assert 'suanli_http_request_duration_seconds_bucket{method="GET",route="/api/v1/jobs",' \
           'le="+Inf"} 2' in text


def test_concurrent_submissions_with_one_key_make_one_job(svc):
    from concurrent.futures import ThreadPoolExecutor

    hdr = {**svc.a, "Idempotency-Key": "race"}
    with ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(lambda _: svc.submit(hdr, command="true"), range(16)))
    assert {r.status_code for r in rs} == {201}
    assert sum("Idempotent-Replayed" not in r.headers for r in rs) == 1
    assert len({r.json()["id"] for r in rs}) == 1
    assert svc.client.get("/api/v1/jobs", headers=svc.a).json()["count"] == 1


def test_rotated_key_replaces_the_old_one(svc):
    from suanli.service.tenants import rotate_key

    with svc.app.state.suanli.sessions() as s:
        new = rotate_key(s, "alpha")
    assert svc.client.get("/api/v1/jobs", headers=svc.a).status_code == 401
    assert svc.client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {new}"}
                          ).status_code == 200
