"""The service's ``train`` and ``serve`` jobs: a real GPT workload, predicted at submission
and measured when it ends.

* :func:`shape_of` turns the request's ``workload`` object (a preset or the model's shape,
  plus batch and lengths) into a :class:`~suanli.workloads.shapes.TrainShape` /
  :class:`~suanli.workloads.shapes.ServeShape`; the job then runs as the Python entrypoint
  ``suanli.workloads.entry:train|serve`` with the shape as its args, sandboxed like any job.
* :func:`predict` prices the shape with the op-level model (:mod:`suanli.perf.oplevel`) on the
  site's ``suanli bench`` profile (setting ``bench_profile``); without a usable profile the
  prediction is ``{"absent": why}``.
* :func:`record_result` (called when the job reaches a terminal state) reads the
  :class:`~suanli.workloads.record.ResultRecord` the entrypoint printed as the last JSON line
  of its output from the service's own log copy (``job_logs``) and stores it on the job.
* :func:`views` gives the API's ``measured`` and ``predicted`` objects, with

      error = predicted / measured - 1     (per figure; +10% = predicted 10% slow)

The compared figures are the fastest measured step (``step_time_min_s``; the uncontended
speed the profile's rates describe) and for serving the time to first token and the fastest
decode step (``ttft_s``, ``tpot_min_s``), each read in the bench's clock by
:func:`~suanli.workloads.record.on_own_core` (one thread: CPU seconds), as ``suanli workload
--profile`` and ``calibrate --from-runs`` read them.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from suanli.errors import InputError
from suanli.service.models import Job, JobLog

__all__ = ["ENTRYPOINTS", "FIGURES", "WORKLOAD_KINDS", "predict", "record_result", "shape_of",
           "views"]

WORKLOAD_KINDS = ("train", "serve")
ENTRYPOINTS = {"train": "suanli.workloads.entry:train", "serve": "suanli.workloads.entry:serve"}
FIGURES = {"train": ("step_time_min_s",), "serve": ("ttft_s", "tpot_min_s")}
_MODEL_FIELDS = ("layers", "hidden", "heads", "ffn_hidden", "vocab", "max_seq_len")
_ONLY = {"train": ("seq_len", "steps", "warmup"), "serve": ("prompt_len", "gen_len")}
_SHOWN = ("step_time_min_s", "step_time_s", "tokens_per_s", "final_loss", "ttft_s", "tpot_s",
          "tpot_min_s", "output_tokens_per_s", "peak_memory_bytes", "step_time_cpu_s",
          "ttft_cpu_s", "tpot_cpu_s")
# a compared figure -> its name in on_own_core
_OWN_CORE = {"step_time_min_s": "step_time", "ttft_s": "ttft", "tpot_min_s": "tpot"}
MAX_RECORD_CHARS = 200_000  # a record line longer than this is not ours


def shape_of(kind: str, w: dict[str, Any], threads: int) -> Any:
    """The Train/ServeShape of request ``workload`` ``w`` run with ``threads`` threads.
    Raises ValueError naming the field (``workload.batch: ...``)."""
    from pydantic import ValidationError

    from suanli.workloads.shapes import PRESETS, ServeShape, TrainShape, WorkloadModel

    other = "serve" if kind == "train" else "train"
    for name in _ONLY[other]:
        if w.get(name) is not None:
            raise ValueError(f"workload.{name} is for {other} jobs; a {kind} job takes "
                             f"{', '.join(_ONLY[kind])}")
    given = {k: w[k] for k in _MODEL_FIELDS if w.get(k) is not None}
    if w.get("preset") is not None:
        if w["preset"] not in PRESETS:
            raise ValueError(f"workload.preset '{w['preset']}' is unknown; use one of "
                             f"{', '.join(PRESETS)}, or give layers, hidden, heads, vocab")
        fields = {**PRESETS[w["preset"]].model_dump(), **given}
    else:
        missing = [k for k in ("layers", "hidden", "heads", "vocab") if k not in given]
        if missing:
            raise ValueError(f"workload needs a 'preset' ({', '.join(PRESETS)}) or the model's "
                             f"{', '.join(missing)}")
        fields = {"ffn_hidden": 4 * given["hidden"], "max_seq_len": 1024, **given}
    run = {k: w[k] for k in (*_ONLY[kind], "batch", "dtype", "seed") if w.get(k) is not None}
    run.setdefault("seq_len" if kind == "train" else "prompt_len", 128)  # tokens
    try:
        model = WorkloadModel(**fields)
        cls = TrainShape if kind == "train" else ServeShape
        return cls(model=model, threads=threads, **run)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"] if p != "model"]
        where = "workload" + "".join(f".{p}" for p in loc)
        raise ValueError(f"{where}: {str(err['msg']).removeprefix('Value error, ')}") from None


@lru_cache(maxsize=4)
def _profile(path: str, mtime: float) -> Any:
    from suanli.bench.profile import load_profile

    return load_profile(path)


def load_site_profile(path: Path | None) -> tuple[Any, str]:
    """(profile, "") or (None, why not): the site's ``suanli bench`` profile, cached by mtime."""
    if path is None:
        return None, ("this service has no bench profile: run `suanli bench -o profile.json` "
                      "and start it with SUANLI_BENCH_PROFILE=profile.json")
    try:
        return _profile(str(path), os.stat(path).st_mtime), ""
    except OSError as exc:
        return None, f"the bench profile {path} cannot be read ({exc.strerror})"
    except InputError as exc:
        return None, " ".join(str(exc).split())


def profile_threads(profile: Any) -> int | None:
    t = int((profile.hardware or {}).get("threads", 0) or 0) if profile is not None else 0
    return t or None


def predict(kind: str, shape: Any, profile: Any, why: str, path: Path | None
            ) -> dict[str, Any]:
    """Predicted figures (s) of ``shape`` on ``profile`` with the dominant step's terms, or
    ``{"absent": why}``."""
    from dataclasses import asdict

    from suanli.perf.oplevel import decode_step, prefill, train_step

    if profile is None:
        return {"absent": why}
    measured_with = profile_threads(profile)
    if measured_with is not None and measured_with != shape.threads:
        return {"absent": f"the bench profile was measured with {measured_with} thread(s) "
                          f"and this job runs {shape.threads}: submit with workload.threads "
                          f"{measured_with}"}
    try:
        if kind == "train":
            step = train_step(profile, shape)
            figures = {"step_time_min_s": step.total}
        else:
            step = decode_step(profile, shape)
            figures = {"ttft_s": prefill(profile, shape).total, "tpot_min_s": step.total}
    except InputError as exc:  # e.g. the profile has no bf16 GEMMs
        return {"absent": " ".join(str(exc).split())}
    return {**figures, "terms": asdict(step), "profile": {
        "path": str(path), "date": profile.date, "threads": measured_with,
        "hardware": str((profile.hardware or {}).get("name", "?"))}}


def plan_job(body: Any, profile_path: Path | None) -> tuple[str, dict[str, Any], float,
                                                              dict[str, Any]]:
    """(entrypoint, args, cpus, prediction) of a train/serve ``body`` (a JobCreate). Threads:
    ``workload.threads``, else the CPUs asked for, else the profile's, else 1; CPUs reserved:
    as asked, else one per thread."""
    import math

    assert body.workload is not None
    profile, why = load_site_profile(profile_path)
    w = body.workload.model_dump()
    asked_cpus = "cpus" in body.model_fields_set
    threads = (w["threads"] or (max(1, math.floor(body.cpus)) if asked_cpus else None)
               or profile_threads(profile) or 1)
    shape = shape_of(body.kind, w, threads)
    cpus = body.cpus if asked_cpus else float(threads)
    return (ENTRYPOINTS[body.kind], shape.model_dump(mode="json"), cpus,
            predict(body.kind, shape, profile, why, profile_path))


def parse_record(kind: str, text: str) -> dict[str, Any]:
    """The last line of ``text`` that is a ``kind`` result record (validated), or
    ``{"absent": why}``."""
    from pydantic import ValidationError

    from suanli.workloads.record import ResultRecord

    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith("{") or len(line) > MAX_RECORD_CHARS:
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(doc, dict) and doc.get("kind") == kind:
            try:
                return ResultRecord.model_validate(doc).model_dump(mode="json")
            except ValidationError as exc:
                why = exc.errors()[0]["msg"]
                return {"absent": f"the job's result record is malformed ({why})"}
    return {"absent": "no result record in the job's output (its last JSON line)"}


def record_result(s: Session, job: Job) -> None:
    """Store the measured record of a finished workload job (``result_json``); the record's
    ``predicted`` holds the submission's figures, so exported records feed
    ``suanli calibrate --from-runs``."""
    if job.state != "succeeded":
        why = f"the job {job.state}" + (f": {job.error}" if job.error else "")
        job.result_json = json.dumps({"absent": why[:500]})
        return
    s.flush()  # the final log copy of this pass
    row = s.get(JobLog, job.id)
    rec = parse_record(job.kind, row.text if row is not None else "")
    pred = json.loads(job.predicted_json or "{}")
    if "absent" not in rec:
        rec["predicted"] = {k: pred[k] for k in FIGURES[job.kind] if k in pred}
    job.result_json = json.dumps(rec)


def views(job: Job) -> dict[str, Any]:
    """The API's ``workload``, ``measured`` and ``predicted`` of a workload job (None for
    other kinds); ``predicted.error`` is predicted / measured - 1 per figure."""
    if job.kind not in WORKLOAD_KINDS:
        return {"workload": None, "measured": None, "predicted": None}
    pred = json.loads(job.predicted_json or '{"absent": "not predicted"}')
    if job.result_json is None:
        measured: dict[str, Any] = {"absent": f"the job is {job.state}"}
    else:
        rec = json.loads(job.result_json)
        measured = rec if "absent" in rec else {
            **{k: rec[k] for k in _SHOWN if rec.get(k) is not None},
            "hardware": rec.get("hardware")}
    if "absent" not in measured:
        from suanli.workloads.record import on_own_core

        own = {k: on_own_core(measured, _OWN_CORE[k]) for k in FIGURES[job.kind]}
        measured["compared"] = own  # what an error divides by (the dashboard shows it)
        if "absent" not in pred:
            pred = {**pred, "error": {k: pred[k] / v - 1.0 for k, v in own.items()
                                      if k in pred and v}}
    return {"workload": json.loads(job.args_json), "measured": measured, "predicted": pred}


def compare_rows(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per compared figure of each workload job (JobPublic JSON): job, name, kind,
    state, figure, measured s (in the bench's clock), predicted s, error (None where a side is
    absent, with why); the measured figure is the one :func:`views` compared
    (``measured.compared``)."""
    rows = []
    for j in jobs:
        kind = j.get("kind")
        if kind not in WORKLOAD_KINDS:
            continue
        meas, pred = j.get("measured") or {}, j.get("predicted") or {}
        why = "; ".join(f"{side}: {d['absent']}" for side, d in (("measured", meas),
                                                                 ("predicted", pred))
                        if "absent" in d)
        for fig in FIGURES[kind]:
            rows.append({"job": j["id"], "name": j["name"], "kind": kind, "state": j["state"],
                         "figure": fig, "measured_s": (meas.get("compared") or {}).get(fig),
                         "predicted_s": pred.get(fig),
                         "error": (pred.get("error") or {}).get(fig), "why": why})
    return rows


def as_record(job: dict[str, Any]) -> dict[str, Any] | None:
    """A workload job (JobPublic JSON) as a result record ``suanli calibrate --from-runs``
    reads (kind, shape, hardware, measured figures, ``predicted``), or None while nothing was
    measured."""
    meas = job.get("measured") or {}
    if job.get("kind") not in WORKLOAD_KINDS or "absent" in meas:
        return None
    pred = job.get("predicted") or {}
    return {"_id": job["id"], "kind": job["kind"], "shape": job.get("workload") or {},
            **{k: v for k, v in meas.items() if k != "compared"},
            "predicted": {k: pred[k] for k in FIGURES[job["kind"]] if k in pred}}
