"""Per-job cgroups: CPU quota, memory and process caps enforced by the kernel, where possible.

One cgroup per job, named ``suanli-<job id>``, created under the supervisor's own cgroup:

* **cgroup v2** (``/sys/fs/cgroup/cgroup.controllers`` lists cpu, memory and pids):
  ``cpu.max = "<cpus x period> <period>"``, ``cpu.weight``, ``memory.max``, ``pids.max``
  (kernel docs, Documentation/admin-guide/cgroup-v2.rst);
* **cgroup v1** (this machine: one hierarchy per controller under ``/sys/fs/cgroup/<ctrl>``):
  ``cpu.cfs_quota_us / cpu.cfs_period_us = cpus``, ``cpu.shares``, ``memory.limit_in_bytes``,
  ``pids.max`` (Documentation/scheduler/sched-bwc.rst, admin-guide/cgroup-v1/memory.rst,
  pids.rst).

The quota caps a job at the CPUs it asked for; its *weight* says how it shares a busy CPU.
A new cgroup weighs as much as a whole process group (1024 shares), so a hundred small jobs
starting at once would outweigh the service's API a hundred to one. Like Kubernetes' kubelet
(``MilliCPUToShares`` in pkg/kubelet/cm/helpers_linux.go, and its v2 conversion of KEP-2254),
a job weighs in proportion to its request: ``shares = max(2, cpus x 1024)``, v2
``cpu.weight = 1 + (shares - 2) x 9999 / 262142``. Jobs that fill the machine (their requests
sum to its CPUs) then weigh as much as that many busy processes, and the service keeps its share.

The job joins its cgroup before bubblewrap starts (:func:`join_argv`: a shell writes its own
pid into each ``cgroup.procs`` and then ``exec``s the sandbox), so every process of the job is
inside from the first instruction. Anything that cannot be set up (no cgroupfs, read-only,
a controller missing) is skipped: the rlimits of :mod:`suanli.service.sandbox` still hold.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["JobCgroup", "create", "join_argv", "leftover", "shares", "weight"]

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000  # CFS period, microseconds (the kernel default)
_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


@dataclass(frozen=True)
class JobCgroup:
    """The directories of one job's cgroup (one per v1 controller, or one v2 directory)."""

    dirs: tuple[Path, ...]
    version: int  # 1 or 2

    @property
    def procs(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def remove(self, timeout_s: float = 3.0) -> None:
        """Kill what is left inside and remove the directories (after the job ended); a
        cgroup is busy until its last process is gone, so retry for up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        for d in self.dirs:
            while d.exists():
                with contextlib.suppress(OSError):
                    for pid in (d / "cgroup.procs").read_text().split():
                        with contextlib.suppress(OSError):
                            os.kill(int(pid), 9)
                try:
                    d.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)


def shares(cpus: float) -> int:
    """cgroup v1 ``cpu.shares`` of a job asking for ``cpus`` (1024 per CPU, at least 2)."""
    return max(2, min(262144, round(cpus * 1024)))


def weight(cpus: float) -> int:
    """cgroup v2 ``cpu.weight`` (1-10000) with the same proportions as :func:`shares`."""
    return 1 + ((shares(cpus) - 2) * 9999) // 262142


def _own(controller: str, root: Path) -> Path:
    """This process's cgroup directory in the v1 hierarchy of ``controller``."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if controller in ctrls.split(","):
            return root / controller / path.lstrip("/")
    raise OSError(f"no v1 hierarchy for {controller}")


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _v2(name: str, cpus: float, memory_bytes: int | None, pids: int, root: Path) -> JobCgroup:
    have = set((root / "cgroup.controllers").read_text().split())
    if not {"cpu", "memory", "pids"} <= have:
        raise OSError("cgroup v2 lacks the cpu, memory or pids controller")
    parent = root / "suanli"
    parent.mkdir(exist_ok=True)
    _write(parent / "cgroup.subtree_control", "+cpu +memory +pids")
    d = parent / name
    d.mkdir(exist_ok=True)
    _write(d / "cpu.max", f"{math.ceil(cpus * PERIOD_US)} {PERIOD_US}")
    _write(d / "cpu.weight", str(weight(cpus)))
    if memory_bytes:
        _write(d / "memory.max", str(memory_bytes))
    _write(d / "pids.max", str(pids))
    return JobCgroup((d,), 2)


def _v1(name: str, cpus: float, memory_bytes: int | None, pids: int, root: Path) -> JobCgroup:
    made: list[Path] = []
    try:
        d = _own("cpu", root) / name
        d.mkdir(exist_ok=True)
        made.append(d)
        _write(d / "cpu.cfs_period_us", str(PERIOD_US))
        _write(d / "cpu.cfs_quota_us", str(math.ceil(cpus * PERIOD_US)))
        _write(d / "cpu.shares", str(shares(cpus)))
        d = _own("pids", root) / name
        d.mkdir(exist_ok=True)
        made.append(d)
        _write(d / "pids.max", str(pids))
        if memory_bytes:
            d = _own("memory", root) / name
            d.mkdir(exist_ok=True)
            made.append(d)
            _write(d / "memory.limit_in_bytes", str(memory_bytes))
    except OSError:
        JobCgroup(tuple(made), 1).remove()
        raise
    return JobCgroup(tuple(made), 1)


def _name(job_id: str, scope: str) -> str:
    """``suanli-<job>-<hash of the run's folder>``: job ids are unique in one service's state
    only, and two services (or a broker's agents) may share a host's cgroup tree."""
    import hashlib

    tail = f"-{hashlib.sha256(scope.encode()).hexdigest()[:10]}" if scope else ""
    return f"suanli-{job_id}{tail}"


def create(job_id: str, cpus: float, memory_bytes: int | None, pids: int,
           root: Path = ROOT, scope: str = "") -> JobCgroup | None:
    """The job's cgroup with its limits set, or None where cgroups cannot be used here;
    ``scope`` (the run's working folder) keeps runs of equal job ids apart."""
    name = _name(job_id, scope)
    try:
        if (root / "cgroup.controllers").exists():
            return _v2(name, cpus, memory_bytes, pids, root)
        return _v1(name, cpus, memory_bytes, pids, root)
    except (OSError, ValueError):
        return None


def leftover(job_id: str, root: Path = ROOT, scope: str = "") -> JobCgroup:
    """The cgroup of a job whose supervisor died (``kill -9``), to :meth:`JobCgroup.remove`."""
    name = _name(job_id, scope)
    if (root / "cgroup.controllers").exists():
        return JobCgroup((root / "suanli" / name,), 2)
    dirs = []
    for ctrl in ("cpu", "pids", "memory"):
        with contextlib.suppress(OSError):
            dirs.append(_own(ctrl, root) / name)
    return JobCgroup(tuple(dirs), 1)


def join_argv(cg: JobCgroup | None, argv: list[str]) -> list[str]:
    """``argv`` run inside ``cg``: a shell joins every ``cgroup.procs``, then execs ``argv``."""
    if cg is None:
        return argv
    return ["/bin/sh", "-c", _JOIN, "suanli-cgroup", *cg.procs, "--", *argv]
