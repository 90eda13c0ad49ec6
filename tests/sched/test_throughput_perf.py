"""The heterogeneity-aware seam filled by the performance model (not by catalog peaks)."""

from __future__ import annotations

import pytest

from suanli.sched.throughput import ThroughputTable, from_perf_model


def test_perf_model_speeds_for_a_training_job_kind() -> None:
    table = from_perf_model(["llama2-7b"], ["A100-80GB", "H100-80GB", "V100-32GB"],
                            reference="A100-80GB")
    assert table.get("llama2-7b", "A100-80GB") == pytest.approx(1.0)
    h100 = table.get("llama2-7b", "H100-80GB")
    v100 = table.get("llama2-7b", "V100-32GB")
    assert 1.5 < h100 < 4.0  # dense bf16 peak is 3.2x; the model's efficiency shifts it
    assert v100 < 0.6
    # the perf model and the catalog roofline blend agree on the ordering
    blend = ThroughputTable.from_catalog(["A100-80GB", "H100-80GB", "V100-32GB"], "A100-80GB")
    assert (h100 > 1.0) == (blend.get("compute", "H100-80GB") > 1.0)
