"""The Rich console every printed report uses (the CLI re-exports it)."""

from __future__ import annotations

import sys
from typing import Any


def console(stderr: bool = False) -> Any:
    """A Rich console. Piped output (no terminal, no $COLUMNS) gets 140 columns instead of
    Rich's 80, so wide tables stay readable in logs and files."""
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or "COLUMNS" in os.environ else 140
    return Console(stderr=stderr, width=width)
