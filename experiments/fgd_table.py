"""Print the FGD sweep (``result.json`` of ``fgd_openb.py``) as a markdown table.

    .venv/bin/python experiments/fgd_table.py out/fgd_full/result.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ORDER = ("random", "dotprod", "gpupacking", "gpuclustering", "bestfit", "fgd", "fgd-paper",
         "fgd-bf")


def main(path: str) -> None:
    res = json.loads(Path(path).read_text())
    by = {(s["list"], s["placer"]): s for s in res["summary"]}
    lists = list(dict.fromkeys(s["list"] for s in res["summary"]))
    placers = [p for p in ORDER if any(k[1] == p for k in by)]
    print("| pod list | " + " | ".join(placers) + " | best |")
    print("|---" * (len(placers) + 2) + "|")
    wins = 0
    for lst in lists:
        cells, means = [], {}
        for p in placers:
            s = by.get((lst, p))
            if s is None:
                cells.append("")
                continue
            means[p] = s["unallocated_mean"]
            cells.append(f"{s['unallocated_mean']:.2f} ± {s['unallocated_std']:.2f}")
        best = min(means, key=lambda p: means[p])
        wins += best == "fgd-bf"
        cells = [f"**{c}**" if p == best else c for c, p in zip(cells, placers, strict=True)]
        print(f"| {lst} | " + " | ".join(cells) + f" | {best} |")
    n = len({s['seeds'] for s in res['summary']})
    print(f"\nfgd-bf lowest on {wins} of {len(lists)} lists; seeds per cell: "
          f"{sorted({s['seeds'] for s in res['summary']})} ({n} distinct)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/fgd_full/result.json")
