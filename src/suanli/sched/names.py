"""Name lookup with suggestions, shared by the placer and policy registries."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from suanli.errors import InputError


def unknown(kind: str, name: str, choices: Iterable[str]) -> InputError:
    """An :class:`InputError` for an unknown ``kind`` name, listing close and all choices."""
    names = list(choices)
    close = difflib.get_close_matches(name.lower(), names, n=2, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return InputError(f"unknown {kind} '{name}'.{hint} Choose one of: {', '.join(names)}.")
