"""``suanli calibrate --from-runs | --from-log``: fit corrections from measured runs and print
the before/after error table (see :mod:`suanli.calib.observed`)."""

from __future__ import annotations

from pathlib import Path


def run(from_runs: Path | None, from_log: Path | None, profile: Path | None,
        write: Path | None, json_out: bool) -> None:
    from suanli.calib.observed import fit_corrections, write_corrections
    from suanli.calib.sources import log_observations, read_records, records_observations
    from suanli.cli.common import console, print_json

    obs = []
    if from_runs is not None:
        prof = None
        if profile is not None:
            from suanli.bench.profile import load_profile

            prof = load_profile(profile)
        obs += records_observations(read_records(from_runs), prof)
    if from_log is not None:
        obs += log_observations(from_log)
    rep = fit_corrections(obs)
    if write is not None:
        write_corrections(rep, write, source=", ".join(str(p) for p in (from_runs, from_log)
                                                       if p is not None))
    if json_out:
        print_json({"corrections": {g: c.time_scale for g, c in rep.corrections.items()},
                    "offsets_s": {g: c.offset_s for g, c in rep.corrections.items()},
                    "rows": [{"id": o.id, "group": o.group, "predicted_s": o.predicted_s,
                              "measured_s": o.measured_s, "error_before": rep.before[o.id],
                              "error_after": rep.after[o.id], "error_loo": rep.loo.get(o.id)}
                             for o in obs], "summary": rep.summary()})
        return
    from rich.table import Table

    con = console()
    table = Table(title="predicted vs measured (error = predicted / measured - 1)")
    for col in ("run", "group", "measured s", "predicted s", "before", "after",
                "leave-one-out"):
        table.add_column(col, justify="left" if col in ("run", "group") else "right")
    for o in obs:
        loo_err = rep.loo.get(o.id)
        table.add_row(o.id, o.group, f"{o.measured_s:.4g}", f"{o.predicted_s:.4g}",
                      f"{rep.before[o.id]:+.1%}", f"{rep.after[o.id]:+.1%}",
                      "n/a" if loo_err is None else f"{loo_err:+.1%}")
    con.print(table)
    for g, c in rep.corrections.items():
        extra = f" + {c.offset_s:.3g} s per step" if c.offset_s else ""
        con.print(f"{g}: time scale {c.time_scale:.3f}{extra} from {len(c.rows)} runs")
    s = rep.summary()
    loo = "n/a: one run per group" if not rep.loo else f"{s['median_abs_loo']:.1%}"
    con.print(f"median |error|: before {s['median_abs_before']:.1%}, after "
              f"{s['median_abs_after']:.1%} (leave-one-out {loo})")
    if write is not None:
        con.print(f"wrote {write}")
