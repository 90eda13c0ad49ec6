"""Submission latency at a fixed offered rate (open loop): does p99 stay under 150 ms at 100/s?

Starts ``suanli service up`` (local-process executor, fresh SQLite in a temp folder, the
scheduler running) on 127.0.0.1, creates a tenant, then offers ``--rate`` submissions per
second for ``--seconds``: request ``i`` is due at ``t0 + i / rate`` and sent by one of
``--workers`` threads (each with a keep-alive client). Latency is measured from the due time,
so a service that falls behind shows it (no coordinated omission). Jobs are ``true`` with an
``Idempotency-Key``, as a careful client sends them. Prints achieved rate, p50/p95/p99/max
latency, errors, and how many jobs had started by the end.

    python benchmarks/bench_submit_rate.py                 # 100/s for 10 s
    python benchmarks/bench_submit_rate.py --rate 50 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import httpx
import numpy as np
from service_harness import cpu_seconds, running_service

TARGET_P99_MS = 150.0  # the target at 100 submissions/s


def _server_mean_ms(url: str) -> float:
    """Mean server-side latency of POST /api/v1/jobs from the service's own /metrics."""
    total = count = 0.0
    for line in httpx.get(url + "/metrics").text.splitlines():
        if 'method="POST",route="/api/v1/jobs"' in line:
            if line.startswith("suanli_http_request_duration_seconds_sum"):
                total = float(line.split()[-1])
            elif line.startswith("suanli_http_request_duration_seconds_count"):
                count = float(line.split()[-1])
    return 1e3 * total / max(count, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=100.0, help="submissions per second")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--no-scheduler", action="store_true", help="API and database only")
    args = ap.parse_args()
    if not (0 < args.rate <= 1000 and 0 < args.seconds <= 60 and 1 <= args.workers <= 64):
        raise SystemExit("--rate 0..1000, --seconds 0..60, --workers 1..64")

    with running_service(not args.no_scheduler, "suanli-rate-", 60.0) as svc:
        url, auth = svc.url, svc.auth
        n = int(args.rate * args.seconds)
        lat = np.full(n, np.nan)  # seconds from due time to response
        codes = np.zeros(n, dtype=np.int32)
        nxt, lock = [0], threading.Lock()
        t0 = time.perf_counter() + 0.5

        def worker() -> None:
            with httpx.Client(base_url=url, timeout=30, headers=auth) as c:
                while True:
                    with lock:
                        i = nxt[0]
                        nxt[0] += 1
                    if i >= n:
                        return
                    due = t0 + i / args.rate
                    wait = due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    r = c.post("/api/v1/jobs", headers={"Idempotency-Key": f"r{i}"},
                               json={"name": f"r{i}", "kind": "command", "command": "true",
                                     "cpus": 0.01})
                    lat[i], codes[i] = time.perf_counter() - due, r.status_code

        cpu0 = cpu_seconds(svc.pid)
        threads = [threading.Thread(target=worker) for _ in range(args.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(svc.pid) - cpu0
        with httpx.Client(base_url=url, headers=auth) as c:
            started = sum(c.get(f"/api/v1/jobs?state={s}&limit=1000").json()["count"]
                          for s in ("running", "succeeded", "failed"))
        ms = lat * 1e3
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        print(f"offered {args.rate:g}/s for {args.seconds:g} s ({n} submissions), cpus="
              f"{os.cpu_count()}, scheduler={not args.no_scheduler}, achieved "
              f"{n / wall:.1f}/s")
        print(f"submit latency: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max "
              f"{ms.max():.1f} ms (target p99 < {TARGET_P99_MS:g} ms: "
              f"{'met' if p99 < TARGET_P99_MS else 'MISSED'})")
        print(f"service process: {1e3 * cpu / n:.2f} CPU-ms per submission (scheduler "
              f"included), mean server-side time {_server_mean_ms(url):.1f} ms; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        bad = codes != 201
        print(f"errors: {int(bad.sum())} {sorted(set(codes[bad].tolist()))}; jobs started by the "
              f"end: {started}{'+' if started >= 1000 else ''}")


if __name__ == "__main__":
    main()
