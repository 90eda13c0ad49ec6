"""A progress bar that appears only when the work lasts (more than ``delay_s``), on stderr."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def delayed_progress(title: str, delay_s: float = 2.0
                     ) -> Iterator[Callable[[int, int, str], None]]:
    """Yields ``update(done, total, what)``. The Rich bar starts at the first update after
    ``delay_s`` seconds, so quick answers print nothing extra; stdout stays clean for --json."""
    t0 = time.monotonic()
    state: dict[str, Any] = {}

    def update(done: int, total: int, what: str) -> None:
        if "bar" not in state:
            if time.monotonic() - t0 < delay_s:
                return
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            from suanli.report.console import console

            bar = Progress(TextColumn("{task.description}"), BarColumn(),
                           TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                           console=console(stderr=True), transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(title, total=max(total, 1))
        state["bar"].update(state["task"], completed=done, total=max(total, 1),
                            description=f"{title}: {what}")

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].stop()
