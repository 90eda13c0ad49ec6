"""Placement of a batch of jobs across the network: option table, MILP, heuristic."""

from suanli.network.placement.heuristic import greedy
from suanli.network.placement.milp import diagnose, solve
from suanli.network.placement.result import Placement, relative_gap
from suanli.network.placement.table import OptionTable, from_arrays, prune

__all__ = ["OptionTable", "Placement", "diagnose", "from_arrays", "greedy", "prune",
           "relative_gap", "solve"]
