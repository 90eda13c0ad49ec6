"""Achievable efficiency: what fraction of a peak a real kernel reaches. Data, not code.

The parameters live in ``perf/data/efficiency.yaml``, written by ``suanli calibrate``
(``suanli.calib.fit``), which fits them by one documented least-squares procedure on the
published runs. Per accelerator family:

* ``gemm_max``, ``gemm_half``: dense matmul efficiency as a saturating curve of the per-device
  hidden slice ``x = hidden / tp`` (narrow TP shards run smaller, less efficient GEMMs):
  ``eff_gemm(x) = gemm_max * x / (x + gemm_half)``; the time model adds each GEMM's operand
  and output traffic over HBM (``train_terms.gemm_traffic``), which carries the M/N/K and
  precision dependence
* ``attn_eff``: attention-core (QK^T, AV) FLOP efficiency of fused (FlashAttention) kernels,
  not fitted: FlashAttention-2 reaches 50-73% of A100 peak (Dao 2023), FlashAttention-3 75% of
  H100 peak forward (Shah et al. 2024). Unfused attention runs as batched GEMMs over the head
  dimension (``eff_gemm(head_dim)``) and pays its softmax/dropout memory traffic.
* ``elem_bytes``: memory traffic of the element-wise ops (norms, activations, dropout, residual
  adds, bias) per token per layer per hidden unit, forward + backward, in bytes. A property of
  the code, so the fit gives every family the same value (the chip enters through its HBM
  bandwidth).

Global (not fitted; from micro-benchmarks, cited in the yaml): ``comm_eff`` (achieved fraction of
link bandwidth in NCCL collectives), ``mem_eff`` (of HBM bandwidth), ``dp_overlap`` (fraction of
the last micro-batch's backward that hides the data-parallel gradient reduction),
``fsdp_overlap`` and ``tp_overlap``; fitted: ``overlap_slowdown`` (the share of an
overlapped collective's time that still slows the compute under it).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from suanli.errors import CatalogError

EFFICIENCY_FILE = Path(__file__).parent / "data" / "efficiency.yaml"


@dataclass(frozen=True)
class FamilyEfficiency:
    gemm_max: float
    gemm_half: float
    attn_eff: float
    elem_bytes: float

    def gemm(self, x: ArrayLike) -> NDArray[np.float64]:
        """Matmul efficiency (0..1) at per-device hidden slice ``x``."""
        x = np.asarray(x, dtype=np.float64)
        return self.gemm_max * x / (x + self.gemm_half)


@dataclass(frozen=True)
class Efficiency:
    family: FamilyEfficiency
    comm_eff: float
    mem_eff: float
    dp_overlap: float
    fsdp_overlap: float
    tp_overlap: float
    overlap_slowdown: float
    fitted: bool  # False when the family had no data and the default was used


@dataclass(frozen=True)
class EfficiencyTable:
    families: dict[str, FamilyEfficiency]
    default: FamilyEfficiency
    globals: dict[str, float]
    meta: dict[str, object]

    def for_family(self, family: str) -> Efficiency:
        fam = self.families.get(family)
        g = self.globals
        return Efficiency(family=fam or self.default, comm_eff=g["comm_eff"],
                          mem_eff=g["mem_eff"], dp_overlap=g["dp_overlap"],
                          fsdp_overlap=g["fsdp_overlap"], tp_overlap=g["tp_overlap"],
                          overlap_slowdown=g["overlap_slowdown"],
                          fitted=fam is not None)


def _family(raw: object, where: str) -> FamilyEfficiency:
    names = [f.name for f in fields(FamilyEfficiency)]
    if not isinstance(raw, dict) or set(raw) != set(names):
        raise CatalogError(f"expected keys {names}", file=str(EFFICIENCY_FILE), field=where)
    return FamilyEfficiency(**{k: float(raw[k]) for k in names})


def parse_table(doc: dict[str, object]) -> EfficiencyTable:
    fams = doc.get("families") or {}
    if not isinstance(fams, dict):
        raise CatalogError("'families' must be a mapping", file=str(EFFICIENCY_FILE))
    glob = doc.get("globals")
    if not isinstance(glob, dict):
        raise CatalogError("'globals' must be a mapping", file=str(EFFICIENCY_FILE))
    return EfficiencyTable(
        families={k: _family(v, f"families.{k}") for k, v in fams.items()},
        default=_family(doc.get("default"), "default"),
        globals={k: float(v["value"] if isinstance(v, dict) else v) for k, v in glob.items()},
        meta=dict(doc.get("meta") or {}),  # type: ignore[call-overload]
    )


@cache
def load_efficiency(path: Path = EFFICIENCY_FILE) -> EfficiencyTable:
    import yaml

    return parse_table(yaml.safe_load(path.read_text(encoding="utf-8")))
