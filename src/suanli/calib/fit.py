"""Fit the efficiency parameters to the published runs: one procedure, written down.

Procedure (``suanli calibrate``):

1. Take the rows of set ``full`` in ``training-cases.yaml`` (sources that state the whole
   parallel configuration) and that are not excluded.
2. For each accelerator family with rows, the free parameters are ``gemm_max`` and
   ``gemm_half`` (see ``suanli.perf.efficiency``). ``elem_bytes`` (bytes the element-wise kernels
   move per token, layer and hidden unit: a property of the code, the chip enters through its
   HBM bandwidth) and ``overlap_slowdown`` are one value for all families. A per-family
   ``elem_bytes`` let three H100 rows of one stack set it alone (it went to 0 when the MPT rows
   were left out, 110 with them). Everything else (fused-attention efficiency, link
   efficiency, HBM efficiency, overlap fractions) is fixed from kernel and micro-benchmark
   literature, cited in the yaml.
3. Minimize ``sum_i rho(log(pred_i / published_i))`` with scipy's trust-region least squares,
   ``rho`` = soft-L1 with scale 0.1 (robust: one odd row cannot drag a family), bounds keep every
   parameter physical (efficiencies in (0, 1)). Each prediction runs the planner over the plan
   fields the source leaves open, as in validation.
4. Families without rows get the mean of the fitted families (marked ``fitted: false``).
5. Leave-one-publication-out (LOPO, the headline out-of-sample error): for each publication,
   drop all its rows (rows of one paper share a cluster, a code base and authors' choices, so
   dropping one row at a time leaks), refit on the rest, predict the dropped rows. A family
   left without rows is predicted with the mean of the others, as a new family would be.

The result is written to ``suanli/perf/data/efficiency.yaml`` with the date, the rows used,
which rows determine each family's parameters, and the in-sample and LOPO errors per row and
per publication. Adding a row and refitting is one command: ``suanli calibrate --write``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from suanli.calib.published import Case, load_cases, predict
from suanli.catalog import load_catalog
from suanli.perf.efficiency import (
    EFFICIENCY_FILE,
    EfficiencyTable,
    FamilyEfficiency,
    load_efficiency,
)

FAMILY_PARAMS = (("gemm_max", 0.2, 0.95), ("gemm_half", 16.0, 4000.0))
# one value for every family: a property of the code, not of the chip (a FamilyEfficiency field
# named here is set on every family), or a global of the efficiency table
GLOBAL_PARAMS: tuple[tuple[str, float, float], ...] = (("elem_bytes", 0.0, 400.0),
                                                       ("overlap_slowdown", 0.0, 1.0))
SHARED_FIELDS = {f for f in ("gemm_max", "gemm_half", "attn_eff", "elem_bytes")}


@dataclass(frozen=True)
class FitResult:
    table: EfficiencyTable
    cases: list[Case]
    in_sample: dict[str, float]  # case id -> relative error
    loo: dict[str, float]  # case id -> leave-one-publication-out relative error (if run)

    def rows_by_family(self) -> dict[str, list[str]]:
        """Which rows determine each family's fitted parameters."""
        out: dict[str, list[str]] = {}
        for c in self.cases:
            out.setdefault(_family_of(c), []).append(c.id)
        return out

    def parameters_and_rows(self) -> dict[str, dict[str, Any]]:
        """Every fitted number with its value and the rows that set it: a family's
        ``gemm_max``/``gemm_half`` by that family's rows, the shared ones by all rows."""
        out: dict[str, dict[str, Any]] = {}
        by_fam = self.rows_by_family()
        for fam, rows in by_fam.items():
            for name, _, _ in FAMILY_PARAMS:
                out[f"{fam}.{name}"] = {"value": round(getattr(self.table.families[fam], name),
                                                       4), "rows": ", ".join(rows)}
        every = [c.id for c in self.cases]
        for name, _, _ in GLOBAL_PARAMS:
            value = (getattr(next(iter(self.table.families.values())), name)
                     if name in SHARED_FIELDS else self.table.globals[name])
            out[name] = {"value": round(float(value), 4), "rows": f"all {len(every)} rows"}
        return out

    def lopo_by_publication(self) -> dict[str, dict[str, float]]:
        """Per publication: rows, median and max |LOPO error|."""
        pubs: dict[str, list[float]] = {}
        for c in self.cases:
            if c.id in self.loo:
                pubs.setdefault(c.publication, []).append(abs(self.loo[c.id]))
        return {p: {"rows": len(v), "median_abs_error": round(float(np.median(v)), 4),
                    "max_abs_error": round(float(max(v)), 4)} for p, v in pubs.items()}


def _family_of(case: Case) -> str:
    cat = load_catalog()
    return cat.accelerator(cat.system(case.system or "dgx-a100-80gb").accelerator).family


def _table_from(x: np.ndarray, families: list[str], base: EfficiencyTable) -> EfficiencyTable:
    fams = {}
    k = 0
    for fam in families:
        vals = {name: float(x[k + i]) for i, (name, _, _) in enumerate(FAMILY_PARAMS)}
        fixed = base.families.get(fam, base.default)
        fams[fam] = FamilyEfficiency(**{**vars(fixed), **vals})
        k += len(FAMILY_PARAMS)
    glob = dict(base.globals)
    for name, _, _ in GLOBAL_PARAMS:
        if name in SHARED_FIELDS:
            fams = {f: replace(e, **{name: float(x[k])}) for f, e in fams.items()}
        else:
            glob[name] = float(x[k])
        k += 1
    mean = {name: float(np.mean([getattr(f, name) for f in fams.values()]))
            for name in vars(base.default)}
    return replace(base, families=fams, default=FamilyEfficiency(**mean), globals=glob)


def _errors(table: EfficiencyTable, cases: list[Case]) -> dict[str, float]:
    cat = load_catalog()
    out = {}
    for case in cases:
        r = predict(case, table.for_family(_family_of(case)), cat)
        out[case.id] = r.error if r.error is not None else 1.0  # infeasible: a large miss
    return out


def _solve(cases: list[Case], families: list[str], base: EfficiencyTable,
           x0: np.ndarray) -> np.ndarray:
    from scipy.optimize import least_squares

    bounds = ([lo for _ in families for _, lo, _ in FAMILY_PARAMS]
              + [lo for _, lo, _ in GLOBAL_PARAMS],
              [hi for _ in families for _, _, hi in FAMILY_PARAMS]
              + [hi for _, _, hi in GLOBAL_PARAMS])

    def residuals(x: np.ndarray) -> np.ndarray:
        errs = _errors(_table_from(x, families, base), cases)
        return np.log1p(np.clip(np.array(list(errs.values())), -0.95, None))

    sol = least_squares(residuals, np.clip(x0, bounds[0], bounds[1]), bounds=bounds,
                        loss="soft_l1", f_scale=0.1, diff_step=0.02, max_nfev=400)
    return np.asarray(sol.x)


def held_cases() -> list[Case]:
    """The rows the fit uses: full parallel config stated, not excluded."""
    return [c for c in load_cases() if c.set == "full" and not c.exclude]


def _fit_table(cases: list[Case], base: EfficiencyTable) -> EfficiencyTable:
    families = sorted({_family_of(c) for c in cases})
    x0: list[float] = []
    for fam in families:
        start = base.families.get(fam, base.default)
        x0 += [getattr(start, name) for name, _, _ in FAMILY_PARAMS]
    x0 += [getattr(base.default, name) if name in SHARED_FIELDS else base.globals[name]
           for name, _, _ in GLOBAL_PARAMS]
    x = _solve(cases, families, base, np.asarray(x0, dtype=float))
    return _table_from(x, families, base)


def fit(loo: bool = False) -> FitResult:
    """Fit on every held row; with ``loo``, also the leave-one-publication-out errors."""
    base = load_efficiency()
    cases = held_cases()
    table = _fit_table(cases, base)
    in_sample = _errors(table, cases)
    lopo = lopo_errors(cases) if loo else {}
    return FitResult(table, cases, in_sample, lopo)


def lopo_errors(cases: list[Case], publications: list[str] | None = None) -> dict[str, float]:
    """For each publication (all, or those named): refit without its rows, predict them."""
    base = load_efficiency()
    out: dict[str, float] = {}
    for pub in publications or sorted({c.publication for c in cases}):
        rest = [c for c in cases if c.publication != pub]
        dropped = [c for c in cases if c.publication == pub]
        out.update(_errors(_fit_table(rest, base), dropped))
    return out


def _stats(errs: dict[str, float]) -> dict[str, float]:
    a = np.abs(np.array(list(errs.values())))
    return {"median_abs_error": round(float(np.median(a)), 4),
            "max_abs_error": round(float(a.max()), 4)} if len(a) else {}


def write_table(result: FitResult, path: Path = EFFICIENCY_FILE) -> None:
    """Write the fitted table as YAML, keeping the cited globals and recording the fit
    (rows used, rows per family, in-sample and leave-one-publication-out errors)."""
    import yaml

    old = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc: dict[str, Any] = {
        "meta": {
            "procedure": "suanli.calib.fit (run `suanli calibrate`); see its docstring",
            "date": dt.date.today().isoformat(),
            "rows": [c.id for c in result.cases],
            "rows_by_family": result.rows_by_family(),
            "fitted_parameters": result.parameters_and_rows(),
            "in_sample": _stats(result.in_sample),
            "leave_one_publication_out": _stats(result.loo),
            "lopo_by_publication": result.lopo_by_publication(),
            "errors": {c.id: {"in_sample": round(result.in_sample[c.id], 4),
                              "lopo": round(result.loo[c.id], 4) if c.id in result.loo
                              else None} for c in result.cases},
        },
        "globals": dict(old["globals"]),
        "default": {k: round(v, 4) for k, v in vars(result.table.default).items()},
        "families": {f: {k: round(v, 4) for k, v in vars(e).items()}
                     for f, e in result.table.families.items()},
    }
    for name, _, _ in GLOBAL_PARAMS:
        if name in SHARED_FIELDS:  # written on every family (and the default), same value
            continue
        doc["globals"][name] = {"value": round(result.table.globals[name], 4),
                                "source": "fitted (suanli.calib.fit)"}
    header = ("# Efficiency parameters. Written by `suanli calibrate` (suanli/calib/fit.py):\n"
              "# fitted on the published runs listed under meta.rows. Do not edit by hand.\n")
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=100), encoding="utf-8")
    load_efficiency.cache_clear()
