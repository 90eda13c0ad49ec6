"""cgroup v2 set-up of suanli.service.cgroups, on a fake cgroup2 layout in a temp folder.

This machine (and CI) mounts cgroup v1, so the v2 path would otherwise never run: here a plain
directory stands in for ``/sys/fs/cgroup`` (a real cgroup2 mount creates the interface files
itself; plain files take the writes the same way) and the files written are checked.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from suanli.service import cgroups


def _root(tmp_path: Path, controllers: str = "cpuset cpu io memory pids") -> Path:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text(controllers + "\n")
    return root


def test_v2_job_cgroup_gets_cpu_memory_and_pids_limits(tmp_path: Path) -> None:
    root = _root(tmp_path)
    cg = cgroups.create("j1", 0.25, 512 << 20, 64, root=root)
    assert cg is not None and cg.version == 2
    d = root / "suanli" / "suanli-j1"
    assert cg.dirs == (d,)
    assert (root / "suanli" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (d / "cpu.max").read_text() == f"{cgroups.PERIOD_US // 4} {cgroups.PERIOD_US}"
    assert (d / "cpu.weight").read_text() == str(cgroups.weight(0.25))
    assert (d / "memory.max").read_text() == str(512 << 20)
    assert (d / "pids.max").read_text() == "64"
    assert cg.procs == [str(d / "cgroup.procs")]
    argv = cgroups.join_argv(cg, ["true"])
    assert argv[-3:] == [str(d / "cgroup.procs"), "--", "true"]
    assert cgroups.leftover("j1", root=root) == cg  # what a restarted service cleans up


def test_v2_cpu_quota_rounds_up_and_memory_is_optional(tmp_path: Path) -> None:
    root = _root(tmp_path)
    cg = cgroups.create("j2", 0.013, None, 8, root=root)
    assert cg is not None
    d = cg.dirs[0]
    assert (d / "cpu.max").read_text().split()[0] == str(math.ceil(0.013 * cgroups.PERIOD_US))
    assert not (d / "memory.max").exists()


def test_v2_without_a_needed_controller_is_skipped(tmp_path: Path) -> None:
    root = _root(tmp_path, "cpuset cpu io pids")  # no memory controller delegated
    assert cgroups.create("j3", 1.0, 1 << 30, 64, root=root) is None
    assert not (root / "suanli").exists()


def test_a_jobs_cpu_weight_is_proportional_to_its_request() -> None:
    """Kubernetes' conversions: 1024 shares per CPU (at least 2); v2 weight 1..10000."""
    assert [cgroups.shares(c) for c in (0.001, 0.01, 0.5, 1.0, 2.0)] == [2, 10, 512, 1024, 2048]
    assert cgroups.weight(0.001) == 1 and cgroups.weight(1.0) == 39
    assert cgroups.weight(1e6) == 10000  # capped at the kernel's range
    assert all(cgroups.weight(c) <= cgroups.weight(2 * c) for c in (0.1, 0.5, 1.0, 4.0))


def test_v1_job_cgroup_weighs_by_its_request() -> None:
    cg = cgroups.create("cgtest-shares", 0.25, None, 16)
    if cg is None or cg.version != 1:
        pytest.skip("no writable cgroup v1 hierarchy here")
    try:
        cpu = next(d for d in cg.dirs if (d / "cpu.shares").exists())
        assert (cpu / "cpu.shares").read_text().strip() == "256"
    finally:
        cg.remove()


def test_runs_of_one_job_id_in_two_folders_get_two_cgroups(tmp_path: Path) -> None:
    """Job ids are unique in one service's state only: two services (or a broker's agents)
    on one host may both run a job "j"; one's clean-up must never reach the other's processes
    (it did: a cancel in one test killed another test's job of the same id)."""
    root = _root(tmp_path)
    a = cgroups.create("j", 1.0, None, 8, root=root, scope="/state-a/runs/j/work")
    b = cgroups.create("j", 1.0, None, 8, root=root, scope="/state-b/runs/j/work")
    assert a is not None and b is not None and a.dirs != b.dirs
    assert cgroups.leftover("j", root=root, scope="/state-a/runs/j/work") == a
