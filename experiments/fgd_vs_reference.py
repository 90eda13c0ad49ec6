"""Suanli vs the FGD artifact's published per-seed results, with 95% intervals.

    .venv/bin/python experiments/fgd_vs_reference.py out/fgd_default/result.json \
        out/fgd_lists/result.json [--markdown]

Reads the ``runs`` of one or more ``experiments/fgd_openb.py`` results and prints, per pod list
and placer with a reference, the means, their 95% intervals and the Welch interval of the
difference (see :mod:`suanli.sched.reference`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from suanli.sched.reference import compare, load_reference, table_markdown


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args(argv)
    runs = [r for p in a.results for r in json.loads(p.read_text())["runs"]]
    rows = compare(runs, load_reference())
    if a.markdown:
        print(table_markdown(rows))
        return 0
    for r in rows:
        print(f"{r['list']:12s} {r['placer']:14s} vs {r['reference']:14s} "
              f"ref {r['ref_mean']:6.2f} ± {r['ref_ci95']:.2f}  ours {r['mean']:6.2f} ± "
              f"{r['ci95']:.2f}  diff {r['diff']:+.2f} ± {r['diff_ci95']:.2f}  {r['verdict']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
