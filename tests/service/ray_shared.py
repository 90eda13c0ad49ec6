"""One real Ray head (token auth, site A with 2 CPUs) shared by the Ray test files.

Shared across modules and pytest-xdist workers through a file lock and a reference count,
because starting Ray costs ~8-15 s on 2 cores. ``conftest.py`` imports the fixtures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from suanli.service.executors.ray_executor import RayExecutor
from suanli.service.executors.ray_head import adopt_head, start_head, stop_head


@pytest.fixture(scope="session")
def ray_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data dir whose Ray head (site A) is shared by every test file and xdist worker."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # same in every worker of one run
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent / f"suanli-ray-{run[:12]}") if run else (base / "suanli-ray")
    shared.mkdir(exist_ok=True)
    count = shared / "users"
    with FileLock(str(shared / "lock")):
        if adopt_head(shared) is None:
            start_head(shared, {"A": {"CPU": 2.0}}, num_cpus=2)
            count.write_text("0")
        count.write_text(str(int(count.read_text() or 0) + 1))
    yield shared
    with FileLock(str(shared / "lock")):
        left = int(count.read_text()) - 1
        count.write_text(str(left))
        info_now = adopt_head(shared)
        if left == 0 and info_now is not None:
            stop_head(info_now, shared)


@pytest.fixture(scope="session")
def ex(ray_data_dir: Path) -> Iterator[RayExecutor]:
    executor = RayExecutor(data_dir=ray_data_dir)
    executor.start()  # adopts the shared head
    deadline = time.monotonic() + 30
    while "A" not in executor.resources() and time.monotonic() < deadline:
        time.sleep(0.2)
    yield executor
    executor.shutdown(stop_cluster=False)
