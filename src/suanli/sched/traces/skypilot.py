"""SkyPilot spot availability / preemption traces (Wu et al., NSDI'24).

Each JSON file: ``{"metadata": {"gap_seconds": G}, "data": [n0, n1, ...]}``, ``data[i]`` = spot
instances alive at tick i (G s apart). The simulator scales a trace to a site's node count
(alive nodes = round(n_i / max(n) x nodes)).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from suanli.errors import InputError
from suanli.sched.traces.common import resolve

FOLDER = "skypilot-spot-traces"


def load_spot_trace(path: str | Path) -> tuple[float, np.ndarray]:
    """(gap seconds, alive count per tick) of one trace file."""
    p = resolve(path, FOLDER)
    try:
        raw = json.loads(p.read_text())
        gap = float(raw["metadata"]["gap_seconds"])
        data = np.asarray(raw["data"], dtype=float)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{p}: not a spot trace ({exc}); expected "
                         '{"metadata": {"gap_seconds": G}, "data": [...]}') from None
    if gap <= 0 or (data < 0).any():
        raise InputError(f"{p}: gap_seconds must be > 0 and counts >= 0")
    return gap, data
