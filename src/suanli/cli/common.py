"""Helpers shared by the CLI modules: output (Rich tables or JSON) and option parsing.

Only light imports at module level: this file is imported when ``suanli --help`` runs.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from suanli.errors import InputError


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, pydantic models, numpy scalars and non-finite floats -> plain JSON values."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "model_dump"):
        return to_jsonable(obj.model_dump())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def print_json(obj: Any) -> None:
    """One JSON object on stdout, nothing else (machine readable)."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2) + "\n")


def console(stderr: bool = False) -> Any:
    """A Rich console. Piped output (no terminal, no $COLUMNS) gets 140 columns instead of
    Rich's 80, so wide tables stay readable in logs and files."""
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or "COLUMNS" in os.environ else 140
    return Console(stderr=stderr, width=width)


def require_positive(value: float | int | None, flag: str) -> None:
    if value is not None and value <= 0:
        raise InputError(f"{flag} must be positive, got {value}")
