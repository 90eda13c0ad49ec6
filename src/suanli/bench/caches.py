"""This CPU's cache sizes, read from the OS, and the working sets the bench spans with them.

Linux describes each cache a CPU sees under ``/sys/devices/system/cpu/cpu0/cache/index*/``
(``level``, ``type``, ``size`` such as ``2048K``; kernel documentation,
``Documentation/ABI/testing/sysfs-devices-system-cpu``). Where that is absent, glibc's
``sysconf(_SC_LEVEL2_CACHE_SIZE)`` / ``_SC_LEVEL3_CACHE_SIZE``; where that is absent too, a
fallback (1 MiB of L2, 32 MiB of last-level cache: a common server core's) marked as such.

``l2`` is a core's own unified cache, ``llc`` the last level (shared by the cores of a socket;
the same as ``l2`` on a CPU without an L3).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FALLBACK", "cache_sizes", "kv_working_sets", "spanning_sets"]

FALLBACK = {"l2": float(2**20), "llc": float(32 * 2**20)}
SYSFS = Path("/sys/devices/system/cpu/cpu0/cache")


def _parse_size(text: str) -> float | None:
    """``2048K`` / ``480M`` / ``1G`` / ``65536`` as bytes (None when it is none of those)."""
    t = text.strip().upper()
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(t[-1:], 1)
    digits = t[:-1] if scale > 1 else t
    try:
        value = float(digits) * scale
    except ValueError:
        return None
    return value if value > 0 else None


def _from_sysfs(root: Path) -> dict[int, float]:
    """{level: bytes} of the unified or data caches under ``root``."""
    out: dict[int, float] = {}
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind in ("Unified", "Data") and size is not None:
            out[level] = max(out.get(level, 0.0), size)
    return out


def _from_sysconf() -> dict[int, float]:
    out: dict[int, float] = {}
    for level, name in ((2, "SC_LEVEL2_CACHE_SIZE"), (3, "SC_LEVEL3_CACHE_SIZE")):
        try:
            value = os.sysconf(name)
        except (ValueError, OSError):
            continue
        if value > 0:
            out[level] = float(value)
    return out


def cache_sizes(root: Path = SYSFS) -> dict[str, float | str]:
    """{"l2": bytes, "llc": bytes, "source": "sysfs" | "sysconf" | "fallback"}."""
    for source, levels in (("sysfs", _from_sysfs(root)), ("sysconf", _from_sysconf())):
        if 2 in levels:
            return {"l2": levels[2], "llc": max(levels.values()), "source": source}
    return {**FALLBACK, "source": "fallback"}


def spanning_sets(low: float, high: float, step: float = 2.0) -> tuple[float, ...]:
    """Working sets from ``low`` up to ``high`` (both included), ``step`` apart in ratio:
    ``low, step*low, ..., high``."""
    sets, w = [], low
    while w < high:
        sets.append(w)
        w *= step
    return (*sets, high)


def _available_bytes() -> float | None:
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError):
        return None


def kv_working_sets(caches: dict[str, float | str], per_call: float) -> tuple[float, ...]:
    """The bench's KV-read working sets: from half a core's L2 (a set that stays in it; never
    below one call's ``per_call`` bytes) to twice the last-level cache (past any share of it
    an LRU-like policy keeps when the set is cycled through in order), doubling between.
    The top is held to a quarter of the memory free now, so that the bench never pushes a
    shared machine into swap."""
    low = max(float(caches["l2"]) / 2, per_call)
    high = 2.0 * float(caches["llc"])
    free = _available_bytes()
    if free is not None:
        high = min(high, max(free / 4, 4 * low))
    return spanning_sets(low, max(high, low))
