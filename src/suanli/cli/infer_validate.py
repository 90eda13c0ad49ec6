"""``suanli infer validate``: the serving model against published runs, with the
leave-one-publication-out errors as the headline and ``--fit`` to refit. Kept apart from
``cli/infer.py`` so the command module stays short; heavy imports happen inside the command."""

from __future__ import annotations

from typing import Annotated

import typer

from suanli.cli.common import console, print_json
from suanli.cli.infer_options import Json


def validate(
    fit: Annotated[bool, typer.Option(help="refit the efficiency file and the stored "
                                           "leave-one-publication-out errors (minutes)")] = False,
    loo: Annotated[bool, typer.Option(help="recompute leave-one-publication-out now (slow)")
                   ] = False,
    as_json: Json = False,
) -> None:
    """Compare the model with the published inference runs. Headline: leave-one-publication-out
    errors (each publication predicted by parameters fitted without it), beside in-sample."""
    from suanli.infer import fit as f
    from suanli.infer import validate as v

    if fit:
        f.write_efficiency(f.fit_efficiency())
        from suanli.infer.efficiency import _table as eff_cache

        eff_cache.cache_clear()
        f.write_lopo(f.leave_one_publication_out())
    rows = v.validate_inference()
    summ = v.summary(rows)
    lopo = f.leave_one_publication_out() if loo else f.stored_lopo()
    lopo_map = dict(lopo or [])
    lopo_summ = v.summary_of(list(lopo_map.values())) if lopo_map else None
    if as_json:
        print_json({"rows": rows, "summary": summ, "leave_one_publication_out": lopo or [],
                    "lopo_summary": lopo_summ, "lopo_current": lopo is not None})
        return
    from rich.table import Table

    t = Table(title="inference validation (error = predicted / published - 1)")
    for col in ("id", "metric", "published", "predicted", "in-sample", "LOPO", "used",
                "normalization"):
        t.add_column(col)
    for r in rows:
        lo = lopo_map.get(r.id)
        t.add_row(r.id, r.metric, f"{r.published:,.4g} {r.unit}",
                  "-" if r.predicted is None else f"{r.predicted:,.4g}",
                  "-" if r.error is None else f"{100 * r.error:+.0f}%",
                  "-" if lo is None else f"{100 * lo:+.0f}%",
                  "yes" if r.included else "no", r.normalization)
    console().print(t)
    if lopo_summ is None:
        console().print("[yellow]leave-one-publication-out: stored errors are stale (the rows, "
                        "parameters or model changed); run `suanli infer validate --fit` or "
                        "--loo[/yellow]")
    else:
        console().print(f"[bold]leave-one-publication-out[/bold] ({lopo_summ['rows']:.0f} rows): "
                        f"median |error| {100 * lopo_summ['median_abs_error']:.1f}%, max "
                        f"{100 * lopo_summ['max_abs_error']:.1f}%, within 20%: "
                        f"{100 * lopo_summ['share_within_20pct']:.0f}% of rows")
    console().print(f"in-sample ({summ['rows']:.0f} rows): median |error| "
                    f"{100 * summ['median_abs_error']:.1f}%, max "
                    f"{100 * summ['max_abs_error']:.1f}%")
