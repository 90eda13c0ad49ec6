"""Cluster scheduling: a cluster model, queue policies, node placers, trace loaders and a
trace-driven discrete-event simulator.

One scheduler, two clocks: policies and placers never read a clock. They receive the cluster
state, the queue and ``now`` and return decisions; :mod:`suanli.sched.simulate` owns the virtual
clock (an :class:`suanli.events.EventLoop`) and the live service will call the same objects with
wall-clock time.
"""

from __future__ import annotations

from suanli.sched.cluster import Cluster, Site
from suanli.sched.job import Demand, Workload

__all__ = ["Cluster", "Demand", "Site", "Workload"]
