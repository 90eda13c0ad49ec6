"""Shared helpers for trace loaders: where traces live, and row-by-row CSV reading that
reports every bad row with its file and line (never silently drops one)."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from suanli.errors import InputError

ENV_VAR = "SUANLI_TRACES"


def trace_root() -> Path:
    """Folder holding the trace folders: ``$SUANLI_TRACES``, else
    ``<repo>/../shared/data/traces``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[4].parent / "shared" / "data" / "traces"


def resolve(path: str | Path, default_folder: str) -> Path:
    """A user path, or a name inside ``trace_root()/default_folder``; must exist."""
    p = Path(path).expanduser()
    if p.exists():
        return p
    q = trace_root() / default_folder / path
    if q.exists():
        return q
    raise InputError(f"trace file '{path}' not found (also looked in {q.parent}); give a path "
                     f"to the file or set {ENV_VAR} to the folder holding the trace folders")


def read_rows(path: Path, required: tuple[str, ...],
              parse: Callable[[dict[str, str]], Any], bad: list[str]) -> Iterator[Any]:
    """Parse each data row of a CSV; rows that fail go to ``bad`` as ``file:line: why``.

    A missing column fails the whole file (nothing useful can be read from it), and so does a
    file that is not UTF-8 text CSV (binary data, NUL bytes): :class:`InputError`, one line.
    """
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            missing = [c for c in required if c not in cols]
            if missing:
                what = f"found {cols}" if cols else "the file is empty"
                raise InputError(f"{path}: missing column(s) {missing}; {what}. Is this the "
                                 "right trace file (see docs/sched.md for the columns)?")
            for row in reader:
                try:
                    if None in row or any(row[c] is None for c in required):
                        raise ValueError(f"row has {len(row)} cells, header has {len(cols)}")
                    yield parse(row)
                except (ValueError, KeyError, TypeError, OverflowError) as exc:
                    bad.append(f"{path}:{reader.line_num}: {printable(str(exc))}")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a UTF-8 text CSV (byte {exc.start} cannot be decoded); "
                         "give the trace as a CSV text file") from None
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV ({exc}); give the trace as a CSV text "
                         "file") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder; give the trace CSV file") from None


def printable(text: str, limit: int = 300) -> str:
    """``text`` with control characters escaped (``\\x00``) and cut to ``limit`` characters,
    safe to print in a one-line error."""
    out = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return out if len(out) <= limit else out[:limit] + "..."


def require(cond: bool, why: str) -> None:
    """Raise ValueError(why) unless ``cond`` (rows failing a check are reported as bad)."""
    if not cond:
        raise ValueError(why)
