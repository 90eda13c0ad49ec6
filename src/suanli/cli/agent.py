"""``suanli agent``: run a site agent that joins a broker (docs/federation.md).

Nothing heavy at module level: the engine (Ray or local processes) is imported inside ``up``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Site agent: join a Suanli broker and run the work it assigns.",
                  no_args_is_help=True)


@app.command("up")
def up(broker: str = typer.Option(..., "--broker", help="The broker's URL, e.g. "
                                  "https://broker.example.org (outbound only)."),
       site: Path = typer.Option(..., "--site", help="The site file (site.yaml: site name, "
                                 "capacity, price, windows, draining, descriptor, bench).",
                                 exists=True, dir_okay=False),
       key_file: Path = typer.Option(None, "--key-file", help="File holding the site key "
                                     "(default $SUANLI_SITE_KEY)."),
       executor: str = typer.Option("subprocess", "--executor", help="The site's engine: "
                                    "ray (its own local Ray head; or --ray-address) or "
                                    "subprocess (sandboxed local processes, one host)."),
       ray_address: str = typer.Option(None, "--ray-address", help="The site's existing Ray "
                                       "cluster (GCS host:port); default: a local head."),
       data_dir: Path = typer.Option(None, "--data-dir", help="The agent's state folder "
                                     "(default ~/.suanli/agent-<site>)."),
       heartbeat_s: float = typer.Option(None, "--heartbeat-s", min=0.05,
                                         help="Seconds between heartbeats (default: a third "
                                         "of the broker's lease period)."),
       poll_s: float = typer.Option(0.5, "--poll-s", min=0.01, help="Seconds between pulls."),
       insecure_single_tenant: bool = typer.Option(
           False, "--insecure-single-tenant", help="Run jobs unsandboxed where no sandbox "
           "can be made (trusted work only)."),
       ) -> None:
    """Register the site, heartbeat, pull assigned jobs, run them on the site's engine,
    stream logs and results back. Stop with Ctrl-C (running jobs' leases then run out and
    the broker requeues them elsewhere)."""
    import logging
    import os
    import signal

    from suanli.errors import InputError
    from suanli.federation.agent import Agent, load_site

    cfg = load_site(site)
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"--key-file {key_file}: {exc.strerror}") from None
    else:
        key = os.environ.get("SUANLI_SITE_KEY", "").strip()
    if not key:
        raise InputError("no site key: pass --key-file or set SUANLI_SITE_KEY (the broker's "
                         "operator creates it: `suanli service admin create-site NAME`)")
    folder = (data_dir or Path("~/.suanli").expanduser() / f"agent-{cfg.site}").expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    require = not insecure_single_tenant
    local_site: str | None = None
    ex: Any
    if executor == "ray":
        from suanli.service.executors.ray_executor import RayExecutor

        local_site = cfg.site
        ex = RayExecutor(address=ray_address, data_dir=folder,
                         sites={cfg.site: {"CPU": cfg.cpus, "GPU": cfg.gpus}},
                         num_cpus=cfg.cpus, require_sandbox=require)
    elif executor == "subprocess":
        from suanli.service.local_subprocess import SubprocessExecutor

        ex = SubprocessExecutor(folder / "runs", require_sandbox=require)
    else:
        raise InputError(f"--executor must be ray or subprocess, got '{executor}'")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    ex.start()
    agent = Agent(broker, key, site, ex, engine=executor, local_site=local_site,
                  heartbeat_s=heartbeat_s, poll_s=poll_s, cfg=cfg)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    typer.echo(f"suanli agent for site {cfg.site} -> {broker} (engine {executor})", err=True)
    try:
        agent.run()
    except KeyboardInterrupt:
        agent.stop()
    finally:
        if executor == "ray":
            ex.shutdown()
