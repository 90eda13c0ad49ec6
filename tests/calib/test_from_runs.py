"""``suanli calibrate --from-runs`` learns from real jobs: 20 small GPT jobs run here (train and
serve, sizes and batches mixed), predicted from what a site declares before it measures (the
catalog's datasheet row for an EPYC core, :func:`declared_profile`: a roofline without
efficiency losses or overheads, so its predictions are biased); the corrections fitted by the
CLI on the first 10 jobs (a time scale and a fixed time per step, per kind) must lower the mean
|log error| on the next 10, which the fit never saw. One thread: measured in CPU seconds."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the workloads extra (PyTorch) is not installed")

from suanli.bench.profile import declared_profile
from suanli.calib.observed import load_corrections
from suanli.calib.sources import records_observations
from suanli.catalog import load_catalog
from suanli.workloads.run import run_serve, run_train
from suanli.workloads.shapes import PRESETS, ServeShape, TrainShape

EPYC_CORES = 96  # the EPYC 9654 row is one 96-core socket; a 1-thread job gets one core


def _jobs() -> list[TrainShape | ServeShape]:
    """20 jobs alternating train and serve over sizes and batches; each half spans them."""
    train = [(p, b, t) for p in ("tiny", "small") for b, t in ((1, 64), (2, 128), (4, 32),
                                                                (2, 64), (4, 128))]
    serve = [(p, b, t) for p in ("tiny", "small") for b, t in ((1, 32), (4, 64), (8, 16),
                                                                (2, 128), (16, 32))]
    order = [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]  # tiny and small alternate within each half
    out: list[TrainShape | ServeShape] = []
    for i in order:
        p, b, t = train[i]
        out.append(TrainShape(model=PRESETS[p], batch=b, seq_len=t, steps=8, warmup=2,
                              threads=1, seed=i))
        p, b, t = serve[i]
        out.append(ServeShape(model=PRESETS[p], batch=b, prompt_len=t, gen_len=16, threads=1,
                              seed=i))
    return out


def _mean_abs_log(errors: list[float]) -> float:
    """Mean |log(predicted / measured)|: the fit's own (log-space) objective, and symmetric,
    where |predicted / measured - 1| counts a 2x over-prediction (+100%) twice as much as a 2x
    under-prediction (-50%)."""
    return statistics.fmean(abs(math.log1p(e)) for e in errors)


def test_corrections_from_ten_jobs_lower_the_error_on_the_next_ten(tmp_path: Path):
    acc = load_catalog().accelerator("EPYC-9654")
    declared = declared_profile(acc, share=1 / EPYC_CORES)
    profile = tmp_path / "declared.json"
    declared.save(profile)

    records = [(run_train(s) if isinstance(s, TrainShape) else run_serve(s)).model_dump()
               for s in _jobs()]
    for i, r in enumerate(records):
        r["_id"] = f"job{i:02d}"
    fit_on, held_out = records[:10], records[10:]
    runs = tmp_path / "first10.jsonl"
    runs.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "_id"}) + "\n"
                            for r in fit_on), encoding="utf-8")

    out = tmp_path / "corrections.yaml"
    p = subprocess.run([sys.executable, "-m", "suanli.cli.main", "calibrate", "--from-runs",
                        str(runs), "--profile", str(profile), "--out", str(out), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    fitted = json.loads(p.stdout)
    assert len(fitted["rows"]) == 10
    corrections = load_corrections(out)
    assert {g.rsplit("/", 1)[1] for g in corrections} == {"train", "serve"}

    # the next 10 jobs: the same prediction from the declared profile, before and after
    obs = records_observations(held_out, declared)
    before = [o.predicted_s / o.measured_s - 1 for o in obs]
    after = [corrections[o.group].apply(o.predicted_s) / o.measured_s - 1 for o in obs]
    # the datasheet is off (so there is something to learn), and what was learned carries over
    assert _mean_abs_log(before) > 0.2, before
    assert _mean_abs_log(after) < _mean_abs_log(before), (before, after)
