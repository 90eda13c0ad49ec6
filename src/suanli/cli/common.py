"""Helpers shared by the CLI modules: output (Rich tables or JSON) and option parsing.

Only light imports at module level: this file is imported when ``suanli --help`` runs.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from suanli.errors import InputError
from suanli.jsonable import to_jsonable
from suanli.report.console import console

__all__ = ["console", "print_json", "require_positive", "to_jsonable"]


def print_json(obj: Any) -> None:
    """One JSON object on stdout, nothing else (machine readable)."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2) + "\n")


def require_positive(value: float | int | None, flag: str) -> None:
    if value is not None and value <= 0:
        raise InputError(f"{flag} must be positive, got {value}")
