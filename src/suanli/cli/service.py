"""``suanli service``: run the compute-network service and bootstrap tenants.

Nothing heavy at module level: FastAPI, SQLAlchemy and Ray are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="The live compute network service (HTTP API, scheduler, executor).",
                  no_args_is_help=True)
admin = typer.Typer(help="Administration: tenants, API keys, quotas, joined sites.",
                    no_args_is_help=True)
app.add_typer(admin, name="admin")

_DB = typer.Option(None, "--db", help="Database URL (default sqlite:///<data-dir>/suanli.db; "
                   "postgresql+psycopg://... for PostgreSQL).")
_DATA = typer.Option(None, "--data-dir", help="State folder (default $SUANLI_DATA_DIR or "
                     "~/.suanli).")


@app.command("up")
def up(host: str = typer.Option(None, "--host", help="Bind address (default 127.0.0.1)."),
       port: int = typer.Option(None, "--port",
                                 help="Port (default 8000; 0: a free one, printed on start)."),
       db: str = _DB, data_dir: Path = _DATA,
       ray_address: str = typer.Option(None, "--ray-address", help="Ray GCS address "
                                       "host:port; default: embedded local head."),
       executor: str = typer.Option(None, "--executor", help="auto, ray, subprocess or "
                                    "federated (a broker: site agents run the jobs, "
                                    "docs/federation.md)."),
       policy: str = typer.Option(None, "--policy", help="Queue policy (suanli sim list)."),
       placer: str = typer.Option(None, "--placement", help="Placer (suanli sim list)."),
       allow_remote: bool = typer.Option(None, "--allow-remote",
                                         help="Allow a non-loopback --host (behind TLS)."),
       max_body_bytes: int = typer.Option(None, "--max-body-bytes", help="Request body limit."),
       insecure_single_tenant: bool = typer.Option(
           None, "--insecure-single-tenant",
           help="Start even where jobs cannot be sandboxed (no bubblewrap, not root); jobs then "
                "run as the service's user. One trusted tenant only."),
       bench_profile: Path = typer.Option(
           None, "--bench-profile", help="A `suanli bench -o` file of this site: train/serve "
           "jobs are predicted from it (default $SUANLI_BENCH_PROFILE; none: not predicted)."),
       ) -> None:
    """Start the service: migrate the database, start the executor, schedule, serve HTTP.

    On SQLite state one instance per state (a second exits 2); on PostgreSQL several may run:
    one leads the scheduler, the others serve the API and take over if it dies."""
    import uvicorn

    from suanli.errors import InputError
    from suanli.service.app import create_app
    from suanli.service.config import Settings
    from suanli.service.leader import lock_state_dir
    from suanli.service.sandbox import sandbox_available

    settings = Settings.from_env(host=host, port=port, database_url=db, data_dir=data_dir,
                                 ray_address=ray_address, executor=executor, policy=policy,
                                 placer=placer, allow_remote=allow_remote,
                                 max_body_bytes=max_body_bytes,
                                 insecure_single_tenant=insecure_single_tenant,
                                 bench_profile=bench_profile)
    # Jobs run on this machine unless a remote Ray cluster runs them (its nodes then check for
    # themselves and fail a job they cannot sandbox).
    local = settings.executor != "federated" and (settings.ray_address is None
                                                  or settings.executor == "subprocess")
    ok, reason = sandbox_available() if local else (True, "")
    if not ok and not settings.insecure_single_tenant:
        raise InputError(f"refusing to start a multi-tenant service: jobs cannot be sandboxed "
                         f"here: {reason}")
    lock = lock_state_dir(settings.db_url)  # noqa: F841 (held until the process exits)
    sock = _bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    typer.echo(f"suanli service on http://{settings.host}:{port} (docs at /docs)", err=True)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="info",
                                           access_log=True))
    server.run(sockets=[sock])


def _bind(host: str, port: int) -> Any:
    """The listening socket, bound before anything starts (``--port 0``: the kernel picks a
    free port, printed on start; no other process can take it between choosing and binding)."""
    import socket

    from suanli.errors import InputError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror}; pick another --port "
                         "(0 lets the system choose a free one)") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@app.command("down")
def down(data_dir: Path = _DATA) -> None:
    """Stop the embedded Ray head that `service up` left running for its jobs.

    `service up` keeps the head alive on purpose when it stops, so running jobs survive a restart
    and are re-attached; run this when you are done (running jobs are stopped with it)."""
    from suanli.service.config import Settings
    from suanli.service.executors.ray_head import adopt_head, stop_head

    settings = Settings.from_env(data_dir=data_dir)
    info = adopt_head(settings.data_dir)
    if info is None:
        typer.echo(f"no embedded Ray head is running for {settings.data_dir}", err=True)
        return
    stop_head(info, settings.data_dir)
    typer.echo(f"stopped the embedded Ray head at {info.dashboard_url}", err=True)


@app.command("jobs")
def jobs_cmd(compare: bool = typer.Option(False, "--compare", help="Predicted vs measured "
                                          "figures of your train/serve jobs."),
             url: str = typer.Option(None, "--url", help="The service (default $SUANLI_URL "
                                     "or http://127.0.0.1:8000)."),
             key: str = typer.Option(None, "--key", help="Your API key (default "
                                     "$SUANLI_API_KEY)."),
             limit: int = typer.Option(100, "--limit", min=1, max=1000,
                                       help="Newest jobs to read."),
             records: Path = typer.Option(None, "--records", help="Also write your measured "
                                          "train/serve jobs as result records (JSON lines) "
                                          "for `suanli calibrate --from-runs`."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Your jobs on the service (GET /api/v1/jobs); with --compare, the step time (train) or
    TTFT and TPOT (serve) predicted at submission against the measured ones."""
    import os

    from suanli.cli.common import print_json
    from suanli.service.workload_jobs import compare_rows

    base = (url or os.environ.get("SUANLI_URL") or "http://127.0.0.1:8000").rstrip("/")
    jobs = _get_jobs(base, key or os.environ.get("SUANLI_API_KEY"), limit)
    if records is not None:
        import json

        from suanli.service.workload_jobs import as_record

        recs = [r for r in map(as_record, jobs) if r is not None]
        records.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
        typer.echo(f"wrote {len(recs)} result records to {records}", err=True)
    if not compare:
        if as_json:
            print_json(jobs)
            return
        for j in jobs:
            typer.echo(f"{j['id']}\t{j['name']}\t{j['kind']}\t{j['state']}")
        return
    rows = compare_rows(jobs)
    if as_json:
        print_json(rows)
        return
    _compare_table(rows)


def _get_jobs(base: str, key: str | None, limit: int) -> list[dict[str, Any]]:
    import httpx

    from suanli.errors import InputError

    if not key:
        raise InputError("no API key: pass --key or set SUANLI_API_KEY (a tenant's key from "
                         "`suanli service admin create-tenant NAME`)")
    try:
        r = httpx.get(f"{base}/api/v1/jobs", params={"limit": limit}, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError as exc:
        raise InputError(f"cannot reach the service at {base} ({exc}): start it with "
                         "`suanli service up` or pass --url") from None
    if r.status_code != 200:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        raise InputError(f"the service at {base} answered {r.status_code}: "
                         f"{' '.join(str(detail).split())[:300]}")
    return list(r.json()["jobs"])


def _compare_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from suanli.cli.common import console

    con = console()
    if not rows:
        con.print("no train/serve jobs yet: submit one with kind 'train' or 'serve'")
        return
    table = Table(title="workload jobs: predicted vs measured (error = predicted / measured "
                  "- 1)")
    for col in ("job", "name", "kind", "state", "figure", "measured s", "predicted s", "error"):
        table.add_column(col, justify="right" if col in ("measured s", "predicted s", "error")
                         else "left")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4g}"

    notes = []
    for r in rows:
        table.add_row(r["job"], r["name"], r["kind"], r["state"], r["figure"],
                      fmt(r["measured_s"]), fmt(r["predicted_s"]),
                      "-" if r["error"] is None else f"{r['error']:+.1%}")
        if r["why"] and (r["job"], r["why"]) not in notes:
            notes.append((r["job"], r["why"]))
    con.print(table)
    for job, why in notes:
        con.print(f"{job}: {why}")


def _in_session(db: str | None, data_dir: Path | None, work: Any) -> Any:
    """Migrate the database, run ``work(session)`` in one session, dispose the engine."""
    from suanli.service.config import Settings
    from suanli.service.db import make_engine, session_factory, upgrade

    settings = Settings.from_env(database_url=db, data_dir=data_dir)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        with session_factory(engine)() as s:
            return work(s)
    finally:
        engine.dispose()


@admin.command("create-tenant")
def create_tenant_cmd(name: str = typer.Argument(..., help="Tenant name."),
                      db: str = _DB, data_dir: Path = _DATA,
                      as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Create a tenant and print its API key once (only its hash is stored)."""
    from suanli.cli.common import print_json
    from suanli.service.tenants import create_tenant

    tenant, key = _in_session(db, data_dir, lambda s: create_tenant(s, name))
    if as_json:
        print_json({"tenant_id": tenant.id, "name": tenant.name, "api_key": key})
    else:
        typer.echo(f"tenant {tenant.name} ({tenant.id})\napi key (shown once): {key}")


@admin.command("rotate-key")
def rotate_key_cmd(name: str = typer.Argument(..., help="Tenant name."),
                   db: str = _DB, data_dir: Path = _DATA,
                   as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Replace a tenant's API key (the old key stops working); prints the new key once."""
    from suanli.cli.common import print_json
    from suanli.service.tenants import rotate_key

    key = _in_session(db, data_dir, lambda s: rotate_key(s, name))
    if as_json:
        print_json({"name": name, "api_key": key})
    else:
        typer.echo(f"new api key for {name} (shown once): {key}")


@admin.command("set-quota")
def set_quota_cmd(name: str = typer.Argument(..., help="Tenant name."),
                  cpus: float = typer.Option(None, "--cpus", help="Nominal CPUs (0 = none)."),
                  gpus: float = typer.Option(None, "--gpus", help="Nominal GPUs (0 = none)."),
                  weight: float = typer.Option(None, "--weight",
                                               help="Fair-share weight (default 1)."),
                  db: str = _DB, data_dir: Path = _DATA) -> None:
    """Set a tenant's nominal quota (guaranteed share; beyond it the tenant borrows idle
    capacity, which can be preempted) and its fair-share weight."""
    from suanli.service.tenants import set_quota

    t = _in_session(db, data_dir, lambda s: set_quota(s, name, cpus=cpus, gpus=gpus,
                                                      weight=weight))
    typer.echo(f"tenant {name}: quota {t[0]:g} CPUs, {t[1]:g} GPUs, weight {t[2]:g}")


@admin.command("sites")
def sites_cmd(db: str = _DB, data_dir: Path = _DATA,
              as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List every site joined through the API, with its owner and whether it is valid."""
    from suanli.cli.common import print_json
    from suanli.service.tenants import joined_sites

    rows = _in_session(db, data_dir, joined_sites)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['site']}\t{r['owner']}\t{'ok' if r['valid'] else 'INVALID: ' + r['why']}")


@admin.command("remove-site")
def remove_site_cmd(site: str = typer.Argument(..., help="Joined site id."),
                    db: str = _DB, data_dir: Path = _DATA) -> None:
    """Remove any joined site (an operator's override of the owner)."""
    from suanli.service.tenants import remove_site

    owner = _in_session(db, data_dir, lambda s: remove_site(s, site))
    typer.echo(f"removed site {site} (joined by {owner})")


@admin.command("create-site")
def create_site_cmd(name: str = typer.Argument(..., help="Site name (its agent's `site:`)."),
                    db: str = _DB, data_dir: Path = _DATA,
                    key_file: Path = typer.Option(None, "--key-file", help="Write the key "
                                                  "to this file (mode 600) instead of "
                                                  "printing it."),
                    as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Create a federated site and its site key, shown once (only its hash is stored); the
    site's agent presents it (`suanli agent up --key-file`)."""
    import os

    from suanli.cli.common import print_json
    from suanli.federation.registry import create_site

    site, key = _in_session(db, data_dir, lambda s: create_site(s, name))
    if key_file is not None:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        typer.echo(f"site {site.id}: key written to {key_file}")
    elif as_json:
        print_json({"site": site.id, "site_key": key})
    else:
        typer.echo(f"site {site.id}\nsite key (shown once): {key}")


@admin.command("revoke-site")
def revoke_site_cmd(name: str = typer.Argument(..., help="Federated site name."),
                    db: str = _DB, data_dir: Path = _DATA) -> None:
    """Revoke a site's key: its agent gets 401 from now on; its running work is requeued
    elsewhere when the leases run out."""
    from suanli.federation.registry import revoke_site

    _in_session(db, data_dir, lambda s: revoke_site(s, name))
    typer.echo(f"revoked site {name}")


@admin.command("fed-sites")
def fed_sites_cmd(db: str = _DB, data_dir: Path = _DATA,
                  lease_s: float = typer.Option(None, "--lease-s", help="The broker's lease "
                                                "period (s): a site unheard longer is "
                                                "offline (default: SUANLI_LEASE_S, else 30)."),
                  as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The broker's board: each federated site's state, utilization, price, earnings,
    declared vs measured capability and reliability; and the ledger's totals."""
    import time

    from suanli.cli.common import print_json
    from suanli.cli.federation_view import print_board
    from suanli.federation.ledger import totals
    from suanli.federation.registry import broker_view
    from suanli.service.config import Settings

    lease = lease_s if lease_s is not None else Settings.from_env(data_dir=data_dir).lease_s
    rows, tot = _in_session(db, data_dir, lambda s: (broker_view(s, time.time(), lease),
                                                     totals(s)))
    if as_json:
        print_json({"sites": rows, "ledger": tot})
        return
    print_board(rows, tot)
