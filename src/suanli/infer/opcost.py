"""One op's cost in a serving step and the roofline that turns it into seconds (split from
``infer.model``, which builds the ops).

An op's time is the p-norm ``(c^p + m^p)^(1/p)`` of its compute and memory times
(``Efficiency.roofline_sharpness``; p = inf is the plain roofline of Williams et al. 2009),
plus its communication or fixed time; a step's time is the visible sum over its ops
(``total_s``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["OpCost", "roofline", "scale_op", "total_s"]


@dataclass(frozen=True)
class OpCost:
    """One op summed over the layers of one device, for one step."""

    name: str
    flops: float  # FLOP per device
    bytes: float  # bytes moved per device
    compute_s: float  # flops / (peak x eff)
    memory_s: float  # bytes / (bw x eff)
    other_s: float = 0.0  # communication or fixed overhead
    sharpness: float = math.inf  # p of the roofline p-norm (Efficiency.roofline_sharpness)

    @property
    def time_s(self) -> float:
        return roofline(self.compute_s, self.memory_s, self.sharpness) + self.other_s

    @property
    def bound(self) -> str:
        if self.other_s < 0:
            return "overlap"  # time saved (the two-micro-batch row)
        if self.other_s > 0 and self.other_s >= max(self.compute_s, self.memory_s):
            return "communication" if self.name.startswith(("tp_", "ep_")) else "overhead"
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP per byte."""
        return self.flops / self.bytes if self.bytes else math.inf


def roofline(c: float, m: float, p: float) -> float:
    """``(c^p + m^p)^(1/p)``: the roofline max for ``p = inf``, smoother near the ridge."""
    hi = c if c > m else m
    if hi <= 0.0 or p == math.inf:
        return hi
    return hi * ((c / hi) ** p + (m / hi) ** p) ** (1.0 / p)


def scale_op(op: OpCost, k: float) -> OpCost:
    """``op`` repeated ``k`` times (every figure times ``k``)."""
    return OpCost(op.name, op.flops * k, op.bytes * k, op.compute_s * k, op.memory_s * k,
                  op.other_s * k, op.sharpness)


def total_s(ops: list[OpCost]) -> float:
    return sum(op.time_s for op in ops)
