"""Turn measured runs into :class:`~suanli.calib.observed.Observation` rows.

* ``records_observations``: result records of Suanli's own workloads (``suanli workload ...
  --json``, the service's measured jobs), one JSON object per line or per file. Group =
  hardware name / threads / framework / kind; the measurement is the fastest step (with one
  thread, in CPU seconds: the step on a core of its own, as ``suanli bench`` times); the
  prediction is the record's own ``predicted`` figure, or recomputed from a bench profile.
* ``log_observations``: users' training logs with the run's configuration (a YAML list: log,
  model, hardware, devices or tp/pp/dp, seq_len, global_batch, ...). The prediction is the
  training model's step time for that configuration; the measurement is the log's median step
  time (or global batch / samples per second, or tokens per step / tokens per second).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from suanli.calib.observed import Observation
from suanli.errors import InputError
from suanli.workloads.record import on_own_core

__all__ = ["log_observations", "read_records", "records_observations"]

_MEASURED = {"train": ("step_time_min_s", "step_time_s"), "serve": ("tpot_min_s", "tpot_s")}
_FIGURE = {"train": "step_time", "serve": "tpot"}  # the figure compared, per kind


def read_records(path: Path) -> list[dict[str, Any]]:
    """Result records from a JSON file, a JSON-lines file or a directory of ``*.json``."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path}: no *.json result records in this folder")
    out: list[dict[str, Any]] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {f}: {exc}") from None
        try:
            docs = [json.loads(text)]
        except json.JSONDecodeError:
            try:
                docs = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
            except json.JSONDecodeError as exc:
                raise InputError(f"{f}: line {exc.lineno}: not JSON ({exc.msg}); give the "
                                 "output of `suanli workload ... --json`, one record per line"
                                 ) from None
        for i, d in enumerate(docs, 1):
            if not isinstance(d, dict) or d.get("kind") not in _MEASURED:
                raise InputError(f"{f}: record {i} is not a train/serve result record")
            d.setdefault("_id", f"{f.name}:{i}")
            out.append(d)
    return out


def records_observations(records: list[dict[str, Any]], profile: Any = None
                         ) -> list[Observation]:
    """Observations from result records; ``profile`` (a DeviceProfile) recomputes predictions."""
    obs = []
    for r in records:
        kind = r["kind"]
        key_min, key_med = _MEASURED[kind]
        hw = r.get("hardware") or {}
        measured = on_own_core(r, _FIGURE[kind]) or r.get(key_med)
        predicted: float | None
        if profile is not None:
            predicted = _predict_record(r, profile)
        else:
            pred = r.get("predicted") or {}
            predicted = pred.get(key_min) or pred.get(key_med)
        if not measured or not predicted:
            raise InputError(f"record {r['_id']}: needs a measured {key_min} and a prediction "
                             "(run the workload with --profile, or pass --profile here)")
        group = f"{hw.get('name', '?')}/{hw.get('threads', '?')}t/{hw.get('framework', '?')}/{kind}"
        obs.append(Observation(str(r["_id"]), group, float(predicted), float(measured)))
    return obs


def _predict_record(r: dict[str, Any], profile: Any) -> float:
    from suanli.perf.oplevel import decode_step, train_step
    from suanli.workloads.shapes import ServeShape, TrainShape

    if r["kind"] == "train":
        return train_step(profile, TrainShape.model_validate(r["shape"])).total
    return decode_step(profile, ServeShape.model_validate(r["shape"])).total


RUN_KEYS = {"log", "format", "model", "hardware", "tp", "pp", "dp", "ep", "cp", "micro_batch",
            "seq_len", "global_batch", "recompute", "zero", "sp", "dtype", "interleave",
            "stack", "id", "source"}


def _measured_step(summary: Any, seq_len: int, global_batch: int, devices: int) -> float:
    if summary.step_time_s:
        return float(summary.step_time_s)
    if summary.samples_per_s:
        return global_batch / summary.samples_per_s
    if summary.tokens_per_s_per_device:
        return global_batch * seq_len / (summary.tokens_per_s_per_device * devices)
    raise InputError("the log has no step time, samples/s or tokens/s to compare")


def log_observations(runs_file: Path) -> list[Observation]:
    """Observations from a YAML list of runs, each pointing at its log (relative to the file)."""
    import yaml

    from suanli.calib.logs import read_log
    from suanli.perf.training import Plan, estimate
    from suanli.plan.api import make_job

    try:
        runs = yaml.safe_load(runs_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the runs file {runs_file}: {exc}") from None
    if not isinstance(runs, list) or not runs:
        raise InputError(f"{runs_file}: expected a YAML list of runs (log, model, hardware, "
                         "tp, pp, dp, seq_len, global_batch, ...)")
    obs = []
    for i, run in enumerate(runs, 1):
        where = f"{runs_file} run {i}"
        if not isinstance(run, dict):
            raise InputError(f"{where}: expected a mapping")
        unknown = set(run) - RUN_KEYS
        missing = {"log", "model", "hardware", "seq_len", "global_batch"} - set(run)
        if unknown or missing:
            raise InputError(f"{where}: " + "; ".join(
                p for p in (f"unknown keys {sorted(unknown)}" if unknown else "",
                            f"missing {sorted(missing)}" if missing else "") if p))
        summary = read_log(runs_file.parent / str(run["log"]), run.get("format"))
        tp = int(run.get("tp", 1))
        plan = Plan(tp=tp, pp=int(run.get("pp", 1)), dp=int(run.get("dp", 1)),
                    ep=int(run.get("ep", 1)), cp=int(run.get("cp", 1)),
                    micro_batch=int(run.get("micro_batch", 1)),
                    interleave=int(run.get("interleave", 1)), zero=int(run.get("zero", 1)),
                    recompute=str(run.get("recompute", "selective")),
                    sp=bool(run.get("sp", tp > 1)))
        job = make_job(str(run["model"]), str(run["hardware"]), 1e9, seq_len=int(run["seq_len"]),
                       global_batch=int(run["global_batch"]), dtype=str(run.get("dtype", "bf16")))
        predicted = estimate(job, plan).step_time_s
        measured = _measured_step(summary, int(run["seq_len"]), int(run["global_batch"]),
                                  plan.devices)
        group = f"{run['hardware']}/{run.get('stack', 'default')}"
        obs.append(Observation(str(run.get("id", run["log"])), group, predicted, measured))
    return obs
