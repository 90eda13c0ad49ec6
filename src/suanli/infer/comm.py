"""Collective times for serving (small, local: the training model's ``perf.comm`` is written
separately; the integrator may unify them).

Ring all-reduce, alpha-beta model (Thakur et al. 2005; Patarasuk & Yuan 2009):

    T = 2 (t-1)/t x bytes / bw + 2 (t-1) x alpha

All-to-all (pairwise exchange): ``T = (t-1)/t x bytes / bw + (t-1) x alpha``.
``bw`` is the per-device one-direction link bandwidth (bytes/s), ``alpha`` seconds per step.
"""

from __future__ import annotations


def ring_allreduce_s(nbytes: float, t: int, bw: float, alpha: float) -> float:
    """Seconds to all-reduce ``nbytes`` over ``t`` devices."""
    if t <= 1:
        return 0.0
    return 2.0 * (t - 1) / t * nbytes / bw + 2.0 * (t - 1) * alpha


def all_to_all_s(nbytes: float, t: int, bw: float, alpha: float) -> float:
    """Seconds for an all-to-all where each device sends ``nbytes`` in total."""
    if t <= 1:
        return 0.0
    return (t - 1) / t * nbytes / bw + (t - 1) * alpha
