"""Turn short names into a (cluster, workload) pair, and run/compare policies on it.

Trace specs: ``philly``, ``openb`` or ``openb:<list>`` (pods with durations from their
creation/deletion times), ``dlrm``, ``synthetic:<jobs>``. Cluster specs: ``philly`` (scaled by
``scale``), ``openb``, ``openb-all``, ``spot`` (the Alibaba 2026 inventory), or node groups
``<nodes>x<gpus>[:<gpu type>][@<site>]`` joined by ``,`` (a site whose name contains ``spot``
is a spot site, priced at ``SPOT_PRICE_FACTOR`` x list). Several sites in one cluster let one
simulation span a network of sites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from suanli.errors import InputError
from suanli.sched.cluster import Cluster, Site
from suanli.sched.job import Workload

GROUP = re.compile(r"^(\d+)x(\d+)(?::([\w.\-]+))?(?:@([\w.\-]+))?$")
SPOT_PRICE_FACTOR = 0.35  # assumption: spot GPUs ~65% below on-demand (typical cloud discount)
DEFAULT_CLUSTER = {"philly": "philly", "openb": "openb", "dlrm": "spot", "synthetic": "1250x8"}
REFERENCE_GPU = "V100"  # trace durations are taken as measured on this type (speed 1.0)


@dataclass
class Scenario:
    cluster: Cluster
    workload: Workload
    config: dict[str, Any]


def parse_groups(spec: str) -> Cluster:
    """``100x8:A100-80GB@east,50x8:H800@west-spot`` -> a multi-site cluster."""
    rows: list[tuple[str, int, int, int, str, str]] = []
    sites: dict[str, Site] = {}
    for part in spec.split(","):
        m = GROUP.match(part.strip())
        if not m:
            raise InputError(f"bad cluster group '{part}'; write <nodes>x<gpus>[:<type>][@site],"
                             " e.g. 100x8:A100-80GB@east")
        nodes, gpus = int(m[1]), int(m[2])
        if nodes < 1 or gpus < 1 or nodes > 10**6 or gpus > 64:
            raise InputError(f"bad cluster group '{part}': need 1..1e6 nodes of 1..64 GPUs")
        gtype, site = m[3] or "V100", m[4] or "site0"
        spot = "spot" in site
        sites.setdefault(site, Site(name=site, spot=spot,
                                    price_factor=SPOT_PRICE_FACTOR if spot else 1.0))
        rows += [(f"{site}-{gtype}-{len(rows) + i:05d}", gpus * 8000, gpus * 64 * 1024, gpus,
                  gtype, site) for i in range(nodes)]
    if not rows:
        raise InputError("empty cluster spec; give at least one <nodes>x<gpus> group")
    return Cluster.from_nodes(rows, list(sites.values()))


def load_cluster(spec: str, scale: float = 1.0) -> Cluster:
    from suanli.sched.traces.openb import load_openb_nodes
    from suanli.sched.traces.philly import philly_cluster
    from suanli.sched.traces.spot_nodes import load_spot_nodes

    if spec == "philly":
        return philly_cluster(scale)
    if spec == "openb":
        return load_openb_nodes()
    if spec == "openb-all":
        return load_openb_nodes("openb_node_list_all_node.csv")
    if spec == "spot":
        return load_spot_nodes()
    return parse_groups(spec)


def load_trace(spec: str, cluster_gpus: float, seed: int = 0, load: float = 0.7,
               fmt: str = "auto") -> Workload:
    """A trace by name (``philly``, ``openb[:list]``, ``dlrm``, ``synthetic[:jobs]``) or a
    user's job log (``fmt="jobs-csv"``, or any path ending in ``.csv`` with ``fmt="auto"``).
    ``cluster_gpus`` is the capacity synthetic arrivals are sized against (reference GPUs)."""
    from suanli.sched.traces.dlrm import load_dlrm
    from suanli.sched.traces.jobs_csv import load_jobs_csv
    from suanli.sched.traces.openb import load_openb_pods
    from suanli.sched.traces.philly import load_philly
    from suanli.sched.traces.synthetic import synthetic

    if fmt not in ("auto", "jobs-csv"):
        raise InputError(f"unknown --format '{fmt}'; use jobs-csv (a job log, see docs/sched.md)"
                         " or auto")
    if fmt == "jobs-csv" or (spec.lower().endswith(".csv") and ":" not in spec):
        return load_jobs_csv(spec)
    name, _, arg = spec.partition(":")
    if name == "philly":
        return load_philly(arg or "philly.csv")
    if name == "openb":
        return load_openb_pods(arg or "default")
    if name == "dlrm":
        return load_dlrm(arg or "disaggregated_DLRM_trace.csv")
    if name == "synthetic":
        try:
            jobs = int(float(arg)) if arg else 10_000
        except ValueError:
            raise InputError(f"synthetic:<jobs> needs a number, got '{arg}'") from None
        return synthetic(jobs, cluster_gpus, load=load, seed=seed)
    raise InputError(f"unknown trace '{spec}'; use philly, openb[:list], dlrm or "
                     "synthetic[:jobs]")


SYNTHETIC_KINDS = ("compute", "default", "memory")  # the synthetic trace's kind mix (uniform)


def reference_capacity(c: Cluster, table: Any, kinds: tuple[str, ...] = SYNTHETIC_KINDS
                       ) -> float:
    """The cluster's capacity in reference-GPU equivalents: sum over GPUs of the mean speed of
    the ``kinds`` on that GPU's type (``table`` relative to the reference type). Offered load
    is work per second (reference GPU-seconds) over this, so ``--load 0.8`` keeps 80% of *this*
    cluster busy whatever its GPU types."""
    speed = np.array([np.mean([table.get(k, t) for k in kinds]) for t in c.types] + [0.0])
    return float((c.gpu_count * speed[c.gpu_type]).sum())


def offered_load(w: Workload, capacity: float) -> float:
    """Measured offered load of a trace: GPU-seconds of work over (span x capacity)."""
    if len(w) < 2 or capacity <= 0:
        return float("nan")
    span = float(w.submit.max() - w.submit.min())
    work = float(np.nansum(w.gpus * w.duration))
    return work / (span * capacity) if span > 0 else float("nan")


def check_args(scale: float, load: float, limit: int | None) -> None:
    """One-line errors for out-of-range CLI numbers."""
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(f"--scale must be a number > 0 (a factor on the cluster's node "
                         f"counts), got {scale}")
    if not (np.isfinite(load) and 0 < load <= 100):
        raise InputError(f"--load must be in (0, 100] (offered load as a fraction of the "
                         f"cluster's capacity), got {load}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1 (the first N jobs by submit time), got {limit}")


def scenario(trace: str, cluster: str | None = None, scale: float = 1.0, seed: int = 0,
             load: float = 0.7, limit: int | None = None, fmt: str = "auto",
             skip_bad: bool = False) -> Scenario:
    """Cluster + workload for a trace spec (the trace's default cluster unless given).

    Bad trace rows raise :class:`InputError` (the first one and the count) unless
    ``skip_bad``; then they are dropped and listed in ``config["bad_row_list"]``.
    """
    from suanli.sched.throughput import ThroughputTable

    check_args(scale, load, limit)
    name = trace.partition(":")[0]
    is_csv = fmt == "jobs-csv" or (trace.lower().endswith(".csv") and ":" not in trace)
    cspec = cluster or ("1250x8" if is_csv else DEFAULT_CLUSTER.get(name, "1250x8"))
    c = load_cluster(cspec, scale)
    table = ThroughputTable.from_catalog(c.types, reference=REFERENCE_GPU)
    cap = reference_capacity(c, table)
    w = load_trace(trace, cap, seed=seed, load=load, fmt=fmt)
    if w.bad_rows and not skip_bad:
        more = f" (and {len(w.bad_rows) - 1} more)" if len(w.bad_rows) > 1 else ""
        raise InputError(f"bad trace row: {w.bad_rows[0]}{more}; fix the file or pass "
                         "--skip-bad to run without them (they are listed)")
    if limit is not None and limit < len(w):
        w = w.take(np.argsort(w.submit, kind="stable")[:limit])
    cfg = {"trace": trace, "cluster": cspec, "scale": scale, "seed": seed, "load": load,
           "limit": limit, "cluster_nodes": len(c), "cluster_gpus": c.total_gpus,
           "capacity_reference_gpus": round(cap, 1), "reference_gpu": REFERENCE_GPU,
           "offered_load": offered_load(w, cap),
           "sites": [s.name for s in c.sites], "jobs": len(w),
           "bad_rows": len(w.bad_rows), "bad_row_list": list(w.bad_rows),
           "trace_source": w.source}
    return Scenario(c, w, cfg)


def simulate(sc: Scenario, policy: str, placement: str, seed: int = 0, backfill: bool = True,
             spot_trace: str | None = None, progress: Any = None,
             ckpt: dict[str, float] | None = None) -> Any:
    """Run one policy + placer on a scenario; returns a :class:`SimResult`."""
    from suanli.sched.placement import make_placer
    from suanli.sched.policies import make_policy
    from suanli.sched.preemption import CheckpointCost
    from suanli.sched.simulate import Simulator
    from suanli.sched.throughput import ThroughputTable

    table = ThroughputTable.from_catalog(sc.cluster.types, reference=REFERENCE_GPU)
    cost = CheckpointCost.for_jobs(len(sc.workload), sc.workload.params, **(ckpt or {}))
    spot = {}
    if spot_trace:
        from suanli.sched.traces.skypilot import load_spot_trace

        spot_sites = [i for i, s in enumerate(sc.cluster.sites) if s.spot]
        if not spot_sites:
            raise InputError("--spot-trace given but the cluster has no spot site; name a "
                             "site with 'spot' in it, e.g. 64x8@spot")
        trace = load_spot_trace(spot_trace)
        spot = {i: trace for i in spot_sites}
    sim = Simulator(sc.cluster, sc.workload, make_policy(policy, table),
                    make_placer(placement, sc.workload), seed=seed, backfill=backfill,
                    throughput=table, spot=spot, ckpt=cost, progress=progress)
    return sim.run()
