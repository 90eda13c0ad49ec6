"""A fuzz pass over every route of the OpenAPI schema (schemathesis): no 500, no traceback.

Bounded for CI: a few dozen generated cases per operation. The scheduler is off, so fuzzed
commands are stored, never run. Every request carries a valid key, so the cases reach the
routes' own validation rather than stopping at 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis (dev extra)")
from hypothesis import HealthCheck, settings  # noqa: E402

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 30  # generated cases per operation


@pytest.fixture
def fuzz_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict]]:
    from fastapi.testclient import TestClient

    from suanli.service.tenants import create_tenant

    from .conftest import build

    monkeypatch.setenv("SUANLI_SITES_DIR", str(tmp_path / "registry"))
    app, _ = build(tmp_path, scheduler=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        with app.state.suanli.sessions() as s:
            _, key = create_tenant(s, "fuzz")
        yield client, {"Authorization": f"Bearer {key}"}


def _openapi() -> dict[str, Any]:
    """The app's OpenAPI document (building the app opens nothing but a temp folder)."""
    import tempfile

    from suanli.service.app import create_app
    from suanli.service.config import Settings
    from suanli.service.local_subprocess import SubprocessExecutor

    tmp = Path(tempfile.mkdtemp(prefix="suanli-fuzz-"))
    app = create_app(Settings(data_dir=tmp, executor="subprocess", scheduler=False),
                     SubprocessExecutor(tmp / "runs"))
    return dict(app.openapi())


schema = schemathesis.openapi.from_dict(_openapi())


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_route_answers_500_or_a_traceback(case: Any, fuzz_app: tuple[Any, dict]) -> None:
    client, auth = fuzz_app
    kw = case.as_transport_kwargs(base_url="http://testserver")
    kw["headers"] = {**{k: v.encode() if isinstance(v, str) else v  # raw bytes on the wire
                        for k, v in (kw.get("headers") or {}).items()
                        if k.lower() != "authorization"}, **auth}
    if isinstance(kw.get("data"), bytes | str):
        kw["content"] = kw.pop("data")
    r = client.request(kw.pop("method"), kw.pop("url"), **{k: v for k, v in kw.items() if k in (
        "headers", "params", "json", "content", "data")})
    assert r.status_code < 500, (case.method, case.formatted_path, case.body, r.text[:300])
    assert "Traceback" not in r.text and 'File "' not in r.text
