"""Heterogeneity-aware placement in the spirit of Gavel (Narayanan et al., OSDI'20).

Gavel allocates GPU types by each job's *relative* throughput, so that jobs which gain most
from a fast type get it. The greedy rule here: among feasible nodes, a job prefers the GPU
types where its normalised throughput ``X[kind, t] / mean_t' X[kind, t']`` is highest
(comparative advantage); the queue itself is FIFO. The simulator runs a job placed on type t
``X[kind, t]`` times faster than on the reference type. ``X`` comes from a
:class:`~suanli.sched.throughput.ThroughputTable` (catalog peaks now, the perf model later).
"""

from __future__ import annotations

import numpy as np

from suanli.sched.policies.base import Policy, SchedView
from suanli.sched.throughput import ThroughputTable


class Gavel(Policy):
    name = "gavel"

    def __init__(self, table: ThroughputTable | None = None) -> None:
        self.table = table or ThroughputTable()
        self._pref: dict[tuple[int, int], np.ndarray] = {}

    def node_preference(self, job: int, view: SchedView, now: float) -> np.ndarray | None:
        w, c = view.workload, view.cluster
        assert w.kind is not None
        kind = int(w.kind[job])
        key = (kind, id(c))
        if key not in self._pref:
            name = w.kinds[kind]
            x = np.array([self.table.get(name, t) for t in c.types] + [1.0])
            rel = x / x[:-1].mean() if len(x) > 1 else x
            self._pref[key] = -rel[c.gpu_type]  # lower is better
        return self._pref[key]
