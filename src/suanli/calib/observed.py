"""Learn from observed runs: a correction per group (site + hardware + software stack), fitted
from what Suanli's own jobs measured (``--from-runs``) or what users' training logs report
(``--from-log``). Data, not code: the result is a YAML profile.

Procedure (one, written down):

1. Each observation ``i`` has a group ``g(i)``, the model's prediction ``p_i`` and the
   measurement ``y_i`` (seconds per step, or per output token).
2. Per group, the correction is the time scale ``s_g = exp(mean_i log(y_i / p_i))``: the
   least-squares fit of ``log y = log s + log p`` (errors are multiplicative; one slow outlier
   cannot flip the sign). A corrected prediction is ``s_g * p``.
   With three or more observations the group may also get a fixed time per step ``c_g >= 0``
   (a corrected prediction is ``s_g * p + c_g``): a step is rate-bound work plus the
   framework's per-step overhead, and a profile that misstates the rates *and* omits the
   overhead (a datasheet's, say) is off by both. ``(s_g, c_g)`` is the least-squares fit of
   the relative error, ``sum_i ((s p_i + c) / y_i - 1)^2`` (linear in ``s, c``: two normal
   equations); it is kept only if ``c_g >= 0`` and it lowers the squared log error of step 2's
   scale, so the fit never does worse than the scale alone.
3. Errors are reported before (``p / y - 1``) and after (``s_g p / y - 1``) in-sample, and
   leave-one-out (``s_g`` refitted without ``i``); a group with one observation has no
   leave-one-out figure.
4. The profile records the date, the procedure, the rows that set each scale and the errors.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suanli.errors import InputError

__all__ = ["Correction", "FitReport", "Observation", "fit_corrections", "load_corrections",
           "write_corrections"]


@dataclass(frozen=True)
class Observation:
    id: str
    group: str  # e.g. "site-a/AMD EPYC/torch 2.13.0+cpu/train"
    predicted_s: float
    measured_s: float


@dataclass(frozen=True)
class Correction:
    group: str
    time_scale: float
    rows: tuple[str, ...]
    offset_s: float = 0.0  # fixed seconds per step the prediction lacked

    def apply(self, predicted_s: float) -> float:
        return self.time_scale * predicted_s + self.offset_s


@dataclass(frozen=True)
class FitReport:
    corrections: dict[str, Correction]
    before: dict[str, float]  # id -> relative error
    after: dict[str, float]
    loo: dict[str, float]

    def summary(self) -> dict[str, float]:
        def med(d: dict[str, float]) -> float:
            return statistics.median(abs(v) for v in d.values()) if d else float("nan")

        return {"median_abs_before": med(self.before), "median_abs_after": med(self.after),
                "median_abs_loo": med(self.loo)}


def _scale(obs: list[Observation]) -> float:
    return math.exp(statistics.fmean(math.log(o.measured_s / o.predicted_s) for o in obs))


def _fit(obs: list[Observation]) -> tuple[float, float]:
    """(scale, offset s) for one group (procedure step 2)."""
    scale = _scale(obs)
    if len(obs) < 3:
        return scale, 0.0
    # minimise sum (s a_i + c b_i - 1)^2 with a_i = p_i / y_i, b_i = 1 / y_i
    a = [o.predicted_s / o.measured_s for o in obs]
    b = [1.0 / o.measured_s for o in obs]
    saa, sab, sbb = (sum(x * y for x, y in zip(u, v, strict=True))
                     for u, v in ((a, a), (a, b), (b, b)))
    det = saa * sbb - sab * sab
    if det <= 1e-12 * saa * sbb:  # all steps alike: nothing tells a rate from an overhead
        return scale, 0.0
    s, c = (sum(a) * sbb - sum(b) * sab) / det, (sum(b) * saa - sum(a) * sab) / det

    def log_sq(s_: float, c_: float) -> float:
        return sum(math.log((s_ * o.predicted_s + c_) / o.measured_s) ** 2 for o in obs)

    if s > 0 and c >= 0 and log_sq(s, c) < log_sq(scale, 0.0):
        return s, c
    return scale, 0.0


def fit_corrections(observations: list[Observation]) -> FitReport:
    """Fit one time scale per group (see the module docstring)."""
    bad = [o.id for o in observations if not (o.predicted_s > 0 and o.measured_s > 0
                                              and math.isfinite(o.predicted_s)
                                              and math.isfinite(o.measured_s))]
    if bad:
        raise InputError(f"observations without a positive, finite prediction and measurement: "
                         f"{', '.join(bad[:5])}")
    if not observations:
        raise InputError("no observations to fit: run some jobs (or give logs) first")
    groups: dict[str, list[Observation]] = {}
    for o in observations:
        groups.setdefault(o.group, []).append(o)
    corr = {}
    for g, obs in groups.items():
        scale, offset = _fit(obs)
        corr[g] = Correction(g, scale, tuple(o.id for o in obs), offset)
    before = {o.id: o.predicted_s / o.measured_s - 1 for o in observations}
    after = {o.id: corr[o.group].apply(o.predicted_s) / o.measured_s - 1 for o in observations}
    loo = {}
    for obs in groups.values():
        if len(obs) < 2:
            continue
        for o in obs:
            s, c = _fit([x for x in obs if x is not o])
            loo[o.id] = (s * o.predicted_s + c) / o.measured_s - 1
    return FitReport(corr, before, after, loo)


def write_corrections(report: FitReport, path: Path, source: str) -> None:
    import yaml

    doc: dict[str, Any] = {
        "kind": "suanli-corrections",
        "fitted": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "procedure": "suanli.calib.observed: per-group time scale = geometric mean of "
                     "measured / predicted, or scale + offset per step (least squares of the "
                     "relative error) where that fits better",
        "source": source,
        "summary": {k: round(v, 4) for k, v in report.summary().items() if math.isfinite(v)},
        "groups": {g: {"time_scale": round(c.time_scale, 6),
                       "offset_s": float(f"{c.offset_s:.6g}"), "rows": list(c.rows)}
                   for g, c in report.corrections.items()},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def load_corrections(path: Path) -> dict[str, Correction]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        groups = doc["groups"]
        return {g: Correction(g, float(v["time_scale"]), tuple(v.get("rows", ())),
                              float(v.get("offset_s", 0.0))) for g, v in groups.items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: not a corrections profile written by `suanli calibrate "
                         f"--from-runs/--from-log --write` ({exc})") from None
