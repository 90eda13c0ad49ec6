"""The fit is reproducible: rerunning the documented procedure gives the committed table."""

from __future__ import annotations

import pytest

from suanli.calib.fit import FAMILY_PARAMS, GLOBAL_PARAMS, SHARED_FIELDS, fit
from suanli.perf.efficiency import load_efficiency


@pytest.mark.slow
def test_refit_reproduces_the_committed_parameters():
    committed = load_efficiency()
    res = fit()
    shared = [name for name, _, _ in GLOBAL_PARAMS if name in SHARED_FIELDS]
    for fam, eff in res.table.families.items():
        for name in [n for n, _, _ in FAMILY_PARAMS] + shared:
            assert getattr(eff, name) == pytest.approx(getattr(committed.families[fam], name),
                                                       rel=0.02, abs=0.5), (fam, name)
    stats = committed.meta["in_sample"]
    worst = max(abs(e) for e in res.in_sample.values())
    assert worst == pytest.approx(stats["max_abs_error"], abs=0.01)


def test_code_properties_are_one_value_for_every_family():
    """elem_bytes (bytes the element-wise kernels move) belongs to the code, not the chip: the
    committed table holds one value on every family, and the fit does not free it per family."""
    assert "elem_bytes" not in {name for name, _, _ in FAMILY_PARAMS}
    assert "elem_bytes" in {name for name, _, _ in GLOBAL_PARAMS}
    values = {round(f.elem_bytes, 6) for f in load_efficiency().families.values()}
    assert len(values) == 1 and values.pop() > 0
