"""First in, first out: order by submission time."""

from __future__ import annotations

from suanli.sched.policies.base import Policy


class FIFO(Policy):
    name = "fifo"
