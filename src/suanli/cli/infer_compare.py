"""``suanli infer compare``: hardware x precision/compression x site, best row per group and
the whole grid side by side. Heavy imports happen inside the command."""

from __future__ import annotations

from typing import Annotated

import typer


def compare(
    model: Annotated[str, typer.Option("--model", "-m", help="catalog id/name, or a HF "
                                                            "config.json")],
    hardware: Annotated[list[str], typer.Option("--hardware", "-H", help="candidates "
                                                                         "(repeat)")],
    compression: Annotated[list[str] | None, typer.Option(
        "--compression", "-c", help="what-ifs (repeat): bf16, fp8, int8, int4, 2:4, "
                                    "unstructured, or PRECISION+SPARSITY (default: what each "
                                    "chip runs well)")] = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="price at these network "
                                                                  "sites (repeat)")] = None,
    by: Annotated[str, typer.Option(help="best row per: hardware, compression or site")]
    = "hardware",
    prompt_len: int = 1024, output_len: int = 256,
    ttft_slo: Annotated[float, typer.Option(help="TTFT limit, s")] = 2.0,
    tpot_slo: Annotated[float, typer.Option(help="TPOT limit, s")] = 0.1,
    tokens_per_day: Annotated[str | None, typer.Option(
        help="traffic (prompt + output tokens/day) to size devices for")] = None,
    csv: Annotated[str | None, typer.Option("--csv", help="write every row as CSV (- for "
                                                          "stdout)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Compare serving costs across hardware, precisions/compressions and sites."""
    from suanli.cli.common import print_json, require_positive
    from suanli.infer import compare as cmp
    from suanli.units import SECONDS_PER_DAY, parse_count

    require_positive(ttft_slo, "--ttft-slo")
    require_positive(tpot_slo, "--tpot-slo")
    variants = [cmp.parse_variant(c) for c in compression] if compression else None
    traffic = None
    if tokens_per_day:
        tpd = parse_count(tokens_per_day, what="tokens/day")
        require_positive(tpd, "--tokens-per-day")
        traffic = tpd / SECONDS_PER_DAY * output_len / (prompt_len + output_len)
    from suanli.report.progress import delayed_progress

    with delayed_progress("comparing") as progress:
        rows = cmp.compare(model, hardware, variants=variants, sites=site,
                           prompt_len=prompt_len, output_len=output_len, ttft_slo_s=ttft_slo,
                           tpot_slo_s=tpot_slo, traffic_output_tokens_per_s=traffic,
                           progress=progress)
    best = cmp.best_per_group(rows, by)
    if csv:
        from suanli.report.export import write_csv

        write_csv([r.__dict__ for r in rows], csv)
        if csv == "-":
            return
    if as_json:
        print_json({"model": model, "by": by, "best": best, "rows": rows})
        return
    from suanli.report.infer_tables import print_compare

    print_compare(model, rows, best, by, f"{prompt_len}/{output_len} tokens, TTFT <= "
                                         f"{ttft_slo:g} s, TPOT <= {tpot_slo:g} s")
