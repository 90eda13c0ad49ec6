"""Bounded-sample verification of a capacity plan: simulate a few replicas at their share of the
traffic instead of every replica at all of it, and say how sure the answer is.

**Which requests.** Requests are routed join-shortest-queue over ``r`` identical replicas, so
each replica sees about ``lambda / r`` of the traffic. Simulating ``k <= r`` replicas with a
Poisson stream of rate ``lambda x k / r`` (a thinned stream is again Poisson) keeps every
replica's load and the request-length mix, and bounds the requests to ``n_max``:

    k = clamp(floor(n_max x r / (lambda x D)), 1, r),   duration D' = min(D, n_max x r / lambda)

``k < r`` pools fewer queues, so queueing delays are, if anything, *over*-estimated (the check
is conservative). A real trace is thinned the same way (each request kept with probability
``k / r``, a fixed seed) and cut to its first ``n_max`` requests.

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
    n_all = requests_per_s * duration_s
    k = max(1, min(replicas, math.floor(n_max * replicas / max(n_all, 1e-9))))
    share = k / replicas
    if trace:
        reqs = _thin(trace, share, n_max, seed)
        dur = reqs[-1].arrival_s - reqs[0].arrival_s if len(reqs) > 1 else duration_s
        return Sample(k, replicas, reqs, dur)
    dur = min(duration_s, n_max / (requests_per_s * share))
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
