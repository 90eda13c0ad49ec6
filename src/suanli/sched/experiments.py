"""Reproduction runs: the FGD openb protocol over pod lists x placers x seeds.

Results are plain dicts (JSON-ready): per (list, placer) the unallocated GPU % at 100% arrived
for every seed, its mean and standard deviation, and the mean allocation curve on a 0..130%
grid. Runs are independent, so they spread over processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

GRID = np.arange(0, 131, 1.0)  # arrived GPU request, % of capacity
PAPER_DEFAULT = {"random": 13.7, "bestfit": 7.1, "fgd": 4.8}  # Weng et al. ATC'23, default list


def _one(args: tuple[str, str, int, str, float]) -> dict[str, Any]:
    pod_list, placer_name, seed, node_file, tune = args
    from suanli.sched.inflation import run_inflation
    from suanli.sched.placement import make_placer
    from suanli.sched.traces.openb import load_openb_nodes, load_openb_pods

    cluster = load_openb_nodes(node_file)
    pods = load_openb_pods(pod_list)
    placer = make_placer(placer_name, pods)
    t0 = time.perf_counter()
    r = run_inflation(cluster, pods, placer, seed, tune=tune)
    return {"list": pod_list, "placer": placer_name, "seed": seed,
            "unallocated_100": r.unallocated_at(100.0), "failed": r.failed, "pods": r.pods,
            "curve": r.curve(GRID).round(3).tolist(), "seconds": time.perf_counter() - t0}


def fgd_sweep(lists: Iterable[str], placers: Iterable[str], seeds: Iterable[int],
              node_file: str = "openb_node_list_gpu_node.csv", tune: float = 1.3,
              workers: int = 1, progress: Callable[[dict[str, Any]], None] | None = None
              ) -> dict[str, Any]:
    """Run every (list, placer, seed); aggregate per (list, placer)."""
    jobs = [(pl, p, s, node_file, tune) for pl in lists for p in placers for s in seeds]
    runs: list[dict[str, Any]] = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for r in pool.map(_one, jobs):
                runs.append(r)
                if progress:
                    progress(r)
    else:
        for j in jobs:
            runs.append(_one(j))
            if progress:
                progress(runs[-1])
    return {"protocol": {"node_file": node_file, "tune": tune, "grid": GRID.tolist(),
                         "metric": "unallocated GPU % of capacity at 100% arrived"},
            "paper_default": PAPER_DEFAULT, "summary": summarize(runs), "runs": runs}


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and spread over seeds per (list, placer)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["list"], r["placer"]), []).append(r)
    out = []
    for (lst, placer), rs in groups.items():
        u = np.array([r["unallocated_100"] for r in rs])
        out.append({"list": lst, "placer": placer, "seeds": len(rs),
                    "unallocated_mean": float(u.mean()), "unallocated_std": float(u.std()),
                    "unallocated_min": float(u.min()), "unallocated_max": float(u.max()),
                    "mean_curve": np.mean([r["curve"] for r in rs], axis=0).round(3).tolist(),
                    "seconds_per_run": float(np.mean([r["seconds"] for r in rs]))})
    return out


def save(result: dict[str, Any], out_dir: Path, config: dict[str, Any]) -> list[Path]:
    """Write ``result.json``, the resolved ``config.json`` and the charts into ``out_dir``."""
    from suanli.sched.plots import plot_fgd_curves

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "result.json").write_text(json.dumps(result, indent=1))
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))
    return plot_fgd_curves(result["summary"], out_dir)
