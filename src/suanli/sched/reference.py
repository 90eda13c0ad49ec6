"""Compare FGD-protocol runs with the reference artifact's per-seed results.

The reference (``data/fgd_reference.csv``) holds the FGD artifact's unallocated GPU % at 100%
arrived per (pod list, policy, seed), transcribed from its published expected results. For each
(list, policy) we report the mean and a 95% confidence interval over seeds (Student t), and for
Suanli vs reference the difference of means with Welch's 95% interval:

    d = mean_s - mean_r,   se = sqrt(var_s / n_s + var_r / n_r),
    df = se^4 / ((var_s / n_s)^2 / (n_s - 1) + (var_r / n_r)^2 / (n_r - 1)),
    CI = d +- t_{0.975, df} se.

A difference is "beyond seed noise" when its interval excludes 0.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = Path(__file__).parent / "data" / "fgd_reference.csv"


def load_reference(path: Path = REFERENCE) -> dict[tuple[str, str], list[float]]:
    """(list, policy) -> unallocated % per seed (ordered by seed)."""
    out: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    with path.open(encoding="utf-8") as fh:
        for r in csv.DictReader(line for line in fh if not line.startswith("#")):
            out[(r["list"], r["policy"])].append((int(r["seed"]), float(r["unallocated_pct"])))
    return {k: [u for _, u in sorted(v)] for k, v in out.items()}


def _t975(df: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def mean_ci(x: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% interval (Student t, n - 1 dof)."""
    a = np.asarray(x, dtype=float)
    if len(a) < 2:
        return float(a.mean()), float("nan")
    return float(a.mean()), _t975(len(a) - 1) * float(a.std(ddof=1)) / math.sqrt(len(a))


def welch(x: list[float], y: list[float]) -> tuple[float, float]:
    """Difference of means mean(x) - mean(y) and its 95% half-width (Welch)."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return float(a.mean() - b.mean()), 0.0
    df = se**4 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(a.mean() - b.mean()), _t975(df) * se


def compare(runs: list[dict[str, Any]], reference: dict[tuple[str, str], list[float]],
            against: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per (list, Suanli placer) that has a reference to compare with.

    ``against`` maps a Suanli placer to the reference policy it is compared with (default:
    the same name; ``fgd-pack``/``fgd-bf`` -> the reference ``fgd``).
    """
    pairs = {"fgd-pack": "fgd", "fgd-bf": "fgd", "fgd-paper": "fgd", **(against or {})}
    ours: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in sorted(runs, key=lambda r: r["seed"]):
        ours[(r["list"], r["placer"])].append(float(r["unallocated_100"]))
    rows = []
    for (lst, placer), u in sorted(ours.items()):
        ref = reference.get((lst, pairs.get(placer, placer)))
        if not ref or len(u) < 2:
            continue
        m, h = mean_ci(u)
        rm, rh = mean_ci(ref)
        d, dh = welch(u, ref)
        rows.append({"list": lst, "placer": placer, "reference": pairs.get(placer, placer),
                     "seeds": len(u), "ref_seeds": len(ref), "mean": m, "ci95": h,
                     "ref_mean": rm, "ref_ci95": rh, "diff": d, "diff_ci95": dh,
                     "verdict": ("lower" if d + dh < 0 else "higher" if d - dh > 0
                                 else "tie")})
    return rows


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """The comparison as a Markdown table (unallocated GPU % at 100% arrived)."""
    lines = ["| list | Suanli placer | vs reference | reference mean ± 95% CI | Suanli mean ± "
             "95% CI | difference ± 95% CI (Welch) | beyond seed noise? |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        verdict = {"lower": "yes, lower", "higher": "yes, higher", "tie": "no"}[r["verdict"]]
        lines.append(f"| {r['list']} | {r['placer']} | {r['reference']} | "
                     f"{r['ref_mean']:.2f} ± {r['ref_ci95']:.2f} | {r['mean']:.2f} ± "
                     f"{r['ci95']:.2f} | {r['diff']:+.2f} ± {r['diff_ci95']:.2f} | {verdict} |")
    return "\n".join(lines)
