"""The fit is reproducible: rerunning the documented procedure gives the committed table."""

from __future__ import annotations

import pytest

from suanli.calib.fit import FAMILY_PARAMS, fit
from suanli.perf.efficiency import load_efficiency


@pytest.mark.slow
def test_refit_reproduces_the_committed_parameters():
    committed = load_efficiency()
    res = fit()
    for fam, eff in res.table.families.items():
        for name, _, _ in FAMILY_PARAMS:
            assert getattr(eff, name) == pytest.approx(getattr(committed.families[fam], name),
                                                       rel=0.02, abs=0.5), (fam, name)
    stats = committed.meta["in_sample"]
    worst = max(abs(e) for e in res.in_sample.values())
    assert worst == pytest.approx(stats["max_abs_error"], abs=0.01)
