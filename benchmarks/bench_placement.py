"""Placement at scale: N training jobs x 100 sites x every hardware type in the network.

    .venv/bin/python benchmarks/bench_placement.py [--jobs 1000,10000] [--sites 100] [--cli]

The network is the built-in one (81 sites) plus SYNTHETIC owned sites (copies of the Chinese hubs
with jittered electricity, PUE and capex, clearly named ``synth-*``) up to ``--sites``; their
device counts of EVERY site (the example quotas included) are multiplied by
``--capacity-scale`` (default: 1 up to 1,000 jobs, else ``jobs / 1000``) so that bigger
batches still fit. Jobs draw a model, token count, deadline and data location at
random. Durations come from the perf model, once per (model, hardware type, device count).

Printed per batch size, at the CLI's defaults (``place_table`` with no options): seconds for
the durations, the option table and each solver stage; the answer, the lower bound of the FULL
problem and the signed gap between them; the heuristic's own value and gap. ``--cli`` also runs
the real ``suanli net place`` in a subprocess on the same instance (synthetic sites written to
a temporary registry) and prints its wall time end to end: imports, reading the jobs, the
table, the solve and the output.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from suanli.errors import InfeasibleError
from suanli.network.descriptor import SiteDescriptor
from suanli.network.jobs import TrainJob
from suanli.network.options import build_table, perf_run
from suanli.network.place import place_table
from suanli.network.sites import Network, load_network

MODELS = ("llama3-8b", "qwen2.5-7b", "llama2-13b", "mpt-30b", "llama3-70b", "mixtral-8x7b")
PLACES = ("shanghai", "beijing", "guangzhou", "chengdu", "frankfurt", "london", "new-york",
          "san-francisco", "tokyo", "singapore")
COUNTS = (8, 32, 128)


def network(n_sites: int, rng: np.random.Generator, scale: float = 1.0) -> Network:
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
    out = dict(list(sites.items())[:n_sites])
    if scale != 1.0:  # every site, built-in ones too (the CLI run registers them all)
        out = {k: v.model_copy(update={"inventory": [
            it.model_copy(update={"count": int(it.count * scale)}) for it in v.inventory]})
            for k, v in out.items()}
    return Network(out)


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
    ap.add_argument("--jobs", default="1000,10000", help="batch sizes, comma separated")
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cli", action="store_true", help="also time `suanli net place`")
    ap.add_argument("--capacity-scale", type=float, default=None,
                    help="multiply the synthetic sites' devices (default: module docstring)")
    args = ap.parse_args()
    for n in (int(x) for x in args.jobs.split(",")):
        scale = args.capacity_scale or (1.0 if n <= 1000 else n / 1000)
        run(n, args.sites, args.seed, args.cli, scale)


def run(n_jobs: int, n_sites: int, seed: int, cli: bool, scale: float) -> None:
    rng = np.random.default_rng(seed)
    net = network(n_sites, rng, scale=scale)
    batch = jobs(n_jobs, rng)
    hw = sorted({i.hardware for s in net.sites.values() for i in s.inventory})
    print(f"\n== {len(batch):,} jobs x {len(net)} sites x {len(hw)} hardware types x "
          f"{len(COUNTS)} counts (+spot for 30% of jobs); synthetic capacity x{scale:g}")
    t0 = time.perf_counter()
    for model in MODELS:  # the perf model, once per (model, hardware, count)
        probe = TrainJob(id="probe", model=model, tokens=1e9)
        for h in hw:
            for n in COUNTS:
                perf_run(probe, h, n)
    t_perf = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = build_table(net, batch)
    t_build = time.perf_counter() - t0
    print(f"durations {t_perf:.1f} s; option table {table.n_options:,} options, "
          f"{len(table.capacity)} resources, built in {t_build:.1f} s")
    if table.unplaceable:
        print(f"{len(table.unplaceable)} jobs have no option (deadline); left out")
        keep = [j for j in batch if j.id not in table.unplaceable]
        table = build_table(net, keep)
    t0 = time.perf_counter()
    try:
        res = place_table(table)  # the CLI's defaults
    except InfeasibleError as exc:
        print(f"infeasible after {time.perf_counter() - t0:.1f} s: {str(exc)[:400]}")
        return
    t_solve = time.perf_counter() - t0
    stages = ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in res.stage_s.items())
    print(f"answer ({res.best.method}, {res.best.status}): ${res.best.value:,.0f}; lower bound "
          f"of the full problem ${res.bound:,.0f} [{res.bound_basis}]; gap {res.gap:+.3%}")
    assert res.heuristic is not None
    hgap = res.heuristic_gap
    print(f"heuristic alone: ${res.heuristic.value:,.0f} ({res.heuristic.status}"
          + ("" if hgap is None else f", gap {hgap:+.3%}") + ")")
    print(f"solve {t_solve:.1f} s ({stages}); in-process total (durations + table + solve) "
          f"{t_perf + t_build + t_solve:.1f} s")
    if cli:
        print(f"`suanli net place` end to end: {cli_seconds(net, batch, scale != 1):.1f} s")


def cli_seconds(net: Network, batch: list[TrainJob], scaled: bool) -> float:
    """Wall time of the real CLI on this instance (synthetic sites in a temp registry)."""
    import os
    import subprocess
    import tempfile

    import yaml

    from suanli.network.descriptor import dump_descriptor

    with tempfile.TemporaryDirectory() as tmp:
        reg = Path(tmp) / "sites"
        reg.mkdir()
        for site in net.sites.values():  # registered ids replace the built-in ones
            if site.id.startswith("synth-") or scaled:
                name = site.id.replace(":", "_")
                (reg / f"{name}.yaml").write_text(dump_descriptor(site), encoding="utf-8")
        path = Path(tmp) / "jobs.yaml"
        rows = [j.model_dump(by_alias=True, exclude_none=True) for j in batch]
        path.write_text(yaml.safe_dump({"jobs": rows}), encoding="utf-8")
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "suanli.cli.main", "net", "place", str(path),
                              "--json"], capture_output=True, text=True,
                             env={**os.environ, "SUANLI_SITES_DIR": str(reg)}, check=False)
        wall = time.perf_counter() - t0
    if out.returncode != 0:
        print(f"CLI exit {out.returncode}: {out.stderr.strip()[-300:]}")
    return wall


if __name__ == "__main__":
    main()
