"""Bounded-sample verification of a capacity plan: simulate a few replicas at their share of the
traffic instead of every replica at all of it, and say how sure the answer is.

**Which requests.** Requests are routed join-shortest-queue over ``r`` identical replicas, so
each replica sees about ``lambda / r`` of the traffic. Simulating ``k <= r`` replicas with a
Poisson stream of rate ``lambda x k / r`` (a thinned stream is again Poisson) keeps every
replica's load and the request-length mix, and bounds the requests to ``n_max``:

    D' = min(D, max(D_min, n_max x r / lambda)),   k = clamp(floor(n_max x r / (lambda x D')), 1, r)

``D_min`` (60 s) keeps the window long against a request's own latency, so the queue reaches
its steady state; the first ``warmup`` share of the window (20%) is replayed but not counted
(an empty system at time 0 would flatter the tail). Only a single replica busier than
``n_max / D_min`` requests/s simulates more than ``n_max`` requests, bounded by what one replica
can serve. ``k < r`` pools fewer queues, so queueing delays are, if anything, *over*-estimated
(the check is conservative). A real trace is thinned the same way (each request kept with
probability ``k / r``, a fixed seed) and cut to its first ``n_max`` requests.

**How sure.** Meeting a p99 limit means at least 99% of requests attain it. Over ``n`` sampled
requests with ``m`` attaining, the attainment ``p = m / n`` has the Wilson score interval
(Wilson 1927; Brown, Cai & DasGupta 2001 recommend it over the normal approximation near 0/1):

    (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n),   z = 1.96 for 95%

Requests in one simulation are correlated through the shared queue, so the true interval is
somewhat wider; it is stated with the result, never hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suanli.infer.trace import Request, synthetic_requests

DEFAULT_SAMPLE = 4000  # requests per simulation: a few seconds for a whole plan
MIN_WINDOW_S = 60.0  # simulated seconds at least (steady state against ~10-30 s requests)
WARMUP = 0.2  # share of the window replayed but not counted


@dataclass(frozen=True)
class Sample:
    replicas: int  # simulated (k)
    of: int  # replicas in the plan (r)
    requests: list[Request]
    duration_s: float


def sample_for(requests_per_s: float, replicas: int, duration_s: float, n_max: int,
               prompts: tuple[int, ...], outputs: tuple[int, ...], seed: int = 0,
               trace: tuple[Request, ...] = ()) -> Sample:
    """The ``k`` replicas and (at most ~``n_max``) requests that stand for ``replicas``."""
    per_replica = requests_per_s / replicas
    if trace:  # the trace's own span is the window
        duration_s = max(trace[-1].arrival_s - trace[0].arrival_s, 1e-9)
    dur = min(duration_s, max(MIN_WINDOW_S, n_max / per_replica))
    k = max(1, min(replicas, math.floor(n_max / (per_replica * dur))))
    share = k / replicas
    if trace:
        reqs = _thin(trace, share, n_max, seed)
        span = reqs[-1].arrival_s - reqs[0].arrival_s if len(reqs) > 1 else duration_s
        return Sample(k, replicas, reqs, span)
    return Sample(k, replicas, synthetic_requests(requests_per_s * share, dur, list(prompts),
                                                  list(outputs), seed), dur)


def _thin(trace: tuple[Request, ...], share: float, n_max: int, seed: int) -> list[Request]:
    import numpy as np

    if share >= 1.0:
        return list(trace[:n_max])
    keep = np.random.default_rng(seed).random(len(trace)) < share
    out = [r for r, k in zip(trace, keep, strict=True) if k][:n_max]
    return out or [trace[0]]


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (``z`` = 1.96: 95%)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    den = 1.0 + z * z / n
    mid = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo = 0.0 if successes == 0 else max(0.0, (mid - half) / den)  # exact 0 / 1 at the ends
    hi = 1.0 if successes == n else min(1.0, (mid + half) / den)
    return min(lo, p), max(hi, p)


@dataclass(frozen=True)
class Attainment:
    """Share of sampled requests meeting both limits, with its 95% interval."""

    n: int
    met: int
    low: float
    high: float

    @property
    def share(self) -> float:
        return self.met / self.n if self.n else 0.0

    def text(self) -> str:
        return (f"{self.share:.2%} of {self.n:,} sampled requests met the limits "
                f"(95% CI {self.low:.2%}-{self.high:.2%})")


def attainment(ttft_s: list[float], tpot_s: list[float], ttft_slo: float | None,
               tpot_slo: float | None) -> Attainment:
    """Requests with TTFT and TPOT (NaN: single-token output, no TPOT) within the limits."""
    met = 0
    for a, b in zip(ttft_s, tpot_s, strict=True):
        if (ttft_slo is None or a <= ttft_slo) and \
                (tpot_slo is None or math.isnan(b) or b <= tpot_slo):
            met += 1
    lo, hi = wilson(met, len(ttft_s))
    return Attainment(len(ttft_s), met, lo, hi)


@dataclass(frozen=True)
class Measured:
    """p99s and attainment over the counted (post-warm-up) requests of one simulation."""

    ttft_p99_s: float
    tpot_p99_s: float  # NaN when no request has a second token
    utilization: float
    attainment: Attainment


def measure(sample: Sample, ttft_s: list[float], tpot_s: list[float], utilization: float,
            ttft_slo: float | None, tpot_slo: float | None) -> Measured:
    """Drop requests arriving in the first ``WARMUP`` of the window (all of them if that would
    leave fewer than 100), then the p99s and the attainment of the rest. ``ttft_s``/``tpot_s``
    are in the order of ``sample.requests`` sorted by arrival (as the simulator returns them)."""
    import numpy as np

    order = sorted(sample.requests, key=lambda r: (r.arrival_s, r.id))
    t0 = order[0].arrival_s + WARMUP * sample.duration_s
    keep = [i for i, r in enumerate(order) if r.arrival_s >= t0]
    if len(keep) < 100:
        keep = list(range(len(order)))
    a = [ttft_s[i] for i in keep]
    b = [tpot_s[i] for i in keep]
    tp = np.asarray(b)
    tp = tp[~np.isnan(tp)]
    return Measured(float(np.percentile(a, 99)),
                    float(np.percentile(tp, 99)) if tp.size else math.nan, utilization,
                    attainment(a, b, ttft_slo, tpot_slo))
