"""The memory validation set (``data/memory-cases.yaml``): published memory figures and
formulas, checked against the model's own functions in ``suanli.perf.memory``.

Two kinds of rows: model-state bytes under ZeRO stages (Rajbhandari et al. 2020, Fig. 1) and
per-layer activation bytes (Korthikanti et al. 2022, Table 2). The third check, that every
published run with a stated layout fits, lives in the training validation
(``suanli validate`` notes "does not fit"; ``tests/calib/test_memory_check.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suanli.catalog import load_catalog
from suanli.perf import memory

MEMORY_CASES = Path(__file__).parent / "data" / "memory-cases.yaml"


@dataclass(frozen=True)
class MemoryResult:
    id: str
    expected: float  # bytes
    predicted: float  # bytes
    tolerance: float
    source: str

    @property
    def error(self) -> float:
        return self.predicted / self.expected - 1.0


def _formula(expr: str, s: float, b: float, h: float, a: float, t: float) -> float:
    allowed = {"s": s, "b": b, "h": h, "a": a, "t": t}
    return float(eval(expr, {"__builtins__": {}}, allowed))  # the package's own data file


def check_memory(path: Path = MEMORY_CASES) -> list[MemoryResult]:
    import yaml

    cat = load_catalog()
    out = []
    for cid, c in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"].items():
        one = np.ones(1)
        if c["kind"] == "state":
            pred = memory.model_state_bytes(float(c["params"]) * one, 0 * one, c["dp"] * one, one,
                                            c["zero"] * one)[0]
            exp = c["expected_gb"] * 1e9
        else:
            m = cat.model(c["model"])
            s, b, t = float(c["seq"]), float(c["micro_batch"]), float(c["tp"])
            rc = memory.RECOMPUTE_NAMES.index(c["recompute"])
            pred = memory.layer_activation_bytes(
                m, s * one, b * one, t * one, float(c["sp"]) * one, rc * one, flash=False,
                dropout=True)[0]
            exp = _formula(c["formula"], s, b, float(m.hidden), float(m.heads), t)
        out.append(MemoryResult(cid, float(exp), float(pred), float(c.get("tolerance", 1e-6)),
                                c["source"]))
    return out
