"""The broker's board of federated sites as a table (``suanli service admin fed-sites``)."""

from __future__ import annotations

from typing import Any


def print_board(rows: list[dict[str, Any]], totals: dict[str, float]) -> None:
    from rich.table import Table

    from suanli.cli.common import console

    con = console()
    if not rows:
        con.print("no federated sites yet: create one with `suanli service admin create-site "
                  "NAME`")
        return
    table = Table(title="federated sites (utilization = CPUs held by its assignments / "
                  "CPUs offered)")
    for col in ("site", "state", "engine", "CPUs decl/offered", "running", "util",
                "price /CPU-h /GPU-h", "earned", "measured", "done", "failed", "missed"):
        table.add_column(col)
    for r in rows:
        p, e, rel = r["price"], r["earnings"], r["reliability"]
        meas = r["measured"]
        table.add_row(
            r["site"], r["state"], r["engine"] or "-",
            f"{r['declared']['cpus']:g}/{r['offered']['cpus']:g}", str(r["running"]),
            f"{r['utilization']:.0%}",
            f"{p['currency']} {p['cpu_hour']:g} / {p['gpu_hour']:g}",
            f"{e['currency']} {e['amount']:.4g} ({e['jobs']} jobs)",
            "-" if not meas else ", ".join(f"{k}={v}" for k, v in list(meas.items())[:3]),
            str(rel["completed"]), str(rel["failed_jobs"]), str(rel["missed_leases"]))
    con.print(table)
    charged, earned = totals["tenant_charges_usd"], totals["site_earnings_usd"]
    con.print(f"ledger: {totals['jobs']:.0f} jobs, tenants charged ${charged:.6g} = sites "
              f"earned ${earned:.6g} + broker fees ${totals['broker_fees_usd']:.6g} "
              f"(imbalance {totals['imbalance_usd']:.2g})")
