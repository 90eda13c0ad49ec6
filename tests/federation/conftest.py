"""Fixtures for the federation tests: a real broker app (SQLite file, federated executor, the
live scheduler) under FastAPI's TestClient, two tenants and three site keys."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service needs fastapi (pip install -e .)")
warnings.filterwarnings("ignore", message=".*httpx2.*")

from fastapi.testclient import TestClient  # noqa: E402

TERMINAL = ("succeeded", "failed", "cancelled")
FED = "/api/v1/federation"


@dataclass
class Broker:
    client: TestClient
    app: Any
    tenants: dict[str, dict[str, str]]  # name -> auth headers
    sites: dict[str, dict[str, str]]  # name -> auth headers (site keys)

    def site(self, name: str, path: str, body: dict[str, Any] | None = None,
             as_site: str | None = None) -> Any:
        h = self.sites[as_site or name]
        if body is None:
            return self.client.get(FED + path, headers=h)
        return self.client.post(FED + path, json=body, headers=h)

    def join(self, name: str, cpus: float = 2, price: float = 1.0, currency: str = "USD",
             leases: list[dict[str, str]] | None = None, **hb: Any) -> Any:
        r = self.site(name, "/register", {"cpus": cpus, "engine": "subprocess"})
        assert r.status_code == 200, r.text
        return self.beat(name, cpus, price, currency, leases, **hb)

    def beat(self, name: str, cpus: float = 2, price: float = 1.0, currency: str = "USD",
             leases: list[dict[str, str]] | None = None, **hb: Any) -> Any:
        return self.site(name, "/heartbeat", {"cpus": cpus, "leases": leases or [], "price": {
            "currency": currency, "cpu_hour": price}, **hb})

    def submit(self, tenant: str, **body: Any) -> str:
        body = {"name": "t", "kind": "command", "command": "true", **body}
        r = self.client.post("/api/v1/jobs", json=body, headers=self.tenants[tenant])
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def job(self, tenant: str, job_id: str) -> dict[str, Any]:
        return dict(self.client.get(f"/api/v1/jobs/{job_id}",
                                    headers=self.tenants[tenant]).json())

    def wait(self, tenant: str, job_id: str, until: Callable[[dict[str, Any]], bool],
             timeout: float = 10.0) -> dict[str, Any]:
        end = time.time() + timeout
        while True:
            j = self.job(tenant, job_id)
            if until(j) or time.time() > end:
                return j
            time.sleep(0.03)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    from suanli.federation.registry import create_site
    from suanli.service.app import create_app
    from suanli.service.config import Settings
    from suanli.service.tenants import create_tenant

    s = Settings(data_dir=tmp_path, executor="federated", poll_interval_s=0.05, lease_s=1.0,
                 broker_fee=0.1)
    app = create_app(s)
    with TestClient(app) as client:
        with app.state.suanli.sessions() as db:
            tenants = {n: {"Authorization": f"Bearer {create_tenant(db, n)[1]}"}
                       for n in ("alpha", "beta")}
            sites = {n: {"Authorization": f"Bearer {create_site(db, n)[1]}"}
                     for n in ("east", "west", "north")}
        yield Broker(client, app, tenants, sites)
