"""Fixtures for the service-core tests: a real SQLite file in tmp_path, the real local-process
executor (jobs are real ``sh`` processes), the app under FastAPI's TestClient, two tenants."""

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

from .ray_shared import ex, ray_data_dir  # noqa: E402, F401  (the shared Ray head fixtures)

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Svc:
    client: TestClient
    app: Any
    a: dict[str, str]  # headers of tenant A
    b: dict[str, str]  # headers of tenant B
    key_a: str
    key_b: str
    data_dir: Path

    def submit(self, headers: dict[str, str] | None = None, **body: Any) -> Any:
        body.setdefault("name", "t")
        body.setdefault("kind", "command")
        return self.client.post("/api/v1/jobs", json=body, headers=headers or self.a)

    def wait(self, job_id: str, until: Callable[[dict[str, Any]], bool] | None = None,
             timeout: float = 15.0, headers: dict[str, str] | None = None) -> dict[str, Any]:
        until = until or (lambda j: j["state"] in TERMINAL)
        end = time.time() + timeout
        while True:
            job = self.client.get(f"/api/v1/jobs/{job_id}", headers=headers or self.a).json()
            if until(job) or time.time() > end:
                return job
            time.sleep(0.05)


def build(tmp_path: Path, scheduler: bool = True, **settings: Any) -> tuple[Any, Any]:
    from suanli.service.app import create_app
    from suanli.service.config import Settings
    from suanli.service.local_subprocess import SubprocessExecutor

    s = Settings(data_dir=tmp_path, executor="subprocess", poll_interval_s=0.05,
                 scheduler=scheduler, **settings)
    return create_app(s, SubprocessExecutor(tmp_path / "runs")), s


@pytest.fixture
def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Svc]:
    monkeypatch.setenv("SUANLI_SITES_DIR", str(tmp_path / "registry"))
    from suanli.service.tenants import create_tenant

    app, _ = build(tmp_path)
    with TestClient(app) as client:
        with app.state.suanli.sessions() as s:
            _, ka = create_tenant(s, "alpha")
            _, kb = create_tenant(s, "beta")
        yield Svc(client, app, {"Authorization": f"Bearer {ka}"},
                  {"Authorization": f"Bearer {kb}"}, ka, kb, tmp_path)
