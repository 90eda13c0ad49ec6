"""CSV export of any table as rows of plain values (``--csv PATH``; ``-`` is stdout)."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from suanli.jsonable import to_jsonable


def write_csv(rows: Iterable[Mapping[str, Any]], path: str) -> int:
    """Write ``rows`` (dicts with the same keys, in order) to ``path`` (``-``: stdout).
    Nested values become JSON-like text; returns the number of rows written."""
    rows = [dict(r) for r in rows]
    if not rows:
        return 0
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    fh = sys.stdout if path == "-" else open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
    try:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: _cell(to_jsonable(r.get(k))) for k in keys})
    finally:
        if fh is not sys.stdout:
            fh.close()
    return len(rows)


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v
