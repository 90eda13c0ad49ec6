"""Jobs started per second by the default (Ray) executor: sandboxed ``true`` jobs on a real head.

Starts an embedded Ray head with token auth in a temp data dir (or adopts the one in
``--data-dir``), submits ``--jobs`` jobs of ``--cpus`` CPUs each as fast as it can, waits until
all have ended, and prints submit calls/s, jobs started/s (jobs over the time from the first
submit to the last job's start) and jobs finished/s. With ``--executor subprocess`` on a
cgroup-v1 machine it also prints the CPU time per job of everything the executor started
(launchers, bubblewrap, the jobs), from a ``cpuacct`` group this benchmark runs in. Every job
runs in the bubblewrap sandbox, as in the service. Bounded: ~``jobs / 10`` s of work plus the
head's start (~10 s).

    python benchmarks/bench_executor.py --jobs 200 --cpus 1
    python benchmarks/bench_executor.py --executor subprocess --jobs 50
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

from suanli.service.executors.base import JobSpec

CPUACCT = Path("/sys/fs/cgroup/cpuacct")  # cgroup v1 CPU accounting (None elsewhere)


def _cpuacct_group() -> Path | None:
    """A fresh ``cpuacct`` group holding this process (and so all it starts), or None."""
    group = CPUACCT / f"suanli-bench-{os.getpid()}"
    try:
        group.mkdir()
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        return None
    return group


def _cpu_ns(group: Path) -> int:
    """CPU nanoseconds used so far by every process that was ever in ``group``."""
    return int((group / "cpuacct.usage").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--cpus", type=float, default=1.0, help="CPUs each job asks for")
    ap.add_argument("--executor", choices=("ray", "subprocess"), default="ray")
    ap.add_argument("--data-dir", type=Path, default=None, help="keep/adopt the head here")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="suanli-bench-")
    data = a.data_dir or Path(tmp)
    ex: object
    if a.executor == "ray":
        from suanli.service.executors.ray_executor import RayExecutor

        t0 = time.perf_counter()
        rex = RayExecutor(data_dir=data, sites={"local": {"CPU": 2.0}}, num_cpus=2)
        rex.start()
        print(f"head up and connected in {time.perf_counter() - t0:.1f} s")
        ex, site = rex, sorted(rex.resources())[0]  # an adopted head may name its site
    group = None
    if a.executor == "subprocess":
        group = _cpuacct_group()
        from suanli.service.local_subprocess import SubprocessExecutor

        sex = SubprocessExecutor(data / "runs")
        sex.start()
        ex, site = sex, "local"
    run = f"b{int(time.time())}"
    specs = [JobSpec(job_id=f"{run}-{i}", tenant_id=f"tenant-{i % 3}", kind="command",
                     command="true", entrypoint=None, cpus=a.cpus, site=site)
             for i in range(a.jobs)]
    try:
        cpu0, own0 = (_cpu_ns(group), time.process_time()) if group else (0, 0.0)
        t0 = time.time()
        handles = [ex.submit(s) for s in specs]  # type: ignore[attr-defined]
        t_sub = time.time() - t0
        pending = set(handles)
        deadline = time.monotonic() + 30 + a.jobs
        while pending and time.monotonic() < deadline:
            pending = {h for h in pending if not ex.status(h).state.terminal}  # type: ignore
            time.sleep(0.2)
        sts = [ex.status(h) for h in handles]  # type: ignore[attr-defined]
        ok = sum(s.state.value == "succeeded" for s in sts)
        starts = sorted(s.started_at for s in sts if s.started_at)
        ends = sorted(s.finished_at for s in sts if s.finished_at)
        print(f"{a.executor}: {a.jobs} jobs x {a.cpus:g} CPU, {ok} succeeded")
        print(f"submit calls/s   {a.jobs / t_sub:8.1f}")
        print(f"jobs started/s   {len(starts) / (starts[-1] - t0):8.1f}")
        print(f"jobs finished/s  {len(ends) / (ends[-1] - t0):8.1f}")
        if group is not None:
            ex.shutdown()  # type: ignore[attr-defined]
            spent = (_cpu_ns(group) - cpu0) / 1e9 - (time.process_time() - own0)  # s
            print(f"CPU per job      {1e3 * spent / a.jobs:8.1f} ms (launcher, sandbox and job; "
                  f"this process's own {1e3 * (time.process_time() - own0) / a.jobs:.1f} ms "
                  "apart)")
    finally:
        if group is not None:  # empty once the last launcher has exited
            with contextlib.suppress(OSError):
                (CPUACCT / "cgroup.procs").write_text(str(os.getpid()))
            for _ in range(100):
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
        if a.executor == "ray" and a.data_dir is None:
            rex.shutdown()


if __name__ == "__main__":
    main()
