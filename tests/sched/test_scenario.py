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
