"""An independent checker for placements, written apart from the solvers: plain Python loops over
the jobs' own numbers, no numpy tricks shared with the solver code.

Given the instance as lists (one entry per option: job, resource, devices, cost, time) and a
placement as "option index per job", it returns the list of violated rules:
  - each job placed exactly once, with one of its own options;
  - devices used on each resource <= its capacity;
  - every placed option meets its job's deadline;
  - the reported objective equals the sum (or max) recomputed here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Instance:
    job: list[int]
    resource: list[int]
    devices: list[int]
    cost: list[float]
    time: list[float]
    capacity: list[int]
    deadline: list[float]  # per job, seconds (inf = none)


def violations(inst: Instance, choice: list[int], value: float | None = None,
               objective: str = "cost") -> list[str]:
    out: list[str] = []
    n_jobs = len(inst.deadline)
    if len(choice) != n_jobs:
        return [f"{len(choice)} choices for {n_jobs} jobs"]
    used = [0] * len(inst.capacity)
    seen: set[int] = set()
    total, longest = 0.0, 0.0
    for j, k in enumerate(choice):
        if k < 0:
            out.append(f"job {j} not placed")
            continue
        if k in seen:
            out.append(f"option {k} used twice")
        seen.add(k)
        if inst.job[k] != j:
            out.append(f"job {j} took option {k} of job {inst.job[k]}")
            continue
        used[inst.resource[k]] += inst.devices[k]
        if inst.time[k] > inst.deadline[j]:
            out.append(f"job {j} misses its deadline ({inst.time[k]} > {inst.deadline[j]})")
        total += inst.cost[k]
        longest = max(longest, inst.time[k])
    for r, (u, c) in enumerate(zip(used, inst.capacity, strict=True)):
        if u > c:
            out.append(f"resource {r}: {u} devices used > capacity {c}")
    if value is not None:
        want = longest if objective == "makespan" else total
        if abs(want - value) > 1e-6 * max(1.0, abs(want)):
            out.append(f"reported objective {value} != recomputed {want}")
    return out
