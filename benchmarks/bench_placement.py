"""Placement at scale: 1,000 training jobs x 100 sites x every hardware type in the network.

    .venv/bin/python benchmarks/bench_placement.py [--jobs 1000] [--sites 100] [--seed 0]

The network is the built-in one (81 sites) plus SYNTHETIC owned sites (copies of the Chinese hubs
with jittered electricity, PUE and capex, clearly named ``synth-*``) up to ``--sites``. Jobs draw
a model, token count, deadline and data location at random. Durations come from the perf model,
once per (model, hardware type, device count), never per site.

Printed: time to compute durations, to build the option table, to solve with the heuristic
(full table; its Lagrangian lower bound gives a gap even without a MILP), and with the MILP
(HiGHS) on the pruned table, together with the heuristic on that same table, and the gaps.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from suanli.network.descriptor import SiteDescriptor
from suanli.network.jobs import TrainJob
from suanli.network.options import build_table, perf_run
from suanli.network.place import place_table
from suanli.network.placement import OptionTable, greedy, relative_gap
from suanli.network.sites import Network, load_network

MODELS = ("llama3-8b", "qwen2.5-7b", "llama2-13b", "mpt-30b", "llama3-70b", "mixtral-8x7b")
PLACES = ("shanghai", "beijing", "guangzhou", "chengdu", "frankfurt", "london", "new-york",
          "san-francisco", "tokyo", "singapore")
COUNTS = (8, 32, 128)


def network(n_sites: int, rng: np.random.Generator) -> Network:
    net = load_network(registry=Path("/nonexistent"))
    sites = dict(net.sites)
    hubs = [s for s in sites.values() if s.kind == "ai_centre"]
    i = 0
    while len(sites) < n_sites:
        base = hubs[i % len(hubs)]
        inv = [it.model_copy(update={"owned": it.owned.model_copy(update={
            "capex_usd_per_device": it.owned.capex_usd_per_device * rng.uniform(0.8, 1.2)})})
            if it.owned else it for it in base.inventory]
        sites[f"synth-{i}"] = SiteDescriptor.model_validate({
            **base.model_dump(), "id": f"synth-{i}", "name": f"SYNTHETIC copy of {base.id}",
            "electricity_usd_per_kwh": base.electricity_usd_per_kwh * rng.uniform(0.8, 1.2),
            "pue": round(float(rng.uniform(1.1, 1.4)), 2),
            "inventory": [x.model_dump() for x in inv]})
        i += 1
    return Network(dict(list(sites.items())[:n_sites]))


def jobs(n: int, rng: np.random.Generator) -> list[TrainJob]:
    out = []
    for j in range(n):
        model = str(rng.choice(MODELS))
        big = "70b" in model or "30b" in model
        out.append(TrainJob.model_validate({
            "id": f"job{j}", "model": model,
            "tokens": float(rng.uniform(20e9, 300e9 if big else 600e9)),
            "deadline": float(rng.uniform(10, 60)) * 86400.0,
            "data_size": float(rng.uniform(1e12, 50e12)), "data_location": str(rng.choice(PLACES)),
            "spot": bool(rng.random() < 0.3), "counts": COUNTS}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prune", type=int, default=20, help="options kept per job for the MILP")
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--shared-jobs", type=int, default=100,
                    help="jobs in the unpruned shared instance (MILP vs heuristic)")
    ap.add_argument("--gap", type=float, default=1e-3, help="MILP relative gap to stop at")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    net = network(args.sites, rng)
    batch = jobs(args.jobs, rng)
    hw = sorted({i.hardware for s in net.sites.values() for i in s.inventory})
    print(f"instance: {len(batch)} jobs x {len(net)} sites x {len(hw)} hardware types x "
          f"{len(COUNTS)} counts (+spot for 30% of jobs)")

    t0 = time.perf_counter()
    for model in MODELS:  # the perf model, once per (model, hardware, count)
        probe = TrainJob(id="probe", model=model, tokens=1e9)
        for h in hw:
            for n in COUNTS:
                perf_run(probe, h, n)
    t_perf = time.perf_counter() - t0
    print(f"durations: {len(MODELS) * len(hw) * len(COUNTS)} perf-model calls in {t_perf:.1f} s")

    t0 = time.perf_counter()
    table = build_table(net, batch)
    t_build = time.perf_counter() - t0
    print(f"option table: {table.n_options:,} options, {len(table.capacity)} resources, "
          f"{len(table.unplaceable)} jobs with no option, built in {t_build:.1f} s")
    keep = np.isin(table.job, [i for i, j in enumerate(batch) if j.id not in table.unplaceable])
    ids = [j for j in batch if j.id not in table.unplaceable]
    remap = np.cumsum(keep[np.r_[0, np.flatnonzero(np.diff(table.job)) + 1]]) - 1
    sub = table.take(keep)
    from dataclasses import replace

    sub = replace(sub, job=remap[sub.job], job_ids=tuple(j.id for j in ids), unplaceable={})

    t0 = time.perf_counter()
    full = greedy(sub, "cost")
    t_h = time.perf_counter() - t0
    lb = full.bound if full.bound is not None else float("nan")
    print(f"heuristic on the full table: ${full.value:,.0f} ({full.status}) in {t_h:.2f} s; "
          f"Lagrangian lower bound ${lb:,.0f} (gap to it {relative_gap(full.value, lb):.2%})")

    t0 = time.perf_counter()
    res = place_table(sub, method="both", prune_to=args.prune, time_limit_s=args.time_limit,
                      mip_rel_gap=args.gap)
    t_m = time.perf_counter() - t0
    assert res.milp is not None and res.heuristic is not None
    print(f"MILP (HiGHS) on {res.table.n_options:,} options ({args.prune}/job by "
          f"Lagrange-priced cost + fewest-devices + the heuristic's choice): "
          f"${res.milp.value:,.0f} ({res.milp.status}, MIP gap "
          f"{res.milp.mip_gap if res.milp.mip_gap is not None else float('nan'):.1e}) in "
          f"{res.milp.solve_s:.2f} s; within {relative_gap(res.milp.value, lb):.2%} of the "
          "full table's lower bound")
    print(f"heuristic vs MILP on that shared table: {res.heuristic_gap:.2%} above; "
          f"prune + both solvers took {t_m:.2f} s")
    total = t_perf + t_build + t_m
    print(f"end to end (durations + table + MILP + heuristic): {total:.1f} s "
          f"({'under' if total < 30 else 'OVER'} 30 s)")

    shared_instance(sub, args.shared_jobs)


def shared_instance(table: OptionTable, n_jobs: int) -> None:
    """Both solvers on one unpruned table (the first ``n_jobs`` jobs): the heuristic's gap."""
    from dataclasses import replace

    sub = table.take(table.job < n_jobs)
    sub = replace(sub, job_ids=sub.job_ids[:n_jobs])
    res = place_table(sub, method="both", prune_to=0, time_limit_s=60, mip_rel_gap=1e-4)
    assert res.milp is not None and res.heuristic is not None
    gap = res.heuristic_gap
    print(f"shared instance, {n_jobs} jobs, all {sub.n_options:,} options (no pruning): MILP "
          f"${res.milp.value:,.0f} ({res.milp.status}, gap {res.milp.mip_gap:.1e}, "
          f"{res.milp.solve_s:.1f} s); heuristic ${res.heuristic.value:,.0f} "
          f"({res.heuristic.solve_s:.2f} s); heuristic gap "
          + ("n/a (infeasible)" if gap is None else f"{gap:.3%}"))


if __name__ == "__main__":
    main()
