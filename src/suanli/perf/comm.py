"""Collective communication time, alpha-beta model, over the link class that carries it.

For a ring over ``n`` ranks moving a buffer of ``B`` bytes per rank (Thakur et al. 2005;
NCCL's "bus bandwidth" convention):

    all-reduce        2 (n-1)/n * B / bw + 2 (n-1) * alpha
    reduce-scatter      (n-1)/n * B / bw +   (n-1) * alpha
    all-gather          (n-1)/n * B / bw +   (n-1) * alpha
    all-to-all          (n-1)/n * B / bw +   (n-1) * alpha    (pairwise exchange)
    point-to-point               B / bw +          alpha

``bw`` is the per-device, one-direction bandwidth of the link class (scale-up NVLink/ICI when all
ranks sit in one scale-up domain, else the scale-out NIC), times an achievable fraction
``comm_eff`` (nccl-tests bus bandwidth is typically 70-85% of the link rate).
All functions broadcast over numpy arrays so the planner can evaluate a whole grid at once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from suanli.catalog.schema import System

F = NDArray[np.float64]


def group_bandwidth(system: System, n: ArrayLike, stride: ArrayLike, comm_eff: float) -> F:
    """Achievable bytes/s per rank for a group of ``n`` ranks placed ``stride`` devices apart.

    Inside one scale-up domain the fast fabric carries it. Across nodes, NCCL runs one ring per
    NIC ("multi-rail"), so a group with ``k`` ranks in each node moves data through ``k`` NICs
    per node: bandwidth ``min(scale_up, k * scale_out)`` per rank. A data-parallel group with
    one rank per node (tp = 8) is limited by one NIC; FSDP over all 8 GPUs of each node gets
    the node's whole NIC bandwidth (nccl-tests multi-node bus bandwidth ~ node NIC total).
    """
    n = np.asarray(n, dtype=np.float64)
    stride = np.asarray(stride, dtype=np.float64)
    span = n * stride
    per_node = np.clip(np.floor(system.devices_per_node / stride), 1.0, np.maximum(n, 1.0))
    out = np.minimum(system.scale_up_gbs, per_node * system.scale_out_gbs)
    bw = np.where(span <= system.scale_up_domain, system.scale_up_gbs, out)
    return bw * 1e9 * comm_eff


def group_latency(system: System, n: ArrayLike, stride: ArrayLike) -> F:
    """Seconds per collective step (alpha) for the link class the group uses."""
    span = np.asarray(n, dtype=np.float64) * np.asarray(stride, dtype=np.float64)
    return np.where(span <= system.scale_up_domain, system.scale_up_latency_us,
                    system.scale_out_latency_us) * 1e-6


def all_reduce(nbytes: ArrayLike, n: ArrayLike, bw: ArrayLike, alpha: ArrayLike) -> F:
    """Ring all-reduce time in seconds; zero when ``n == 1``."""
    n = np.asarray(n, dtype=np.float64)
    b, w, a = (np.asarray(x, dtype=np.float64) for x in (nbytes, bw, alpha))
    t = 2.0 * (n - 1.0) / n * b / w + 2.0 * (n - 1.0) * a
    return np.where(n > 1, t, 0.0)


def reduce_scatter(nbytes: ArrayLike, n: ArrayLike, bw: ArrayLike, alpha: ArrayLike) -> F:
    """Ring reduce-scatter (or all-gather: same cost) of a ``nbytes`` buffer, seconds."""
    n = np.asarray(n, dtype=np.float64)
    b, w, a = (np.asarray(x, dtype=np.float64) for x in (nbytes, bw, alpha))
    t = (n - 1.0) / n * b / w + (n - 1.0) * a
    return np.where(n > 1, t, 0.0)


all_gather = reduce_scatter


def all_to_all(nbytes: ArrayLike, n: ArrayLike, bw: ArrayLike, alpha: ArrayLike) -> F:
    """Pairwise all-to-all where each rank holds ``nbytes`` and keeps 1/n of it, seconds."""
    return reduce_scatter(nbytes, n, bw, alpha)


def p2p(nbytes: ArrayLike, bw: ArrayLike, alpha: ArrayLike) -> F:
    """One point-to-point send, seconds."""
    b, w, a = (np.asarray(x, dtype=np.float64) for x in (nbytes, bw, alpha))
    return b / w + a


# --- scalar forms, for hot loops (the serving simulator's step time): same formulas, no numpy --


def ring_allreduce_s(nbytes: float, t: int, bw: float, alpha: float) -> float:
    """Seconds to all-reduce ``nbytes`` over ``t`` devices (scalar ``all_reduce``)."""
    if t <= 1:
        return 0.0
    return 2.0 * (t - 1) / t * nbytes / bw + 2.0 * (t - 1) * alpha


def all_to_all_s(nbytes: float, t: int, bw: float, alpha: float) -> float:
    """Seconds for an all-to-all where each device holds ``nbytes`` (scalar ``all_to_all``)."""
    if t <= 1:
        return 0.0
    return (t - 1) / t * nbytes / bw + (t - 1) * alpha
