"""Issue 9 finding 7: a second ``suanli service up`` on the same SQLite state exits 2 with a
one-line reason instead of scheduling the same jobs twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.errors import InputError
from suanli.service.leader import lock_state_dir

from .procs import Proc

pytestmark = pytest.mark.slow


def test_the_lock_is_exclusive_and_freed_with_its_holder(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'suanli.db'}"
    held = lock_state_dir(url)
    assert held is not None
    with pytest.raises(InputError, match="in use by pid"):
        lock_state_dir(url)
    held.close()  # the holder goes: the state is free again
    again = lock_state_dir(url)
    assert again is not None
    again.close()
    assert lock_state_dir("postgresql+psycopg://u@/db") is None  # several may share PostgreSQL


def test_second_service_on_one_state_exits_2(tmp_path: Path):
    first = Proc(tmp_path, name="first")
    first.start()
    try:
        second = Proc(tmp_path, name="second")
        proc = second.spawn()
        rc = proc.wait(timeout=60)
        err = [ln for ln in second.log.read_text().splitlines() if ln.strip()]
        assert rc == 2, err
        assert len(err) == 1 and "in use by pid" in err[0] and "Traceback" not in err[0]
        assert first.health()["status"] == "ok"  # the first one is untouched
    finally:
        first.stop()
