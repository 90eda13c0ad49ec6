"""Top-level commands: ``validate``, ``calibrate``, ``figures`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("calibrate")(calibrate)
    app.command("figures")(figures)
    app.command("demo")(demo)


def validate(
    sets: Annotated[str, typer.Option(help="comma list of: full, budget, flops")]
    = "full,budget,flops",
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    lopo: Annotated[bool, typer.Option(
        "--lopo/--stored-lopo", help="recompute the leave-one-publication-out errors now "
        "(refits once per publication, ~1 min) instead of reading those `suanli calibrate "
        "--write` stored")] = False,
) -> None:
    """Predict the published training runs and print predicted vs published, with the error
    in sample and leave-one-publication-out (refit without the row's publication)."""
    from suanli.calib.published import validate as run
    from suanli.cli.common import print_json
    from suanli.errors import InputError

    chosen = tuple(s.strip() for s in sets.split(",") if s.strip())
    bad = [s for s in chosen if s not in ("full", "budget", "flops")]
    if bad or not chosen:
        raise InputError(f"--sets takes full, budget and/or flops, got '{sets}'")
    results = run(chosen)
    out_errs, by_pub = _lopo(lopo) if "full" in chosen else ({}, {})
    if json_out:
        print_json({"rows": [{
            "id": r.case.id, "set": r.case.set, "model": r.case.model, "metric": r.case.metric,
            "published": r.case.published, "predicted": r.predicted, "error": r.error,
            "lopo_error": out_errs.get(r.case.id), "publication": r.case.publication,
            "stack": r.case.stack, "plan": r.plan, "quality": r.case.quality,
            "excluded": r.case.exclude, "assumptions": r.case.assume, "note": r.note,
            "source": r.case.source}
            for r in results], "lopo_by_publication": by_pub})
        return
    from suanli.report.training import print_validation

    print_validation(results, lopo=out_errs, by_publication=by_pub)


def _lopo(recompute: bool) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Leave-one-publication-out errors: recomputed, or as stored by the last calibration
    (refused when the stored fit used other rows than the current data)."""
    from suanli.calib.fit import fit, held_cases
    from suanli.errors import InputError
    from suanli.perf.efficiency import load_efficiency

    if recompute:
        res = fit(loo=True)
        return res.loo, res.lopo_by_publication()
    meta = load_efficiency().meta
    held = sorted(c.id for c in held_cases())
    if sorted(meta.get("rows") or []) != held:  # type: ignore[call-overload]
        raise InputError("the stored fit predates the current validation rows; run "
                         "`suanli calibrate --write` (or `suanli validate --lopo`)")
    errs = meta.get("errors")
    stored = {str(k): float(v["lopo"]) for k, v in (errs if isinstance(errs, dict) else {})
              .items() if isinstance(v, dict) and v.get("lopo") is not None}
    return stored, dict(meta.get("lopo_by_publication") or {})  # type: ignore[call-overload]


def calibrate(
    loo: Annotated[bool, typer.Option(
        "--lopo/--no-lopo", help="also refit once per publication without its rows "
        "(leave-one-publication-out; ~1 min; always on with --write)")] = False,
    write: Annotated[bool, typer.Option("--write/--dry-run",
                                        help="write perf/data/efficiency.yaml")] = False,
    from_runs: Annotated[Path | None, typer.Option(
        help="measured result records (JSON lines, or a folder of *.json) of Suanli's own "
             "jobs: fit a time correction per site/hardware/stack")] = None,
    from_log: Annotated[Path | None, typer.Option(
        help="a YAML list of your training runs (log file + model, hardware, layout); logs "
             "of Megatron-LM, DeepSpeed, torchtitan or the HF Trainer")] = None,
    profile: Annotated[Path | None, typer.Option(
        help="with --from-runs: recompute predictions from this `suanli bench` profile")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="with --from-runs/--from-log: write the fitted corrections (YAML)")]
    = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Refit the efficiency parameters to the published runs (see suanli.calib.fit), or, with
    --from-runs / --from-log, fit corrections from measured runs (suanli.calib.observed).

    Adding a row: put it in calib/data/published-runs-extra.csv (with its source), say how to
    read it in calib/data/training-cases.yaml, then run `suanli calibrate --write`."""
    if from_runs is not None or from_log is not None:
        from suanli.cli.calibrate_observed import run

        run(from_runs, from_log, profile, out, json_out)
        return
    from suanli.calib.fit import fit, write_table
    from suanli.cli.common import console as _console

    con = _console()
    with con.status("fitting efficiency parameters to the published runs..."):
        res = fit(loo=loo or write)
    by_family = res.rows_by_family()
    for fam, e in res.table.families.items():
        con.print(f"{fam}: {e}  (rows: {', '.join(by_family.get(fam, []))})")
    con.print(f"overlap_slowdown: {res.table.globals['overlap_slowdown']:.3f} (all rows)")
    for cid, err in res.in_sample.items():
        extra = f"  leave-one-publication-out {res.loo[cid]:+.1%}" if cid in res.loo else ""
        con.print(f"  {cid}: in-sample {err:+.1%}{extra}")
    if write:
        write_table(res)
        con.print("[green]wrote suanli/perf/data/efficiency.yaml[/]")


def figures(
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    csv: Annotated[str | None, typer.Option("--csv", help="write every table as CSV rows with "
                                                          "a 'table' column (- for stdout)")]
    = None,
) -> None:
    """The field's headline figures, recomputed by Suanli's model."""
    from suanli.cli.common import print_json
    from suanli.report import figures as f

    data = {"run_flops": f.run_flops(), "gpt3_on_a100": f.gpt3_on_a100(),
            "llama65b": f.llama65b_hours(), "rental": f.rental_scaling(),
            "compute_optimal": f.compute_optimal_cost(),
            "units": [{"unit": n, "flop": v} for n, v in f.COMPUTE_UNITS]}
    if csv:
        from suanli.report.export import write_csv

        rows: list[dict[str, Any]] = []
        for name, value in data.items():
            items: list[Any] = value if isinstance(value, list) else [value]
            rows += [{"table": name, **dict(r)} for r in items]
        write_csv(rows, csv)
        if csv == "-":
            return
    if json_out:
        print_json(data)
        return
    from suanli.report.figures_print import print_figures

    print_figures(data)


def demo() -> None:
    """Plan a GPT-3-class training run (175B, 300B tokens) on A100s and print the answer."""
    from suanli.cli.common import console as _console
    from suanli.plan.api import make_job
    from suanli.plan.search import search
    from suanli.report.training import print_estimate, print_search

    con = _console()
    con.rule("Suanli demo: GPT-3 175B on 300B tokens, 256-2048 x A100 80GB (DGX A100)")
    job = make_job("gpt3-175b", "dgx-a100-80gb", 300e9, seq_len=2048,
                   global_batch_tokens=1536 * 2048, pue=1.1, carbon_g_per_kwh=400)
    res = search(job, [256, 512, 1024, 2048], top=5)
    print_search(res, con)
    con.rule("the fastest plan, term by term")
    print_estimate(res.best[0], con)
    con.print("\nNext: `suanli train plan --help`, `suanli validate`, `suanli figures`.")
