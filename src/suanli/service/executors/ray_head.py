"""Start, adopt and stop the embedded local Ray head that ``suanli service up`` uses.

The head is started *detached* with ``ray start --head`` in its own session (``setsid``), so
its processes are not children of the service: a ``kill -9`` of the service leaves the head
and every running job alive, and the next ``service up`` adopts the same head from the state
file ``<data_dir>/ray-head.json``.

The head runs with Ray's token authentication (``RAY_AUTH_MODE=token``, Ray >= 2.52; Ray docs,
"Ray token authentication", https://docs.ray.io/en/latest/ray-security/token-auth.html): every
GCS RPC and every dashboard/Jobs API request must carry the token. The token is 32 random bytes
(hex) in ``<data_dir>/ray-token``, mode 0600, handed to Ray by path (``RAY_AUTH_TOKEN_PATH``);
jobs never see it (their sandbox does not mount the data dir and their environment is clean).

Sites map onto Ray through custom resources: site ``A`` with 4 CPUs becomes the node resource
``{"site:A": 4}``; a job placed on ``A`` asks for ``{"site:A": 0.001}``, so Ray itself refuses
to run it anywhere else (Ray docs, "Custom resources",
https://docs.ray.io/en/latest/ray-core/scheduling/resources.html#custom-resources).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from suanli.errors import InputError
from suanli.ports import free_loopback_port

__all__ = ["HeadInfo", "add_site_node", "adopt_head", "auth_env", "ensure_token", "site_resource",
           "start_head", "stop_head"]

STATE_FILE = "ray-head.json"
TOKEN_FILE = "ray-token"
MARKER = "SUANLI_RAY_HEAD"  # env var set on every process of a head we start


def site_resource(site: str) -> str:
    """The Ray custom-resource name that marks nodes of ``site``."""
    return f"site:{site}"


def hardware_resource(system: str) -> str:
    """The Ray custom resource counting a node's devices of catalog system ``system``
    (``ray start --resources '{"hw:dgx-h100": 8}'``)."""
    return f"hw:{system}"


@dataclass(frozen=True)
class HeadInfo:
    """Where a local head lives; persisted so a restarted service can adopt it."""

    gcs_address: str  # host:port of the GCS
    dashboard_url: str  # http://127.0.0.1:<port>, the Jobs API
    temp_dir: str  # Ray's --temp-dir; every process of this head has it in its command line


def _temp_dir(data_dir: Path) -> Path:
    """A short, per-data-dir temp dir: Ray's unix socket paths must stay under ~107 bytes."""
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:10]
    return Path("/tmp") / f"suanli-ray-{digest}"


def ensure_token(data_dir: Path) -> Path:
    """``<data_dir>/ray-token`` (created with 32 random bytes, mode 0600, when missing)."""
    import secrets

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / TOKEN_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    path.chmod(0o600)
    return path


def auth_env(token_path: Path) -> dict[str, str]:
    """Environment that makes Ray (head, nodes, the service's driver) use the token."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path)}


def dashboard_alive(url: str, timeout: float = 2.0, token_path: Path | None = None) -> bool:
    """True when the dashboard at ``url`` answers (with the token when given)."""
    req = urllib.request.Request(f"{url}/api/version")
    if token_path is not None and token_path.exists():
        req.add_header("Authorization", f"Bearer {token_path.read_text().strip()}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def adopt_head(data_dir: Path) -> HeadInfo | None:
    """The head recorded in ``data_dir`` if it still answers, else None."""
    path = data_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        info = HeadInfo(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None
    alive = dashboard_alive(info.dashboard_url, token_path=data_dir / TOKEN_FILE)
    return info if alive else None


def start_head(data_dir: Path, sites: dict[str, dict[str, float]], *, num_cpus: float | None = None,
               object_store_mb: int = 200, timeout_s: float = 60.0) -> HeadInfo:
    """Start a detached single-node Ray head carrying one ``site:<id>`` resource per site
    (and a site's ``hw:<system>`` device counts, when it gives them).

    The node's logical CPUs/GPUs are the sums over sites (each site's CPU/GPU counts), unless
    ``num_cpus`` overrides; the object store is kept small (``object_store_mb`` MiB).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        ray_bin = Path(shutil.which("ray") or "ray")
    cpus = num_cpus if num_cpus is not None else sum(s.get("CPU", 0.0) for s in sites.values())
    cpus = max(cpus, 1.0)
    gpus = sum(s.get("GPU", 0.0) for s in sites.values())
    custom = {site_resource(k): max(v.get("CPU", 1.0), 1.0) for k, v in sites.items()}
    custom.update({k: n for v in sites.values() for k, n in v.items() if k.startswith("hw:")})
    temp = _temp_dir(data_dir)
    token = ensure_token(data_dir)
    gcs_port, dash_port = free_loopback_port(), free_loopback_port()
    cmd = [
        str(ray_bin), "start", "--head", f"--port={gcs_port}", "--node-ip-address=127.0.0.1",
        f"--num-cpus={int(cpus)}", f"--num-gpus={int(gpus)}", f"--resources={json.dumps(custom)}",
        f"--object-store-memory={object_store_mb * 1024 * 1024}", "--include-dashboard=true",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={dash_port}",
        f"--dashboard-agent-listen-port={free_loopback_port()}",
        f"--ray-client-server-port={free_loopback_port()}",
        f"--temp-dir={temp}", "--disable-usage-stats",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**_env(str(temp)), **auth_env(token)},
                          timeout=timeout_s, start_new_session=True, check=False)
    if proc.returncode != 0:
        raise InputError(f"could not start a local Ray head (exit {proc.returncode}): "
                         f"{proc.stderr.strip()[-400:]}. Check `ray start --head` works, or pass "
                         f"--ray-address of an existing cluster.")
    info = HeadInfo(gcs_address=f"127.0.0.1:{gcs_port}",
                    dashboard_url=f"http://127.0.0.1:{dash_port}", temp_dir=str(temp))
    deadline = time.monotonic() + timeout_s
    while not dashboard_alive(info.dashboard_url, token_path=token):
        if time.monotonic() > deadline:
            stop_head(info)
            raise InputError(f"Ray head started but its Jobs API at {info.dashboard_url} never "
                             f"answered within {timeout_s:.0f} s; see logs under {temp}.")
        time.sleep(0.2)
    (data_dir / STATE_FILE).write_text(json.dumps(asdict(info)))
    return info


def add_site_node(info: HeadInfo, site: str, cpus: float = 1.0, gpus: float = 0.0,
                  object_store_mb: int = 100, timeout_s: float = 60.0) -> None:
    """Join one more local Ray node to the head, carrying only ``site:<site>``.

    Lets one machine model several sites as distinct Ray nodes, so a placement on ``site`` runs
    on that node and nowhere else. The node shares the head's temp dir, so :func:`stop_head`
    stops it too.
    """
    ray_bin = Path(sys.executable).with_name("ray")
    cmd = [str(ray_bin), "start", f"--address={info.gcs_address}", "--node-ip-address=127.0.0.1",
           f"--num-cpus={int(cpus)}", f"--num-gpus={int(gpus)}",
           f"--resources={json.dumps({site_resource(site): max(cpus, 1.0)})}",
           f"--object-store-memory={object_store_mb * 1024 * 1024}",
           f"--dashboard-agent-listen-port={free_loopback_port()}", f"--temp-dir={info.temp_dir}",
           "--disable-usage-stats"]
    # Ray refuses a second node in its loopback-only mode; multi-node mode uses the host's
    # network address (see ``_env``), so this is for machines where that is allowed.
    token = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", ""))
    env = {**_env(info.temp_dir), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",
           **(auth_env(token) if token.is_file() else {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                          start_new_session=True, check=False, env=env)
    if proc.returncode != 0:
        raise InputError(f"could not add a Ray node for site {site!r} (exit {proc.returncode}): "
                         f"{proc.stderr.strip()[-400:]}")


def _env(temp_dir: str) -> dict[str, str]:
    """Environment for ``ray start``: every process of the head inherits the marker.

    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes Ray take the loopback address as the node IP
    (its single-machine mode): otherwise Ray replaces 127.0.0.1 by the host's network address
    and every embedded-head process talks over it. The embedded head is local by design."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SUANLI_")}  # no DB URL
    return {**base, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            MARKER: temp_dir}


def _ours(entry: Path, tag: bytes, temp: bytes) -> bool:
    """Does process ``entry`` belong to the head? Its environment carries the marker, or its
    command line or an open file names the temp dir (Ray renames some processes and may
    overwrite their environment, so no single sign is enough)."""
    with contextlib.suppress(OSError):
        if tag in (entry / "environ").read_bytes().split(b"\0"):
            return True
    with contextlib.suppress(OSError):
        if temp in (entry / "cmdline").read_bytes():
            return True
    with contextlib.suppress(OSError):
        for fd in (entry / "fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd).encode().startswith(temp):
                    return True
    return False


def _head_pids(temp_dir: str) -> list[int]:
    """Ids of this head's processes (ours alone), with all their descendants."""
    tag, temp = f"{MARKER}={temp_dir}".encode(), temp_dir.encode()
    children: dict[int, list[int]] = {}
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
            if _ours(entry, tag, temp):
                found.add(int(entry.name))
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child != os.getpid():
                found.add(child)
                todo.append(child)
    return sorted(found)


def stop_head(info: HeadInfo, data_dir: Path | None = None, grace_s: float = 3.0) -> None:
    """Stop exactly the processes of this head (by id): SIGTERM, then SIGKILL after ``grace_s``.

    With ``data_dir`` the head's state file and temp dir (its logs) are removed too."""
    pids = _head_pids(info.temp_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if data_dir is not None:  # the head was ours: forget it and its logs
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(info.temp_dir, ignore_errors=True)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
