"""The local executor's launchers yield the CPU to the service (local_subprocess._yield_cpu)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from suanli.service.local_subprocess import _yield_cpu

AUTOGROUPS = Path("/proc/sys/kernel/sched_autogroup_enabled")


@pytest.mark.skipif(not AUTOGROUPS.exists() or AUTOGROUPS.read_text().strip() != "1",
                    reason="this kernel schedules without autogroups")
def test_a_launchers_session_gets_the_lowest_cpu_weight() -> None:
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)  # as submit starts one
    try:
        before = Path(f"/proc/{proc.pid}/autogroup").read_text()
        assert before.split()[-1] == "0"
        _yield_cpu(proc.pid)
        group = Path(f"/proc/{proc.pid}/autogroup").read_text()
        assert group.split()[0] == before.split()[0]  # its own group, now niced
        assert group.split()[-1] == "19"
        assert int(Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[16]) == 19
    finally:
        proc.kill()
        proc.wait()


def test_a_gone_process_is_no_error() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    _yield_cpu(proc.pid)  # reaped: nothing to lower, nothing raised
