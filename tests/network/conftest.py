"""Fixtures for the network tests: the built-in network and an empty site registry."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@pytest.fixture(autouse=True)
def _empty_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test sees only the built-in sites (user registrations go to a temp folder)."""
    reg = tmp_path / "registry"
    monkeypatch.setenv("SUANLI_SITES_DIR", str(reg))
    return reg


@pytest.fixture(scope="session")
def net():
    from suanli.network.sites import load_network

    return load_network(registry=Path("/nonexistent-suanli-registry"))
