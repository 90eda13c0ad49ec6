"""Relative throughput of a job kind on a GPU type: the seam to the performance model.

``ThroughputTable.get(kind, gpu_type)`` is the speed of ``kind`` on ``gpu_type`` relative to the
reference type (the hardware the trace's durations were measured on): a job needing ``d``
seconds on the reference runs ``d / speed`` seconds there. Until :mod:`suanli.perf` fills the
table per model, :meth:`ThroughputTable.from_catalog` derives it from catalog peaks with a
roofline-style blend (Williams et al., CACM 2009): a job kind spends a fraction ``c`` of its time
compute-bound and ``1 - c`` memory-bound, so its time on GPU g scales as

    t_g / t_ref = c * F_ref / F_g + (1 - c) * B_ref / B_g

with F the peak bf16 (else fp16) FLOP/s and B the memory bandwidth; speed = t_ref / t_g.
Kinds: ``compute`` (c = 0.9), ``default`` (c = 0.5), ``memory`` (c = 0.1); any other kind name
is treated as ``default`` until the perf model supplies it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

COMPUTE_SHARE = {"compute": 0.9, "default": 0.5, "memory": 0.1}


@cache
def catalog_ids() -> dict[str, str]:
    """Trace GPU type -> catalog id, from ``sched/data/gpu_types.csv`` (empty = unknown)."""
    path = Path(__file__).parent / "data" / "gpu_types.csv"
    with path.open(encoding="utf-8") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {r["trace_type"]: r["catalog_id"] for r in rows}


def catalog_accelerator(gpu_type: str) -> object | None:
    """The catalog accelerator for a trace GPU type name, or None if unknown."""
    from suanli.catalog import load_catalog
    from suanli.errors import SuanliError

    cat = load_catalog()
    name = catalog_ids().get(gpu_type, gpu_type)
    if not name:
        return None
    try:
        return cat.accelerator(name)
    except SuanliError:
        return None


@dataclass
class ThroughputTable:
    """(kind, gpu type) -> relative speed; missing entries are 1.0."""

    table: dict[tuple[str, str], float] = field(default_factory=dict)
    reference: str = ""

    def get(self, kind: str, gpu_type: str) -> float:
        return self.table.get((kind, gpu_type), self.table.get(("default", gpu_type), 1.0))

    @classmethod
    def from_catalog(cls, gpu_types: list[str], reference: str,
                     kinds: tuple[str, ...] = ("compute", "default", "memory")) -> ThroughputTable:
        """Roofline blend of catalog peaks (see module docstring); unknown types get 1.0."""
        peaks: dict[str, tuple[float, float]] = {}
        for t in {*gpu_types, reference}:
            acc = catalog_accelerator(t)
            if acc is None:
                continue
            flops = getattr(acc, "bf16_tflops", None) or getattr(acc, "fp16_tflops", None)
            bw = getattr(acc, "memory_bw_gbs", None)
            if flops and bw:
                peaks[t] = (float(flops), float(bw))
        table: dict[tuple[str, str], float] = {}
        if reference in peaks:
            f_ref, b_ref = peaks[reference]
            for kind in kinds:
                c = COMPUTE_SHARE.get(kind, 0.5)
                for t, (f, b) in peaks.items():
                    table[(kind, t)] = 1.0 / (c * f_ref / f + (1 - c) * b_ref / b)
        return cls(table, reference)


def from_perf_model(models: list[str], gpu_types: list[str], reference: str,
                    devices: int = 8, seq_len: int = 2048) -> ThroughputTable:
    """Speeds from the one performance model: for each model (a job kind named by its catalog
    id) and GPU type, the training tokens/s of the planner's best plan on ``devices`` devices of
    that type's default system, relative to ``reference``. Plans that do not fit leave the entry
    out (the job kind then falls back to 1.0 there, and the policy should not place it there)."""
    from suanli.errors import SuanliError
    from suanli.plan.api import best_training_plan

    table: dict[tuple[str, str], float] = {}
    for model in models:
        tps: dict[str, float] = {}
        for t in {*gpu_types, reference}:
            acc = catalog_accelerator(t)
            if acc is None:
                continue
            dtype = "bf16" if getattr(acc, "bf16_tflops", None) else "fp16"  # V100: fp16
            try:
                quote = best_training_plan(model, getattr(acc, "id", t), devices,
                                           tokens=1e12, seq_len=seq_len, dtype=dtype)
            except SuanliError:
                continue
            tps[t] = quote.tokens_per_s
        if reference in tps:
            for t, v in tps.items():
                table[(model, t)] = v / tps[reference]
    return ThroughputTable(table, reference)
