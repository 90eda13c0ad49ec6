"""Prometheus text exposition (format 0.0.4) without a client library.

A request-latency histogram (cumulative buckets, seconds, per route template and method) and
request counts; job counts by state are read from the database at scrape time.
"""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)  # seconds


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], int] = defaultdict(int)
        self._hist: dict[tuple[str, str], list[int]] = {}
        self._sum: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._counts[(method, route, status)] += 1
            h = self._hist.setdefault((method, route), [0] * (len(BUCKETS) + 1))
            for i, b in enumerate(BUCKETS):
                if seconds <= b:
                    h[i] += 1
            h[-1] += 1  # +Inf
            self._sum[(method, route)] += seconds

    def render(self, jobs_by_state: dict[str, int], scheduler_passes: int = 0) -> str:
        out = ["# HELP suanli_jobs_total Jobs by state.", "# TYPE suanli_jobs_total gauge"]
        out += [f'suanli_jobs_total{{state="{k}"}} {v}' for k, v in sorted(jobs_by_state.items())]
        out += ["# HELP suanli_scheduler_passes_total Scheduler passes since start.",
                "# TYPE suanli_scheduler_passes_total counter",
                f"suanli_scheduler_passes_total {scheduler_passes}"]
        out += ["# HELP suanli_http_requests_total HTTP requests.",
                "# TYPE suanli_http_requests_total counter"]
        with self._lock:
            for (m, r, st), n in sorted(self._counts.items()):
                out.append(f'suanli_http_requests_total{{method="{m}",route="{r}",'
                           f'status="{st}"}} {n}')
            out += ["# HELP suanli_http_request_duration_seconds Request latency.",
                    "# TYPE suanli_http_request_duration_seconds histogram"]
            for (m, r), h in sorted(self._hist.items()):
                lab = f'method="{m}",route="{r}"'
                for b, c in zip((*map(str, BUCKETS), "+Inf"), h, strict=True):
                    out.append(f'suanli_http_request_duration_seconds_bucket{{{lab},le="{b}"}}'
                               f" {c}")
                out.append(f"suanli_http_request_duration_seconds_sum{{{lab}}} "
                           f"{self._sum[(m, r)]:.6f}")
                out.append(f"suanli_http_request_duration_seconds_count{{{lab}}} {h[-1]}")
        return "\n".join(out) + "\n"
