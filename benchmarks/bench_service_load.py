"""Load test of the service on loopback: N concurrent clients submit jobs and poll them.

Starts ``suanli service up`` (local-process executor, a fresh SQLite file in a temp folder) on
127.0.0.1 at a free port, creates a tenant, then runs ``--clients`` threads, each with its own
keep-alive httpx client, looping "submit a job, then GET it" until ``--seconds`` pass or
``--max-submits`` jobs were submitted (bounded in time and count; loopback only). Prints
sustained submissions/s, GET/s and p50/p99 latency of each, and how many submitted jobs the
scheduler had finished by the end (jobs are ``true``, so this measures the service, not work).

    python benchmarks/bench_service_load.py --clients 8 --seconds 10
    python benchmarks/bench_service_load.py --no-scheduler      # API and database only
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import httpx
import numpy as np
from service_harness import running_service


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--max-submits", type=int, default=20000)
    ap.add_argument("--no-scheduler", action="store_true")
    args = ap.parse_args()
    if not (1 <= args.clients <= 256 and 0 < args.seconds <= 120):
        raise SystemExit("--clients must be 1..256 and --seconds 0..120")

    with running_service(not args.no_scheduler, "suanli-bench-", 30.0) as svc:
        url, auth = svc.url, svc.auth
        submit_lat: list[float] = []
        get_lat: list[float] = []
        errors: list[str] = []
        ids: list[str] = []
        lock = threading.Lock()
        stop_at = time.perf_counter() + args.seconds

        def client(n: int) -> None:
            with httpx.Client(base_url=url, timeout=30,
                              headers=auth) as c:
                i = 0
                while time.perf_counter() < stop_at:
                    with lock:
                        if len(ids) >= args.max_submits:
                            return
                    t0 = time.perf_counter()
                    r = c.post("/api/v1/jobs", headers={"Idempotency-Key": f"c{n}-{i}"},
                               json={"name": f"b{n}", "kind": "command", "command": "true",
                                     "cpus": 0.01})
                    t1 = time.perf_counter()
                    if r.status_code != 201:
                        errors.append(f"submit {r.status_code}")
                        continue
                    jid = r.json()["id"]
                    g = c.get(f"/api/v1/jobs/{jid}")
                    t2 = time.perf_counter()
                    with lock:
                        submit_lat.append(t1 - t0)
                        ids.append(jid)
                        if g.status_code == 200:
                            get_lat.append(t2 - t1)
                        else:
                            errors.append(f"get {g.status_code}")
                    i += 1

        t_start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t_start
        with httpx.Client(base_url=url, headers=auth) as c:
            done = c.get("/api/v1/jobs?state=succeeded&limit=1000").json()["count"]
        s_ms, g_ms = np.array(submit_lat) * 1e3, np.array(get_lat) * 1e3
        print(f"clients={args.clients} wall={wall:.1f}s scheduler={not args.no_scheduler} "
              f"cpus={os.cpu_count()}")
        print(f"submissions: {len(s_ms)} ({len(s_ms) / wall:.1f}/s sustained), latency p50 "
              f"{np.percentile(s_ms, 50):.1f} ms, p99 {np.percentile(s_ms, 99):.1f} ms")
        print(f"gets:        {len(g_ms)} ({len(g_ms) / wall:.1f}/s), latency p50 "
              f"{np.percentile(g_ms, 50):.1f} ms, p99 {np.percentile(g_ms, 99):.1f} ms")
        print(f"errors: {len(errors)} {sorted(set(errors))[:5]}; succeeded by the end: "
              f"{done}{'+' if done == 1000 else ''}")


if __name__ == "__main__":
    main()
