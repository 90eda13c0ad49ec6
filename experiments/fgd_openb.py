"""Reproduce the FGD paper's openb experiment (Weng et al., ATC'23) and compare our placer.

    .venv/bin/python experiments/fgd_openb.py --out runs/fgd --workers 2

Writes result.json, config.json and charts into --out; prints a table (mean +- std over seeds of
the unallocated GPU % at 100% arrived). Same as ``suanli sim fgd``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from suanli.sched.experiments import fgd_sweep, save
from suanli.sched.placement import PLACERS
from suanli.sched.traces.openb import POD_LISTS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lists", default=",".join(POD_LISTS))
    ap.add_argument("--placers", default=",".join(PLACERS))
    ap.add_argument("--seeds", default="42-51", help="range a-b or comma list")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/fgd"))
    a = ap.parse_args(argv)
    if "-" in a.seeds:
        lo, hi = (int(x) for x in a.seeds.split("-"))
        seeds = list(range(lo, hi + 1))
    else:
        seeds = [int(x) for x in a.seeds.split(",")]
    lists, placers = a.lists.split(","), a.placers.split(",")
    total = len(lists) * len(placers) * len(seeds)
    done = [0]
    t0 = time.time()

    def tick(r: dict) -> None:
        done[0] += 1
        sys.stderr.write(f"\r{done[0]}/{total} {r['list']} {r['placer']} {r['seed']}: "
                         f"{r['unallocated_100']:.2f}%  ({time.time() - t0:.0f}s)   ")

    res = fgd_sweep(lists, placers, seeds, workers=a.workers, progress=tick)
    sys.stderr.write("\n")
    files = save(res, a.out, {"lists": lists, "placers": placers, "seeds": seeds,
                              **res["protocol"]})
    for s in sorted(res["summary"], key=lambda s: (s["list"], s["unallocated_mean"])):
        print(f"{s['list']:12s} {s['placer']:14s} {s['unallocated_mean']:6.2f} "
              f"+- {s['unallocated_std']:.2f}  (n={s['seeds']})")
    print("wrote", *files, sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
