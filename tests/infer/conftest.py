from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TRACES = SHARED / "data" / "traces" / "azure-llm-inference-2023"
VALIDATION = SHARED / "data" / "validation" / "published-runs.csv"


@pytest.fixture(scope="session")
def conv_trace() -> Path:
    path = TRACES / "AzureLLMInferenceTrace_conv.csv"
    if not path.is_file():
        pytest.skip(f"Azure trace not found at {path} (shared data missing)")
    return path


@pytest.fixture(scope="session")
def code_trace() -> Path:
    path = TRACES / "AzureLLMInferenceTrace_code.csv"
    if not path.is_file():
        pytest.skip(f"Azure trace not found at {path} (shared data missing)")
    return path


@pytest.fixture(scope="session")
def validation_csv() -> Path:
    if not VALIDATION.is_file():
        pytest.skip(f"validation file not found at {VALIDATION} (shared data missing)")
    return VALIDATION
