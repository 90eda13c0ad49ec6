"""``suanli bench``: measure this machine and write the site descriptor's ``measured`` section."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from suanli.bench.profile import DeviceProfile


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def bench(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the profile (JSON) "
                                             "here; paste or reference it as `measured:` in a "
                                             "site descriptor")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: all usable)")]
    = None,
    full: Annotated[bool, typer.Option("--full/--quick", help="the full GEMM grid (minutes) "
                                       "or the quick one (~20 s)")] = False,
    dtype: Annotated[list[str] | None, typer.Option(help="GEMM dtypes: fp32, bf16 "
                                                    "(repeat)")] = None,
    collective: Annotated[bool, typer.Option(help="also time a Gloo all-reduce between two "
                                             "worker processes")] = False,
    catalog_row: Annotated[Path | None, typer.Option(
        help="also write this machine as a catalog accelerator (accelerators-*.csv) with its "
             "measured peaks; load it with --catalog DIR")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the profile as JSON")] = False,
) -> None:
    """Micro-benchmark this machine: GEMM by dtype and shape, memory bandwidth by working set,
    per-op framework overhead, copies and (optionally) collectives."""
    from suanli.bench.measure import FULL_GRID, QUICK_GRID, run_bench
    from suanli.cli.common import console, print_json, require_positive
    from suanli.errors import InputError
    from suanli.workloads.record import usable_cpus

    require_positive(threads, "--threads")
    dtypes = tuple(dtype or ["fp32"])
    bad = [d for d in dtypes if d not in ("fp32", "bf16")]
    if bad:
        raise InputError(f"--dtype takes fp32 or bf16, got {', '.join(bad)}")
    n = threads or usable_cpus()
    con = console(stderr=True)
    with con.status("measuring (GEMM grid, bandwidth, overheads)...") as status:
        prof = run_bench(n, FULL_GRID if full else QUICK_GRID, dtypes, collective,
                         progress=lambda msg: status.update(f"measured {msg}..."))
    if out is not None:
        prof.save(out)
    if catalog_row is not None:
        _write_row(prof, catalog_row)
    if json_out:
        print_json({"measured": prof})
        return
    con = console()
    con.print(f"[bold]{prof.hardware['name']}[/] ({n} threads, {prof.hardware['backend']})")
    con.print(f"  GEMM best      {prof.peak_gemm_flops / 1e9:,.1f} GFLOP/s "
              f"({len(prof.gemm.get('fp32', []))} fp32 shapes)")
    con.print(f"  stream add     {prof.memory_bw / 1e9:,.1f} GB/s at "
              f"{max(prof.elementwise)[0] / 2**20:,.0f} MiB")
    con.print(f"  op overhead    {prof.op_overhead_s * 1e6:,.1f} us "
              f"(+{prof.autograd_overhead_s * 1e6:,.1f} us under autograd)")
    if prof.copy_gbs:
        con.print(f"  copy           {prof.copy_gbs:,.1f} GB/s")
    if prof.collective:
        best = max(b / s for b, s in prof.collective["allreduce"]) / 1e9
        con.print(f"  all-reduce     {best:,.2f} GB/s algorithm bandwidth "
                  f"({prof.collective['backend']}, {prof.collective['world']} workers)")
    if out is not None:
        con.print(f"wrote {out}")


def _write_row(prof: DeviceProfile, path: Path) -> None:
    import csv
    import os

    from suanli.catalog.schema import Accelerator
    from suanli.errors import InputError

    if not path.name.startswith("accelerators") or path.suffix != ".csv":
        raise InputError(f"--catalog-row {path}: name it accelerators-<site>.csv so the "
                         "catalog loader reads it")
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    row = prof.to_accelerator_row("local-" + os.uname().nodename.split(".")[0][:24], mem_gb)
    Accelerator.model_validate({k: v for k, v in row.items() if v != ""})  # fail here, not later
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        w.writeheader()
        w.writerow(row)
