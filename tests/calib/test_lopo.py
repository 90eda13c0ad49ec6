"""Leave-one-publication-out: the headline out-of-sample error, stored by the calibration."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.calib.fit import held_cases, lopo_errors
from suanli.calib.published import load_cases
from suanli.perf.efficiency import load_efficiency


def test_stored_fit_covers_every_held_row_and_publication():
    meta = load_efficiency().meta
    held = held_cases()
    errors = meta["errors"]
    assert sorted(errors) == sorted(c.id for c in held)
    assert all(errors[c.id]["lopo"] is not None for c in held)
    assert set(meta["lopo_by_publication"]) == {c.publication for c in held}
    # each family's parameters name the rows that set them
    by_family = meta["rows_by_family"]
    assert sorted(r for rows in by_family.values() for r in rows) == sorted(c.id for c in held)


def test_lopo_median_and_max_meet_the_target():
    """Issue 10 target: median |LOPO error| <= 8%, max <= 20%. Reached (2026-12-07, fourth
    pass: the slowest pipeline stage paces the pipeline, DeepSpeed's bf16 accumulation pass):
    median 3.1%, max 16.5% (X003, Llama 3 405B on 8,192 H100); held a little above that."""
    lopo = np.abs([v["lopo"] for v in load_efficiency().meta["errors"].values()])
    assert np.median(lopo) <= 0.04
    assert lopo.max() <= 0.17


def test_publications_are_whole_papers():
    pubs = {c.publication for c in load_cases() if c.set == "full"}
    assert {"Narayanan 2021", "Korthikanti 2022", "MosaicML llm-foundry"} <= pubs
    assert len(pubs) >= 8


@pytest.mark.slow
def test_refit_reproduces_the_stored_lopo_errors():
    """Two publications refitted here (the full set is `suanli validate --lopo`): one that
    transfers (BLOOM) and the one that does not (MPT)."""
    errs = lopo_errors(held_cases(), ["BigScience 2022 (BLOOM)", "MosaicML llm-foundry"])
    stored = load_efficiency().meta["errors"]
    assert len(errs) == 8
    for cid, err in errs.items():
        assert err == pytest.approx(stored[cid]["lopo"], abs=0.01), cid
