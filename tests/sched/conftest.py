from __future__ import annotations

from pathlib import Path

import pytest

TRACES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "traces"


@pytest.fixture(scope="session")
def traces() -> Path:
    if not (TRACES / "alibaba-gpu-v2023-openb").is_dir():
        pytest.skip(f"trace data not found at {TRACES} (shared/data/traces)")
    return TRACES
