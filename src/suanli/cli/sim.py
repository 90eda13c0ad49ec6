"""``suanli sim``: trace-driven cluster scheduling simulation.

Commands: ``run`` (one policy), ``compare`` (several, one table and one chart), ``fgd`` (the
FGD paper's openb protocol), ``list`` (policies, placers, pod lists). Heavy imports happen
inside the commands so ``suanli --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Cluster scheduling: simulate policies on real or synthetic traces.",
                  no_args_is_help=True)

TRACE = typer.Option("philly", "--trace", help="philly | openb[:list] | dlrm | synthetic[:jobs] "
                     "| path/to/jobs.csv (a job log, columns in docs/sched.md)")
FORMAT = typer.Option("auto", "--format", help="jobs-csv: read --trace as a job log (submit, "
                      "duration, num_gpu, ...); auto: by name (.csv = jobs-csv)")
SKIP_BAD = typer.Option(False, "--skip-bad", help="drop bad trace rows (listed on stderr) "
                        "instead of stopping with exit 2")
PARAMS = typer.Option(1e8, "--params", help="model parameters of jobs without a params column "
                      "(checkpoint size = 14 B x params, charged on every preemption)")
CKPT_GBPS = typer.Option(1.0, "--ckpt-gbps", help="checkpoint write/read bandwidth per job, GB/s")
RESTART_S = typer.Option(60.0, "--restart-s", help="restart overhead per preemption, s")
CLUSTER = typer.Option(None, "--cluster", help="philly | openb | openb-all | spot | "
                       "groups NODESxGPUS:TYPE@SITE joined by commas, TYPE and SITE optional, "
                       "e.g. 40x8:H800@west,20x8@east-spot (default: the trace's own)")
SCALE = typer.Option(1.0, "--scale", help="scale the philly cluster's node counts")
PLACEMENT = typer.Option("bestfit", "--placement", help="node placer (see `suanli sim list`)")
SEED = typer.Option(0, "--seed")
LOAD = typer.Option(0.7, "--load", help="offered load of synthetic traces: work arriving per "
                   "second over this cluster's capacity (its GPUs at their speed)")
LIMIT = typer.Option(None, "--limit", help="only the first N jobs by submit time")
BACKFILL = typer.Option(True, "--backfill/--no-backfill",
                        help="let later jobs start when the first one does not fit")
SPOT = typer.Option(None, "--spot-trace", help="SkyPilot spot trace JSON driving spot sites")
OUT = typer.Option(None, "--out", help="folder for result.json, config.json and charts")
JSON = typer.Option(False, "--json", help="print one JSON object")


def _progress(enabled: bool) -> tuple[Any, Any]:
    """A rich progress bar on stderr (or nothing) and the callback that feeds it."""
    if not enabled:
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TimeElapsedColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   "{task.completed}/{task.total} jobs", TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    return bar, bar


def _ckpt(params: float, gbps: float, restart_s: float) -> dict[str, float]:
    from suanli.errors import InputError

    for name, v in (("--params", params), ("--ckpt-gbps", gbps)):
        if not (v > 0 and v < float("inf")):
            raise InputError(f"{name} must be a finite number > 0, got {v}")
    if not (0 <= restart_s < float("inf")):
        raise InputError(f"--restart-s must be a finite number >= 0, got {restart_s}")
    return {"default_params": params, "gbps": gbps, "restart_s": restart_s}


def _run_many(policies: list[str], trace: str, cluster: str | None, scale: float,
              placement: str, seed: int, load: float, limit: int | None, backfill: bool,
              spot: str | None, show: bool, fmt: str = "auto", skip_bad: bool = False,
              ckpt: dict[str, float] | None = None) -> tuple[Any, list[Any]]:
    from suanli.sched.scenario import scenario, simulate

    sc = scenario(trace, cluster, scale, seed, load, limit, fmt=fmt, skip_bad=skip_bad)
    bad = sc.config["bad_row_list"]
    for line in bad[:200]:
        typer.echo(f"skipped bad row: {line}", err=True)
    if len(bad) > 200:
        typer.echo(f"... and {len(bad) - 200} more skipped rows (all in config.json with --out)",
                   err=True)
    bar, _ = _progress(show)
    results = []
    if bar is not None:
        bar.start()
    try:
        for pol in policies:
            task = bar.add_task(pol, total=len(sc.workload)) if bar is not None else None

            def tick(done: int, total: int, task: Any = task) -> None:
                if bar is not None:
                    bar.update(task, completed=done)

            results.append(simulate(sc, pol, placement, seed, backfill, spot, tick, ckpt))
    finally:
        if bar is not None:
            bar.stop()
    sc.config.update({"policies": policies, "placement": placement, "backfill": backfill,
                      "spot_trace": spot, "format": fmt, "skip_bad": skip_bad,
                      "checkpoint": ckpt or {}})
    return sc, results


def _print_table(results: list[Any], title: str) -> None:
    from rich.table import Table

    from suanli.cli.common import console
    from suanli.sched.reporting import table_row

    cols = {"policy": "policy", "placement": "placer", "jct_avg_h": "JCT avg h",
            "jct_p50_h": "p50 h", "jct_p99_h": "p99 h", "queue_avg_h": "queue h",
            "util_pct": "util %", "cost_usd": "cost $", "deadline_met_pct": "ddl met %",
            "preemptions": "preempt", "preempt_overhead_gpu_h": "ckpt GPU-h",
            "wall_s": "wall s"}
    t = Table(title=title)
    for k, head in cols.items():
        t.add_column(head, justify="left" if k in ("policy", "placement") else "right")
    for r in results:
        row = table_row(r.summary)
        t.add_row(*[f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k])
                    for k in cols])
    console().print(t)


def _emit(sc: Any, res: list[Any], trace: str, out: Path | None,
          json_obj: dict[str, Any] | None) -> None:
    """Write the run's files (``--out``), then print ``json_obj`` (``--json``) or the table."""
    from suanli.cli.common import print_json
    from suanli.sched.reporting import write_outputs

    files = write_outputs(res, out, sc.config) if out else []
    if json_obj is not None:
        print_json({**json_obj, "files": [str(f) for f in files]})
        return
    _print_table(res, f"{trace} on {sc.config['cluster']} ({sc.config['cluster_gpus']} GPUs)")
    for f in files:
        typer.echo(f"wrote {f}", err=True)


@app.command()
def run(trace: str = TRACE, cluster: str | None = CLUSTER, policy: str = typer.Option(
        "fifo", "--policy", help="queue policy (see `suanli sim list`)"),
        placement: str = PLACEMENT, scale: float = SCALE, seed: int = SEED, load: float = LOAD,
        limit: int | None = LIMIT, backfill: bool = BACKFILL, spot_trace: str | None = SPOT,
        fmt: str = FORMAT, skip_bad: bool = SKIP_BAD, params: float = PARAMS,
        ckpt_gbps: float = CKPT_GBPS, restart_s: float = RESTART_S,
        out: Path | None = OUT, as_json: bool = JSON) -> None:
    """Simulate one policy on a trace; print avg/p50/p99 JCT, queueing, utilization, cost."""
    from suanli.sched.reporting import result_json

    sc, res = _run_many([policy], trace, cluster, scale, placement, seed, load, limit,
                        backfill, spot_trace, not as_json, fmt, skip_bad,
                        _ckpt(params, ckpt_gbps, restart_s))
    _emit(sc, res, trace, out, {**result_json(res[0]), "config": sc.config} if as_json else None)


@app.command()
def compare(trace: str = TRACE, cluster: str | None = CLUSTER, policies: str = typer.Option(
        "fifo,sjf,las", "--policies", help="comma-separated queue policies"),
        placement: str = PLACEMENT, scale: float = SCALE, seed: int = SEED, load: float = LOAD,
        limit: int | None = LIMIT, backfill: bool = BACKFILL, spot_trace: str | None = SPOT,
        fmt: str = FORMAT, skip_bad: bool = SKIP_BAD, params: float = PARAMS,
        ckpt_gbps: float = CKPT_GBPS, restart_s: float = RESTART_S,
        out: Path | None = OUT, as_json: bool = JSON) -> None:
    """Several policies on the same trace and cluster: one table, one set of charts."""
    from suanli.sched.reporting import table_row

    names = [p.strip() for p in policies.split(",") if p.strip()]
    sc, res = _run_many(names, trace, cluster, scale, placement, seed, load, limit, backfill,
                        spot_trace, not as_json, fmt, skip_bad,
                        _ckpt(params, ckpt_gbps, restart_s))
    _emit(sc, res, trace, out, {"config": sc.config,
                                "table": [table_row(r.summary) for r in res]} if as_json else None)


@app.command()
def fgd(lists: str = typer.Option("default", "--lists", help="pod lists, comma-separated, "
                                  "or 'all'"),
        placers: str = typer.Option("random,bestfit,fgd,fgd-pack", "--placers"),
        seeds: str = typer.Option("42-51", "--seeds", help="a-b or comma list"),
        workers: int = typer.Option(1, "--workers", min=1),
        out: Path | None = OUT, as_json: bool = JSON) -> None:
    """The FGD paper's openb protocol: unallocated GPU % at 100% arrived, per placer."""
    from suanli.cli.common import print_json
    from suanli.errors import InputError
    from suanli.sched.experiments import fgd_sweep, save
    from suanli.sched.traces.openb import POD_LISTS

    try:
        seed_list = (list(range(int(seeds.split("-")[0]), int(seeds.split("-")[1]) + 1))
                     if "-" in seeds else [int(s) for s in seeds.split(",")])
    except ValueError:
        raise InputError(f"--seeds must be a-b or a comma list of integers, got '{seeds}'"
                         ) from None
    names = list(POD_LISTS) if lists == "all" else lists.split(",")
    bad = [n for n in names if n not in POD_LISTS]
    if bad:
        raise InputError(f"unknown pod list(s) {bad}; choose from {', '.join(POD_LISTS)}")
    res = fgd_sweep(names, placers.split(","), seed_list, workers=workers)
    files = save(res, out, {"lists": names, "placers": placers.split(","),
                            "seeds": seed_list, **res["protocol"]}) if out else []
    if as_json:
        print_json({"summary": [{k: v for k, v in s.items() if k != "mean_curve"}
                                for s in res["summary"]], "files": [str(f) for f in files]})
        return
    from rich.table import Table

    from suanli.cli.common import console

    t = Table(title="openb: unallocated GPU % at 100% arrived (mean +- std over seeds)")
    for c in ("list", "placer", "unallocated %", "seeds", "paper"):
        t.add_column(c)
    for s in sorted(res["summary"], key=lambda s: (s["list"], s["unallocated_mean"])):
        paper = res["paper_default"].get(s["placer"]) if s["list"] == "default" else None
        t.add_row(s["list"], s["placer"],
                  f"{s['unallocated_mean']:.2f} +- {s['unallocated_std']:.2f}",
                  str(s["seeds"]), "" if paper is None else f"{paper}")
    console().print(t)


@app.command("list")
def list_names() -> None:
    """Queue policies, node placers and openb pod lists."""
    from suanli.sched.placement import PLACERS
    from suanli.sched.policies import POLICIES
    from suanli.sched.traces.openb import POD_LISTS

    typer.echo("policies:  " + ", ".join(POLICIES))
    typer.echo("placers:   " + ", ".join(PLACERS))
    typer.echo("pod lists: " + ", ".join(POD_LISTS))
