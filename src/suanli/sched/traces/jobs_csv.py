"""A user's own job log: ``suanli sim run --trace mylog.csv --format jobs-csv``.

One row per job; a header row names the columns (any order; unknown columns are ignored):

==============  ========  ====================================================================
column          required  meaning
==============  ========  ====================================================================
``submit``      yes       submission time: seconds from any origin (number >= 0) or an
                          ISO-8601 timestamp (``2024-05-01T12:00:00``); shifted so the first
                          job arrives at 0
``duration``    yes       run time in seconds (> 0) on the reference GPU type (``V100``; other
                          types run at the throughput table's speed)
``num_gpu``     yes       GPUs (integer >= 1)
``gpu_milli``   no        thousandths of each GPU (1..1000, default 1000; < 1000 only with
                          ``num_gpu`` = 1: a GPU-sharing job)
``cpu_milli``   no        milli-cores for the whole job (>= 0, default 0)
``mem_mib``     no        memory in MiB for the whole job (>= 0, default 0)
``gpu_type``    no        allowed GPU types separated by ``|`` (empty = any)
``kind``        no        job kind or model name (throughput table row; default ``default``)
``deadline``    no        absolute deadline, same clock as ``submit`` (seconds or ISO-8601)
``params``      no        model parameters (> 0; e.g. ``7e9``): sets the checkpoint size that
                          preemptions pay for (default: ``--params`` of the CLI)
``job_id``      no        any text, kept as the job's name
==============  ========  ====================================================================

Every bad row is reported as ``file:line: why`` (:attr:`Workload.bad_rows`); the CLI exits 2
on any unless ``--skip-bad`` is given (then it lists them and runs the good rows).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from suanli.errors import InputError
from suanli.sched.job import MILLI, Workload
from suanli.sched.traces.common import read_rows, require

REQUIRED = ("submit", "duration", "num_gpu")
MAX_GPUS = 1_000_000  # per job; beyond any real cluster (guards int32 columns)
MAX_AMOUNT = 10**15  # milli-cores / MiB / parameters; beyond any real job


def _time(text: str, what: str) -> float:
    """Seconds from a number or an ISO-8601 timestamp (seconds since the Unix epoch)."""
    t = text.strip()
    try:
        x = float(t)
    except ValueError:
        try:
            ts = np.datetime64(t, "s")
        except ValueError:
            raise ValueError(f"{what} '{t}' is neither seconds nor an ISO-8601 time") from None
        if np.isnat(ts):
            raise ValueError(f"{what} is empty") from None
        return float(ts.astype(np.int64))
    require(math.isfinite(x) and x >= 0, f"{what} {t} must be a finite number >= 0")
    return x


def _int(row: dict[str, str], col: str, default: int, lo: int, hi: int) -> int:
    text = (row.get(col) or "").strip()
    if not text:
        return default
    try:
        v = int(text)
    except ValueError:
        raise ValueError(f"{col} '{text}' is not an integer") from None
    require(lo <= v <= hi, f"{col} {v} must be in {lo}..{hi}")
    return v


def _parse(row: dict[str, str]) -> tuple[float, float, int, int, int, int, str, str,
                                         float, float, str]:
    submit = _time(row["submit"], "submit")
    try:
        dur = float(row["duration"])
    except ValueError:
        raise ValueError(f"duration '{row['duration'].strip()}' is not a number") from None
    require(math.isfinite(dur) and dur > 0, f"duration {row['duration'].strip()} must be > 0 s")
    num = _int(row, "num_gpu", -1, 1, MAX_GPUS)
    require(num >= 1, "num_gpu is empty; give the GPUs per job (>= 1)")
    milli = _int(row, "gpu_milli", MILLI, 1, MILLI)
    require(num == 1 or milli == MILLI,
            f"gpu_milli {milli} < 1000 needs num_gpu 1 (only single-GPU jobs share a GPU)")
    cpu = _int(row, "cpu_milli", 0, 0, MAX_AMOUNT)
    mem = _int(row, "mem_mib", 0, 0, MAX_AMOUNT)
    spec = "|".join(x.strip() for x in (row.get("gpu_type") or "").split("|") if x.strip())
    kind = (row.get("kind") or "").strip() or "default"
    ddl_text = (row.get("deadline") or "").strip()
    ddl = _time(ddl_text, "deadline") if ddl_text else math.nan
    p_text = (row.get("params") or "").strip()
    params = math.nan
    if p_text:
        try:
            params = float(p_text)
        except ValueError:
            raise ValueError(f"params '{p_text}' is not a number") from None
        require(math.isfinite(params) and 0 < params <= MAX_AMOUNT,
                f"params {p_text} must be a number in (0, 1e15]")
    return (submit, dur, num, milli, cpu, mem, spec, kind, ddl, params,
            (row.get("job_id") or "").strip())


def load_jobs_csv(path: str | Path) -> Workload:
    """Load a job log in the documented schema; bad rows land in ``bad_rows``."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"job log '{path}' not found; give the path to a CSV file")
    bad: list[str] = []
    rows = list(read_rows(p, REQUIRED, _parse, bad))
    n = len(rows)
    if n == 0:
        raise InputError(f"{p}: no valid job rows" + (f" ({len(bad)} bad, first: {bad[0]})"
                                                      if bad else "") + "; see docs/sched.md")
    submit = np.array([r[0] for r in rows], dtype=float)
    origin = float(submit.min())
    specs: dict[str, int] = {"": 0}
    kinds: dict[str, int] = {}
    spec_idx = [specs.setdefault(r[6], len(specs)) for r in rows]
    kind_idx = [kinds.setdefault(r[7], len(kinds)) for r in rows]
    ddl = np.array([r[8] for r in rows], dtype=float) - origin
    params = np.array([r[9] for r in rows], dtype=float)
    return Workload(submit=submit - origin,
                    duration=np.array([r[1] for r in rows], dtype=float),
                    num_gpu=np.array([r[2] for r in rows], dtype=np.int32),
                    gpu_milli=np.array([r[3] for r in rows], dtype=np.int32),
                    cpu_milli=np.array([r[4] for r in rows], dtype=np.int64),
                    mem_mib=np.array([r[5] for r in rows], dtype=np.int64),
                    gpu_spec=np.array(spec_idx, dtype=np.int32),
                    specs=[tuple(s.split("|")) if s else () for s in specs],
                    kind=np.array(kind_idx, dtype=np.int32), kinds=list(kinds),
                    deadline=ddl if np.isfinite(ddl).any() else None,
                    names=[r[10] or f"job-{i}" for i, r in enumerate(rows)],
                    params=params if np.isfinite(params).any() else None,
                    source=str(p), bad_rows=bad)
