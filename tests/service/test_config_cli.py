"""Settings refuse unsafe values; the CLI bootstraps tenants (key shown once, stored hashed)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from suanli.errors import InputError
from suanli.service.config import Settings
from suanli.service.security import hash_key, new_api_key, redact


@pytest.mark.parametrize(("kw", "words"), [
    ({"host": "0.0.0.0"}, "--allow-remote"),
    ({"max_body_bytes": 10}, "1 KiB"),
    ({"poll_interval_s": 0}, "positive"),
    ({"executor": "k8s"}, "subprocess"),
    ({"port": 70000}, "port"),
    ({"api_threads": 0}, "api_threads"),
])
def test_unsafe_settings_are_refused(kw, words, tmp_path: Path):
    with pytest.raises(InputError, match=words):
        Settings.from_env(data_dir=tmp_path, **kw)


def test_the_api_runs_its_blocking_handlers_on_api_threads(tmp_path: Path):
    """The service caps the threads of its blocking handlers at ``api_threads`` (anyio's
    default is 40; docs/federation.md says why few are faster)."""
    import anyio.to_thread
    from fastapi.testclient import TestClient

    from .conftest import build

    app, _ = build(tmp_path, scheduler=False, api_threads=3)
    with TestClient(app) as client:
        assert client.portal is not None
        assert client.portal.call(
            lambda: anyio.to_thread.current_default_thread_limiter().total_tokens) == 3
        assert client.get("/health").status_code == 200


def test_remote_bind_needs_the_explicit_flag(tmp_path: Path):
    assert Settings(host="0.0.0.0", allow_remote=True, data_dir=tmp_path).host == "0.0.0.0"


def test_env_then_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("SUANLI_PORT", "9001")
    monkeypatch.setenv("SUANLI_DATA_DIR", str(tmp_path))
    s = Settings.from_env(port=None, policy="sjf")
    assert (s.port, s.policy) == (9001, "sjf")
    assert s.db_url == f"sqlite:///{tmp_path / 'suanli.db'}"


def test_keys_are_random_hashed_and_redacted():
    a, b = new_api_key(), new_api_key()
    assert a != b and a.startswith("sk-") and len(a) > 40
    assert hash_key(a) != hash_key(b) and len(hash_key(a)) == 64
    assert redact(f"Bearer {a} and {b}") == "Bearer sk-*** and sk-***"


def test_create_tenant_cli(tmp_path: Path):
    cmd = [sys.executable, "-m", "suanli.cli.main", "service", "admin", "create-tenant"]
    env_args = ["--data-dir", str(tmp_path)]
    out = subprocess.run([*cmd, "acme", *env_args, "--json"], capture_output=True, text=True,
                         check=True)
    key = json.loads(out.stdout)["api_key"]
    with sqlite3.connect(tmp_path / "suanli.db") as db:
        rows = db.execute("SELECT key_hash, key_prefix FROM tenants").fetchall()
    assert rows == [(hash_key(key), key[:10])]  # only the hash and a prefix are stored
    assert key.encode() not in (tmp_path / "suanli.db").read_bytes()
    dup = subprocess.run([*cmd, "acme", *env_args], capture_output=True, text=True)
    assert dup.returncode == 2 and dup.stderr.count("\n") == 1
    assert "already exists" in dup.stderr


def test_service_down_without_a_head_says_so(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "suanli.cli.main", "service", "down",
                        "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "no embedded Ray head is running" in r.stderr


def test_admin_quota_sites_and_remove_site_cli(tmp_path: Path):
    import yaml

    from suanli.service.db import make_engine, session_factory, upgrade
    from suanli.service.models import JoinedSite, Tenant
    from suanli.service.tenants import create_tenant

    url = f"sqlite:///{tmp_path / 'suanli.db'}"
    upgrade(url)
    engine = make_engine(url)
    site = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / "site.yaml")
                          .read_text())
    with session_factory(engine)() as s:
        t, _ = create_tenant(s, "owner")
        s.add(JoinedSite(id="their-site", tenant_id=t.id, descriptor_json=json.dumps(
            {**site, "id": "their-site"}), created_at=0.0))
        s.add(JoinedSite(id="broken", tenant_id=t.id, descriptor_json="{", created_at=0.0))
        s.commit()
    admin = [sys.executable, "-m", "suanli.cli.main", "service", "admin"]
    where = ["--data-dir", str(tmp_path)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*admin, *args, *where], capture_output=True, text=True,
                              timeout=60)

    r = run("set-quota", "owner", "--cpus", "4", "--gpus", "2", "--weight", "3")
    assert r.returncode == 0 and "4 CPUs, 2 GPUs, weight 3" in r.stdout, r.stderr
    bad = run("set-quota", "owner", "--cpus", "inf")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "cpus" in bad.stderr
    rows = {r["site"]: r for r in json.loads(run("sites", "--json").stdout)}
    assert rows["their-site"]["owner"] == "owner" and rows["their-site"]["valid"]
    assert not rows["broken"]["valid"]
    assert run("remove-site", "broken").returncode == 0
    gone = run("remove-site", "broken")
    assert gone.returncode == 2 and "no joined site" in gone.stderr
    with session_factory(engine)() as s:
        t = s.query(Tenant).one()
        assert (t.quota_cpus, t.quota_gpus, t.weight) == (4.0, 2.0, 3.0)
        assert [r.id for r in s.query(JoinedSite)] == ["their-site"]
    engine.dispose()
