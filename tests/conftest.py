"""Shared fixtures: the catalog and a few jobs, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# No per-example deadline: a 2-core CI machine running tests in parallel can stall any example
# for longer than hypothesis' default 200 ms; correctness, not speed, is what these tests check.
settings.register_profile("suanli", deadline=None)
settings.load_profile("suanli")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def catalog():
    from suanli.catalog import load_catalog

    return load_catalog()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED
