"""Queue policies, chosen by name: ``make_policy("las")``. One module per policy."""

from __future__ import annotations

from suanli.sched.names import unknown
from suanli.sched.policies.base import Policy, SchedView
from suanli.sched.policies.cost import CostAware
from suanli.sched.policies.deadline_spot import DeadlineSpot
from suanli.sched.policies.fairshare import FairShare
from suanli.sched.policies.fifo import FIFO
from suanli.sched.policies.gavel import Gavel
from suanli.sched.policies.las import LAS
from suanli.sched.policies.las_sjf import LASEstimated
from suanli.sched.policies.sjf import SJF, SJFEstimated
from suanli.sched.throughput import ThroughputTable

POLICIES: tuple[str, ...] = ("fifo", "sjf", "sjf-est", "las", "las-sjf", "gavel", "cost",
                             "deadline-spot", "fairshare")


def make_policy(name: str, throughput: ThroughputTable | None = None) -> Policy:
    """A fresh policy object by name (policies may keep state, e.g. duration estimates)."""
    key = name.lower()
    simple: dict[str, type[Policy]] = {"fifo": FIFO, "sjf": SJF, "sjf-est": SJFEstimated,
                                       "las": LAS, "las-sjf": LASEstimated,
                                       "deadline-spot": DeadlineSpot, "fairshare": FairShare}
    if key in simple:
        return simple[key]()
    if key == "gavel":
        return Gavel(throughput)
    if key == "cost":
        return CostAware(throughput)
    raise unknown("policy", name, POLICIES)


__all__ = ["POLICIES", "Policy", "SchedView", "make_policy"]
