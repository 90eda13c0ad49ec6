"""The job sandbox: bubblewrap namespaces, an unprivileged uid per tenant, rlimits, a clean env.

Every executor runs a job through :func:`sandbox_argv`, on the machine where the job lands::

    bwrap --die-with-parent --new-session --unshare-{pid,ipc,uts,cgroup} [--unshare-net]
          --ro-bind /usr /usr (+ /etc, /bin, /lib*, the Python install and Suanli itself)
          --proc /proc --dev /dev --tmpfs /tmp (sized) --bind <workdir> /job --chdir /job
          --clearenv --setenv PATH ... -- setpriv --reuid U --regid U --clear-groups
          --inh-caps=-all --bounding-set=-all --no-new-privs -- prlimit --as --cpu --nproc
          --fsize --nofile --core=0 -- /bin/sh -c COMMAND

* **Who.** bwrap runs as root (no user namespace, so uids are the host's real ones) to build the
  mounts; ``setpriv`` then drops to the tenant's uid ``U = 100000 + sha256(tenant) mod 2^30``
  (:func:`tenant_uid`) with no capabilities, no supplementary groups and ``no_new_privs``.
  A user namespace would be weaker here: its uid maps back to root outside, and root owns the
  service's files.
* **What it sees.** Read-only system directories and the Python that runs Suanli; a private
  ``/tmp`` (tmpfs) and ``/job`` (its own working directory, owned by ``U``, mode 0700); its
  own pid namespace (no other process is visible, so none can be signalled); no network
  namespace when ``network == "none"`` (only its own loopback: no database, Ray GCS, Ray
  dashboard or service port). The service's state directory, database, keys, the Ray token and
  other jobs' directories are never mounted.
* **Limits.** A cgroup per job (:mod:`suanli.service.cgroups`: CPU quota ``cpus``, memory,
  processes; joined before bwrap starts) where the cgroup filesystem can be written, and always
  these rlimits through ``prlimit``: address space ``memory_mb`` (default 4 GiB), CPU seconds
  ``cpus x wall_time_s`` (+10 s), processes of uid ``U`` (512), file size (1 GiB), open files
  (1024), no core files. Wall time and log size are enforced by the supervisor
  (:mod:`suanli.service.sandbox_run`).
* **Environment.** Only ``PATH``, ``HOME=/job``, ``TMPDIR=/tmp``, ``LANG``, the job's own
  ``SUANLI_JOB_ID``/``SUANLI_TENANT_ID``/``SUANLI_SITE`` and the job's ``env`` (minus any
  ``RAY_*`` name): no service secret, no Ray token.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from suanli.errors import InputError
from suanli.service.executors.base import JobSpec

__all__ = ["SandboxPolicy", "bound_paths", "check_hidden", "check_spec", "job_argv", "job_env",
           "prepare_workdir", "sandbox_argv", "sandbox_available", "tenant_uid"]

UID_BASE = 100_000  # first uid of the tenant range (above any distribution's system users)
UID_SPAN = 1 << 30  # uids in the range: collision chance ~ tenants^2 / 2^31
NETWORKS = ("none", "egress")
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@dataclass(frozen=True)
class SandboxPolicy:
    """Knobs of the sandbox; the defaults are what ``suanli service up`` uses
    (``SUANLI_BWRAP`` names another bubblewrap binary)."""

    bwrap: str = field(default_factory=lambda: os.environ.get("SUANLI_BWRAP", "/usr/bin/bwrap"))
    setpriv: str = "/usr/bin/setpriv"
    prlimit: str = "/usr/bin/prlimit"
    default_memory_mb: int = 4096  # MiB of address space when the job asks for none
    default_wall_time_s: float = 24 * 3600.0  # s, when the job gives no wall time
    max_procs: int = 512  # processes of the tenant's uid
    max_file_bytes: int = 1 << 30  # bytes, largest file a job may write
    max_open_files: int = 1024
    tmp_bytes: int = 256 << 20  # bytes of the private /tmp (tmpfs)


# kinds run as a Python entrypoint: "python", and the workload jobs "train" and "serve" (their
# entrypoint is suanli.workloads.entry's, set by the service, never the tenant)
PYTHON_KINDS = ("python", "train", "serve")


def tenant_uid(tenant_id: str) -> int:
    """The unprivileged uid a tenant's jobs run as: ``100000 + sha256(tenant) mod 2^30``."""
    digest = hashlib.sha256(tenant_id.encode()).digest()
    return UID_BASE + int.from_bytes(digest[:8], "big") % UID_SPAN


_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # ids become directory names


def check_spec(spec: JobSpec) -> None:
    """Refuse a spec no sandbox can run, with a one-line reason (InputError)."""
    for name, value in (("job id", spec.job_id), ("tenant id", spec.tenant_id)):
        if not _SAFE_ID.fullmatch(value):
            raise InputError(f"{name} {value!r} must be 1-128 letters, digits, '.', '_' or "
                             "'-' (it names the job's directory).")
    where = f"job {spec.job_id}"
    if spec.kind == "command":
        if not spec.command or not spec.command.strip():
            raise InputError(f"{where}: kind 'command' needs a non-empty command.")
        if "\x00" in spec.command:
            raise InputError(f"{where}: the command contains a NUL byte; remove it.")
    elif spec.kind in PYTHON_KINDS:
        ep = spec.entrypoint or ""
        if ":" not in ep or "\x00" in ep:
            raise InputError(f"{where}: kind '{spec.kind}' needs entrypoint "
                             f"'package.module:function', got {ep!r}.")
    else:
        raise InputError(f"{where}: unknown kind {spec.kind!r}; use 'command' or 'python'.")
    if spec.network not in NETWORKS:
        raise InputError(f"{where}: network must be 'none' or 'egress', got {spec.network!r}.")
    for key, value in spec.env.items():
        if "\x00" in key or "\x00" in value or "=" in key or not key:
            raise InputError(f"{where}: environment variable {key!r} is not a valid name=value "
                             "(no NUL bytes, no '=' in the name).")
    if "\x00" in json.dumps(spec.args):
        raise InputError(f"{where}: the args contain a NUL byte; remove it.")


def job_argv(spec: JobSpec, python: str = sys.executable) -> list[str]:
    """What runs inside the sandbox: ``/bin/sh -c COMMAND`` or the Python entrypoint runner."""
    check_spec(spec)
    if spec.kind in PYTHON_KINDS:
        assert spec.entrypoint is not None
        return [python, "-m", "suanli.service.executors.run_entrypoint", spec.entrypoint,
                json.dumps(spec.args)]
    assert spec.command is not None
    return ["/bin/sh", "-c", spec.command]


def job_env(spec: JobSpec) -> dict[str, str]:
    """The job's whole environment (clean: nothing of the service's own is inherited)."""
    env = {k: v for k, v in spec.env.items() if not k.upper().startswith("RAY_")}
    env.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/job", "TMPDIR": "/tmp",
                "LANG": "C.UTF-8", "SUANLI_JOB_ID": spec.job_id,
                "SUANLI_TENANT_ID": spec.tenant_id, "SUANLI_SITE": spec.site or ""})
    return env


def bound_paths(python: str = sys.executable) -> list[str]:
    """Host paths mounted read-only besides the system dirs: the Python install and Suanli."""
    import suanli

    paths = {sys.prefix, sys.base_prefix, str(Path(suanli.__file__).resolve().parent.parent)}
    real = Path(python).resolve()
    paths.add(str(real.parent.parent))
    out = sorted(p for p in paths if not any(p.startswith(s + "/") or p == s
                                             for s in SYSTEM_DIRS))
    return [p for i, p in enumerate(out) if not any(p.startswith(q + "/") for q in out[:i])]


def check_hidden(path: Path) -> None:
    """Refuse a state directory that a sandbox would mount (inside the Python install or
    Suanli's source tree): jobs must never see the service's state."""
    real = str(Path(path).resolve())
    for p in [*bound_paths(), *SYSTEM_DIRS]:
        if real == p or real.startswith(p.rstrip("/") + "/"):
            raise InputError(f"the state directory {real} lies inside {p}, which every job "
                             "sees read-only; use a directory outside it (--data-dir).")


def _parents(paths: Iterable[str]) -> list[str]:
    """Every ancestor of ``paths`` (outermost first), to create with mode 0755 in the sandbox:
    bwrap would otherwise make them 0700 root, and the job's uid could not pass through."""
    out: list[str] = []
    for p in paths:
        parts = Path(p).parts[1:-1]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            if d not in out:
                out.append(d)
    return out


def prepare_workdir(workdir: Path, uid: int) -> Path:
    """Create the job's working directory, owned by ``uid``, mode 0700 (no other tenant in)."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.chown(workdir, uid, uid)
    workdir.chmod(0o700)
    return workdir


def sandbox_argv(spec: JobSpec, workdir: Path, policy: SandboxPolicy | None = None,
                 python: str = sys.executable) -> list[str]:
    """The full command line that runs ``spec`` sandboxed with ``workdir`` as ``/job`` (pure)."""
    p = policy or SandboxPolicy()
    inner = job_argv(spec, python)
    uid = tenant_uid(spec.tenant_id)
    wall = spec.wall_time_s or p.default_wall_time_s  # s
    cpu_s = int(max(spec.cpus, 1.0) * wall) + 10  # CPU seconds over all threads
    mem = (spec.memory_mb or p.default_memory_mb) * (1 << 20)  # bytes of address space
    argv = [p.bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--hostname", "suanli-job"]
    if spec.network == "none":
        argv.append("--unshare-net")
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind", d, d]
    # the private /tmp first: a Python install or checkout that lives under /tmp (a CI clone)
    # is then bound on top of it, read-only, instead of being hidden by it
    argv += ["--size", str(p.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
    extra = bound_paths(python)
    for d in _parents(extra):
        if d != "/tmp" and not any(d == s or d.startswith(s + "/") for s in SYSTEM_DIRS):
            argv += ["--perms", "0755", "--dir", d]
    for d in extra:
        argv += ["--ro-bind", d, d]
    argv += ["--proc", "/proc", "--dev", "/dev", "--bind", str(workdir), "/job", "--chdir",
             "/job", "--clearenv"]
    for key, value in sorted(job_env(spec).items()):
        argv += ["--setenv", key, value]
    argv += ["--", p.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
             "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
             p.prlimit, f"--as={mem}", f"--cpu={cpu_s}", f"--nproc={p.max_procs}",
             f"--fsize={p.max_file_bytes}", f"--nofile={p.max_open_files}", "--core=0", "--",
             *inner]
    return argv


@functools.lru_cache(maxsize=4)
def sandbox_available(policy: SandboxPolicy | None = None) -> tuple[bool, str]:
    """Can this machine sandbox jobs? ``(True, "")`` or ``(False, one-line reason)``.

    Checks the tools and root (needed to switch to the tenants' uids), then runs a real
    sandboxed ``true`` with every namespace the jobs get."""
    p = policy or SandboxPolicy()
    for tool, pkg in ((p.bwrap, "bubblewrap"), (p.setpriv, "util-linux"),
                      (p.prlimit, "util-linux")):
        if not (os.path.exists(tool) or shutil.which(tool)):
            return False, (f"{tool} is missing (install the Debian package {pkg}); or run "
                           "with --insecure-single-tenant")
    if os.geteuid() != 0:
        return False, ("jobs run as per-tenant uids, which needs the service to run as root; "
                       "or run with --insecure-single-tenant")
    probe = JobSpec(job_id="probe", tenant_id="suanli-probe", kind="command", command="true",
                    entrypoint=None)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="suanli-probe-") as tmp:
        work = prepare_workdir(Path(tmp) / "job", tenant_uid(probe.tenant_id))
        try:
            out = subprocess.run(sandbox_argv(probe, work, p), capture_output=True, text=True,
                                 timeout=30, stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"the sandbox probe could not run: {exc}"
    if out.returncode != 0:
        err = " ".join(out.stderr.split())[-200:]
        return False, (f"bubblewrap cannot create the namespaces here ({err}); "
                       "or run with --insecure-single-tenant")
    return True, ""


def describe(argv: list[str]) -> str:
    """The sandbox command line as one shell-quoted string (for logs and docs)."""
    return shlex.join(argv)
