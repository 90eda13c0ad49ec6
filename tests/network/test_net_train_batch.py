"""The batched training options (many jobs per numpy pass) are the per-job rows, reordered."""

from __future__ import annotations

import numpy as np

from suanli.network.jobs import Filters, parse_job
from suanli.network.options import build_table, perf_run


def test_batch_rows_equal_per_job_rows(net) -> None:
    raws = [{"id": f"j{i}", "model": m, "tokens": t, "counts": [8, 64], **extra}
            for i, (m, t, extra) in enumerate([
                ("llama3-8b", "50B", {"deadline": "20d", "spot": True}),
                ("llama3-8b", "80B", {"data_size": "5TB", "data_location": "beijing"}),
                ("llama3-8b", "80B", {"deadline": "1h"}),  # no option: reasons must match
                ("qwen2.5-7b", "30B", {"budget": 20000, "spot": True}),
                ("llama3-8b", "50B", {"deadline": "20d", "spot": True}),
            ])]
    jobs = [parse_job(r) for r in raws]
    f = Filters(countries=("China", "Germany"), carbon_cap_kg=5e6)
    batch = build_table(net, jobs, filters=f)  # perf_run: the batched path
    per_job = build_table(net, jobs, filters=f,
                          run_fn=lambda job, hw, n: perf_run(job, hw, n))  # per job
    assert batch.n_options == per_job.n_options > 0
    assert batch.unplaceable == per_job.unplaceable and "j2" in batch.unplaceable

    def order(t):
        return np.lexsort((t.spot, t.devices, t.resource, t.job))

    a, b = order(batch), order(per_job)
    for name in ("job", "resource", "devices", "spot"):
        assert np.array_equal(getattr(batch, name)[a], getattr(per_job, name)[b]), name
    for name in ("cost_usd", "time_s", "co2_kg", "energy_kwh", "run_s", "transfer_s",
                 "transfer_usd", "price"):
        assert np.allclose(getattr(batch, name)[a], getattr(per_job, name)[b], rtol=1e-12,
                           equal_nan=True), name
    assert batch.plan is not None and per_job.plan is not None
    assert [batch.plan[i] for i in a] == [per_job.plan[i] for i in b]
