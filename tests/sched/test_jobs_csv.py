"""A user's job log (``--format jobs-csv``): the documented schema, and every bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from suanli.errors import InputError
from suanli.sched.scenario import scenario
from suanli.sched.traces.jobs_csv import load_jobs_csv

GOOD = """job_id,submit,duration,num_gpu,gpu_milli,cpu_milli,mem_mib,gpu_type,kind,params
a,100,3600,8,,64000,262144,A100-80GB|H100-80GB,llama,7e9
b,160,60,1,500,4000,8192,,,
c,130,10,2,1000,0,0,,resnet,
"""


def write(tmp_path: Path, text: str | bytes, name: str = "log.csv") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def test_good_log_loads_with_every_column(tmp_path: Path) -> None:
    w = load_jobs_csv(write(tmp_path, GOOD))
    assert w.bad_rows == [] and len(w) == 3
    assert w.submit.tolist() == [0, 60, 30]  # shifted to the first submission
    assert w.num_gpu.tolist() == [8, 1, 2] and w.gpu_milli.tolist() == [1000, 500, 1000]
    assert w.specs[int(w.gpu_spec[0])] == ("A100-80GB", "H100-80GB")
    assert w.specs[int(w.gpu_spec[1])] == ()
    assert w.kinds[int(w.kind[0])] == "llama" and w.kinds[int(w.kind[1])] == "default"
    assert w.params is not None and w.params[0] == 7e9 and np.isnan(w.params[1])
    assert w.names == ["a", "b", "c"]


def test_iso_timestamps_and_deadlines(tmp_path: Path) -> None:
    w = load_jobs_csv(write(tmp_path, "submit,duration,num_gpu,deadline\n"
                            "2024-05-01T12:00:00,60,1,2024-05-01T13:00:00\n"
                            "2024-05-01T12:00:30,60,1,\n"))
    assert w.submit.tolist() == [0, 30]
    assert w.deadline is not None and w.deadline[0] == 3600 and np.isnan(w.deadline[1])


@pytest.mark.parametrize("row,why", [
    ("0,60,-1", "num_gpu -1"),
    ("0,60,0", "num_gpu 0"),
    ("0,0,1", "duration 0"),
    ("0,-5,1", "duration -5"),
    ("0,inf,1", "duration inf"),
    ("-3,60,1", "submit -3"),
    ("0,60,two", "not an integer"),
    ("yesterday,60,1", "neither seconds nor an ISO-8601"),
    ("0,60,1,0", "gpu_milli 0"),
    ("0,60,1,1500", "gpu_milli 1500"),
    ("0,60,2,500", "needs num_gpu 1"),
    ("0,60,1,,-4000", "cpu_milli -4000"),
    ("0,60,1,,,-1", "mem_mib -1"),
    ("0,60,1,,,,0", "params 0"),
    ("0,60,99999999999999,", "num_gpu 99999999999999"),
    ("0,60", "cells"),
])
def test_every_bad_row_is_reported_by_file_and_line(tmp_path: Path, row: str,
                                                    why: str) -> None:
    p = write(tmp_path, "submit,duration,num_gpu,gpu_milli,cpu_milli,mem_mib,params\n"
              f"0,60,1,,,,\n{row}\n")
    w = load_jobs_csv(p)
    assert len(w) == 1 and len(w.bad_rows) == 1
    assert w.bad_rows[0].startswith(f"{p}:3: ") and why in w.bad_rows[0], w.bad_rows


@pytest.mark.parametrize("content,why", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not a UTF-8 text CSV"),
    (b"submit,duration,num_gpu\n0,6\x000,1\n", "duration '6\\x000' is not a number"),
    (b"", "the file is empty"),
    (b"submit,duration,num_gpu\n" + b"7" * 200_000 + b",1,1\n", "not a readable CSV"),
    (b"time,gpus\n0,1\n", "missing column(s) ['submit', 'duration', 'num_gpu']"),
    (b"submit,duration,num_gpu\n", "no valid job rows"),
    (b"submit,duration,num_gpu\n0,-1,1\n", "no valid job rows (1 bad"),
])
def test_unreadable_files_raise_one_input_error(tmp_path: Path, content: bytes,
                                                why: str) -> None:
    with pytest.raises(InputError) as e:
        load_jobs_csv(write(tmp_path, content))
    assert why in str(e.value)


def test_scenario_stops_on_bad_rows_unless_skip_bad(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD + "d,200,60,0\n")
    with pytest.raises(InputError) as e:
        scenario(str(p), "2x8")
    assert f"{p}:5: num_gpu 0" in str(e.value) and "--skip-bad" in str(e.value)
    sc = scenario(str(p), "2x8", skip_bad=True)
    assert sc.config["jobs"] == 3 and sc.config["bad_row_list"] == [
        f"{p}:5: num_gpu 0 must be in 1..1000000"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "suanli.cli.main", "sim", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_runs_a_job_log_and_charges_checkpoints(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD)
    r = _cli("run", "--trace", str(p), "--format", "jobs-csv", "--cluster", "2x8:A100-80GB",
             "--policy", "las", "--json")
    assert r.returncode == 0, r.stderr
    assert '"finished": 3' in r.stdout and '"preemption_overhead_gpu_h"' in r.stdout


def test_cli_bad_rows_exit_2_and_skip_bad_lists_them(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD + "d,200,60,-2\n")
    r = _cli("run", "--trace", str(p), "--cluster", "2x8", "--json")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{p}:5: num_gpu -2" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _cli("run", "--trace", str(p), "--cluster", "2x8", "--json", "--skip-bad")
    assert r.returncode == 0, r.stderr
    assert f"skipped bad row: {p}:5: num_gpu -2" in r.stderr


@pytest.mark.parametrize("content", [b"\x00\x01\x02\xff\xfe binary", b"", b"a,b\n1,2\n"])
def test_cli_no_traceback_on_any_file(tmp_path: Path, content: bytes) -> None:
    p = write(tmp_path, content, "weird.csv")
    r = _cli("run", "--trace", str(p), "--cluster", "2x8")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and str(p) in r.stderr


def test_cli_missing_file_and_folder(tmp_path: Path) -> None:
    for target in (str(tmp_path / "nope.csv"), str(tmp_path)):
        r = _cli("run", "--trace", target, "--format", "jobs-csv", "--cluster", "2x8")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("args,why", [
    (("--scale", "-1"), "--scale must be a number > 0"),
    (("--scale", "0"), "--scale must be a number > 0"),
    (("--limit", "-5"), "--limit must be >= 1"),
    (("--limit", "0"), "--limit must be >= 1"),
    (("--load", "0"), "--load must be in (0, 100]"),
    (("--load", "-0.5"), "--load must be in (0, 100]"),
    (("--params", "0"), "--params must be a finite number > 0"),
    (("--ckpt-gbps", "-1"), "--ckpt-gbps must be a finite number > 0"),
    (("--restart-s", "-1"), "--restart-s must be a finite number >= 0"),
    (("--cluster", "0x8"), "need 1..1e6 nodes of 1..64 GPUs"),
    (("--cluster", "4x0"), "need 1..1e6 nodes of 1..64 GPUs"),
    (("--format", "parquet"), "unknown --format 'parquet'"),
])
def test_cli_rejects_out_of_range_numbers_in_one_line(args: tuple[str, ...], why: str) -> None:
    r = _cli("run", "--trace", "synthetic:50", *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert why in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_named_trace_loaders_also_fail_in_one_line_on_binary_files(tmp_path: Path) -> None:
    p = write(tmp_path, b"\xff\xfe\x00\x01binary\x00", "philly.csv")
    for spec in (f"philly:{p}", f"openb:{p}"):
        with pytest.raises(InputError) as e:
            scenario(spec, "2x8")
        assert "not a UTF-8 text CSV" in str(e.value) or "not a readable CSV" in str(e.value)
