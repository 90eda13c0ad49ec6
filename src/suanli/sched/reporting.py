"""Write a run's (or a comparison's) results next to its resolved config: JSON and charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from suanli.sched.metrics import SimResult

ROW_KEYS = ("policy", "placement", "finished", "jct_avg_h", "jct_p50_h", "jct_p99_h",
            "queue_avg_h", "queue_p99_h", "wait_avg_h", "makespan_d", "util_pct", "frag_pct",
            "cost_usd", "energy_mwh", "carbon_t", "deadline_met_pct", "preemptions",
            "preempt_overhead_gpu_h", "wall_s")


def table_row(s: dict[str, Any]) -> dict[str, Any]:
    """A flat row of the summary in report units (hours, days, %, MWh, tonnes)."""
    return {"policy": s["policy"], "placement": s["placement"], "finished": s["finished"],
            "jct_avg_h": s["jct_s"]["avg"] / 3600, "jct_p50_h": s["jct_s"]["p50"] / 3600,
            "jct_p99_h": s["jct_s"]["p99"] / 3600,
            "queue_avg_h": s["queue_delay_s"]["avg"] / 3600,
            "queue_p99_h": s["queue_delay_s"]["p99"] / 3600,
            "wait_avg_h": s["waiting_s"]["avg"] / 3600,
            "makespan_d": s["makespan_s"] / 86400, "util_pct": 100 * s["utilization_mean"],
            "frag_pct": 100 * s["fragmentation_mean"], "cost_usd": s["cost_usd"],
            "energy_mwh": s["energy_kwh"] / 1000, "carbon_t": s["carbon_kg"] / 1000,
            "deadline_met_pct": 100 * s["deadline_met"],
            "preemptions": s["preemptions"],
            "preempt_overhead_gpu_h": s["preemption_overhead_gpu_h"], "wall_s": s["wall_s"]}


def result_json(r: SimResult) -> dict[str, Any]:
    t, u = r.downsampled_util()
    return {"summary": r.summary, "utilization_curve": {"t_s": t.round(1).tolist(),
                                                        "allocated": u.round(4).tolist()}}


def write_outputs(results: list[SimResult], out: Path, config: dict[str, Any]) -> list[Path]:
    """``result.json``, ``config.json``, JCT/queueing CDFs, utilization over time, bars."""
    from suanli.sched.plots import plot_bars, plot_cdfs, plot_series

    out.mkdir(parents=True, exist_ok=True)
    files = [out / "result.json", out / "config.json"]
    body = {"runs": [result_json(r) for r in results],
            "table": [table_row(r.summary) for r in results]}
    files[0].write_text(json.dumps(body, indent=1, default=_default))
    files[1].write_text(json.dumps(config, indent=2, default=_default))
    label = {id(r): f"{r.summary['policy']}+{r.summary['placement']}" for r in results}
    files += plot_cdfs({label[id(r)]: r.jct for r in results}, out / "jct_cdf",
                       "job completion time (s)", "JCT CDF")
    files += plot_cdfs({label[id(r)]: r.queue_delay + 1.0 for r in results},
                       out / "queue_cdf", "queueing delay + 1 (s)", "Queueing delay CDF")
    files += plot_series({label[id(r)]: (r.downsampled_util()[0] / 86400,
                                         100 * r.downsampled_util()[1]) for r in results},
                         out / "utilization", "time (days)", "GPUs allocated (%)",
                         "Utilization over time")
    files += plot_bars({label[id(r)]: r.summary["jct_s"]["avg"] / 3600 for r in results},
                       out / "jct_avg", "average JCT (h)", "Average JCT")
    return files


def _default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return str(o)
