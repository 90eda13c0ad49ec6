from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from suanli.errors import InputError
from suanli.sched.experiments import fgd_sweep
from suanli.sched.scenario import parse_groups, scenario, simulate


def test_cluster_groups_make_sites() -> None:
    c = parse_groups("2x8:A100-80GB@east,3x4@west-spot")
    assert (len(c), c.total_gpus) == (5, 28)
    assert [s.name for s in c.sites] == ["east", "west-spot"]
    assert [s.spot for s in c.sites] == [False, True] and c.sites[1].price_factor < 1
    with pytest.raises(InputError, match="nodes"):
        parse_groups("8 GPUs")


def test_cost_policy_runs_work_on_the_cheaper_site() -> None:
    sc = scenario("synthetic:400", "8x8@east,8x8@west-spot", seed=1, load=0.3)
    fifo = simulate(sc, "fifo", "bestfit")
    cost = simulate(sc, "cost", "bestfit")
    assert cost.summary["cost_usd"] < fifo.summary["cost_usd"]
    assert cost.summary["finished"] == fifo.summary["finished"] == 400


def test_fgd_sweep_summary(traces: Path) -> None:
    res = fgd_sweep(["default"], ["random", "bestfit"], [42])
    by = {s["placer"]: s for s in res["summary"]}
    assert by["bestfit"]["unallocated_mean"] < by["random"]["unallocated_mean"]
    curve = np.array(by["random"]["mean_curve"])
    assert len(curve) == 131 and (np.diff(curve) >= -1e-9).all() and curve[-1] <= 100


def test_load_is_offered_on_the_clusters_real_capacity() -> None:
    # same seed, same jobs: on faster GPUs the arrivals come faster by the capacity ratio, so
    # the measured offered load (work over span x capacity) is the same on every GPU type
    v100 = scenario("synthetic:2000", "4x8:V100", seed=3, load=0.8)
    a100 = scenario("synthetic:2000", "4x8:A100-80GB", seed=3, load=0.8)
    cap_v, cap_a = (s.config["capacity_reference_gpus"] for s in (v100, a100))
    assert cap_v == 32 and cap_a > 1.5 * cap_v  # an A100 does more V100-seconds per second
    span = [float(s.workload.submit.max()) for s in (v100, a100)]
    assert abs(span[0] / span[1] / (cap_a / cap_v) - 1) < 2e-3  # capacity is rounded to 0.1
    assert abs(v100.config["offered_load"] - a100.config["offered_load"]) < 1e-9
    util = [simulate(s, "fifo", "bestfit").summary["utilization_while_arriving"]
            for s in (v100, a100)]
    assert util[1] > 0.7 * util[0]  # the A100 cluster is busy too (was ~1/2.4 of it)


def test_philly_shape_comes_from_the_sourced_data_file() -> None:
    from suanli.sched.traces.philly import philly_cluster, philly_shape

    shape = philly_shape()
    assert [(n, g) for n, g, _, _ in shape] == [(321, 2), (231, 8)]
    assert all("philly-traces" in src for *_, src in shape)
    assert philly_cluster().total_gpus == 2490 and philly_cluster(0.25).total_gpus == 624
    with pytest.raises(InputError, match="--scale must be > 0"):
        philly_cluster(-1)
