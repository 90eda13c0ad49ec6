"""Cost-aware placement across sites: run each job where its work is cheapest.

Cost of a unit of work on node n = site price factor x GPU price per hour / relative speed
(catalog ``price_usd_per_hour`` of the node's GPU type; unknown prices count as the median of the
known ones). The queue is FIFO; among feasible nodes only the cheapest are scored by the placer,
so a job waits for no site: it takes the cheapest capacity free now.
"""

from __future__ import annotations

import numpy as np

from suanli.sched.policies.base import Policy, SchedView
from suanli.sched.throughput import ThroughputTable, catalog_accelerator


def gpu_prices(types: list[str]) -> np.ndarray:
    """$ per GPU-hour per type (catalog list price; median of known ones when unknown)."""
    p = np.array([getattr(catalog_accelerator(t), "price_usd_per_hour", None) or np.nan
                  for t in types], dtype=float)
    known = p[np.isfinite(p)]
    return np.where(np.isfinite(p), p, np.median(known) if len(known) else 1.0)


class CostAware(Policy):
    name = "cost"

    def __init__(self, table: ThroughputTable | None = None) -> None:
        self.table = table or ThroughputTable()
        self._cost: dict[tuple[int, int], np.ndarray] = {}

    def node_preference(self, job: int, view: SchedView, now: float) -> np.ndarray | None:
        w, c = view.workload, view.cluster
        assert w.kind is not None
        key = (int(w.kind[job]), id(c))
        if key not in self._cost:
            kind = w.kinds[int(w.kind[job])]
            speed = np.array([self.table.get(kind, t) for t in c.types] + [1.0])
            price = np.append(gpu_prices(c.types), 0.0)
            factor = np.array([s.price_factor for s in c.sites])
            self._cost[key] = np.round(price[c.gpu_type] * factor[c.site]
                                       / speed[c.gpu_type], 6)
        return self._cost[key]
