"""The transcribed reference and the comparison statistics."""

from __future__ import annotations

import numpy as np

from suanli.sched.reference import compare, load_reference, mean_ci, welch


def test_reference_reproduces_the_papers_default_figures() -> None:
    ref = load_reference()
    # Weng et al., ATC'23: Random 13.7, BestFit 7.1, FGD 4.8 unallocated GPU % at 100% arrived
    for policy, paper in (("random", 13.7), ("bestfit", 7.1), ("fgd", 4.8)):
        seeds = ref[("default", policy)]
        assert len(seeds) == 10
        assert abs(float(np.mean(seeds)) - paper) < 0.1, (policy, np.mean(seeds))
    assert all(len(v) == 10 for k, v in ref.items() if k != ("gpushare100", "gpupacking"))


def test_interval_statistics_by_hand() -> None:
    m, h = mean_ci([1.0, 2.0, 3.0])  # sd 1, n 3, t(0.975, 2) = 4.303
    assert m == 2.0 and abs(h - 4.303 / 3**0.5) < 1e-3
    d, dh = welch([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert d == 0.0 and dh > 0


def test_compare_flags_only_differences_beyond_noise() -> None:
    ref = {("default", "fgd"): [4.8, 4.9, 4.7, 4.8, 4.85]}
    runs = [{"list": "default", "placer": "fgd-pack", "seed": s, "unallocated_100": u}
            for s, u in enumerate([4.0, 4.1, 4.05, 3.95, 4.0])]
    runs += [{"list": "default", "placer": "fgd", "seed": s, "unallocated_100": u}
              for s, u in enumerate([4.7, 4.9, 4.8, 4.85, 4.75])]
    rows = {r["placer"]: r for r in compare(runs, ref)}
    assert rows["fgd-pack"]["verdict"] == "lower" and rows["fgd-pack"]["reference"] == "fgd"
    assert rows["fgd"]["verdict"] == "tie"
