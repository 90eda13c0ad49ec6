"""Predict each published training run with Suanli's model and compare.

Rows come from ``data/published-runs.csv`` (a copy of shared/data/validation); how each row is
read lives in ``data/training-cases.yaml``. For every row the model predicts the *published
metric* under the source's own definition:

* ``achieved_tflops_per_gpu`` (Megatron 2021 Table 1): hardware FLOP/s per GPU, FLOPs counted
  with eq. 3 *including* activation recompute, i.e. our ``hw_flops``;
* ``mfu`` (PaLM appendix B definition, used by Korthikanti, MosaicML, NVIDIA): model FLOPs with
  full ``s^2`` attention, no recompute, over the dense peak of the training precision. Where
  the source counts FLOPs its own way (``flops_per_seq`` in the case: NVIDIA's NeMo recipes
  count every layer as multi-head attention, 24 L h^2 per token for the projections, so a
  GQA model's MFU is inflated by its missing K/V FLOPs), the prediction is that count over the
  predicted step time, i.e. the step time is what is compared;
* ``iteration_time``: seconds per optimizer step;
* ``gpu_hours`` / ``wall_time``: from the best plan the planner finds on the stated hardware;
* ``total_train_compute``: model FLOPs of the run (6ND is only a check).

Plan fields the source does not state are searched: the prediction is the best plan under
those constraints, as the authors tuned theirs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from suanli.catalog import Catalog, load_catalog
from suanli.errors import CatalogError, InfeasibleError
from suanli.perf.efficiency import Efficiency, load_efficiency
from suanli.perf.training import Estimate, TrainingJob
from suanli.plan.search import SearchSpace, search

DATA = Path(__file__).parent / "data"
RUNS_FILE = DATA / "published-runs.csv"  # a copy of shared/data/validation (kept untouched)
EXTRA_RUNS_FILE = DATA / "published-runs-extra.csv"  # rows added here, same columns + source
CASES_FILE = DATA / "training-cases.yaml"


@dataclass(frozen=True)
class Case:
    id: str
    set: str  # full | budget | flops
    metric: str
    published: float
    unit: str
    model: str
    system: str | None
    devices: int | None
    seq_len: int
    global_batch: int | None
    tokens: float | None
    dtype: str
    flash: bool | None  # None: what the stack uses
    fixed: dict[str, Any]
    quality: str  # "verified" or "recalled"
    exclude: str | None  # reason the row is reported but not held to the bound
    assume: str | None
    source: str
    devices_up_to: bool = False  # the source gives only the peak device count
    stack: str | None = None  # software stack (perf/data/stacks.yaml) the source states
    publication: str = ""  # leave-one-publication-out drops every row of one publication
    memory_note: str | None = None  # why the memory model may call this run "does not fit"
    flops_per_seq: float | None = None  # the source's own model FLOPs per sequence (its MFU)
    optimizer_state: str = "fp32"  # Adam state precision the source's optimizer keeps


# Real trainings lose time to failures, restarts, checkpoints and evaluation: Meta reports
# "more than 90% effective training time" for Llama 3 405B (Dubey et al. 2024, Sec. 3.3.4).
REAL_RUN_GOODPUT = 0.9


@dataclass(frozen=True)
class Result:
    case: Case
    predicted: float | None
    error: float | None  # (predicted - published) / published
    plan: dict[str, Any] | None
    note: str = ""

    @property
    def abs_error(self) -> float | None:
        return None if self.error is None else abs(self.error)


def _num(raw: str) -> float | None:
    raw = raw.strip()
    return float(raw) if raw else None


def load_rows(files: tuple[Path, ...] = (RUNS_FILE, EXTRA_RUNS_FILE)) -> dict[str, dict[str, str]]:
    """Rows of the published-runs files by id; an id may appear in one file only."""
    rows: dict[str, dict[str, str]] = {}
    for path in files:
        if not path.exists():
            continue
        with path.open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if r["id"] in rows:
                    raise CatalogError(f"row id {r['id']} appears twice", file=str(path))
                if not r.get("source", "").strip():
                    raise CatalogError("every row needs a source", file=str(path), row=r["id"])
                rows[r["id"]] = r
    return rows


@cache
def load_cases(runs_file: Path = RUNS_FILE, cases_file: Path = CASES_FILE,
               extra_file: Path = EXTRA_RUNS_FILE) -> tuple[Case, ...]:
    import yaml

    spec = yaml.safe_load(cases_file.read_text(encoding="utf-8"))["cases"]
    rows = load_rows((runs_file, extra_file))
    out = []
    for cid, c in spec.items():
        if cid not in rows:
            raise CatalogError(f"case {cid} is not a row of {runs_file.name} or "
                               f"{extra_file.name}", file=str(cases_file))
        r = rows[cid]
        fixed = dict(c.get("fixed") or {})
        for key in ("tp", "pp", "dp", "micro_batch"):
            col = "micro_batch" if key == "micro_batch" else key
            val = _num(r[col])
            if val is not None and key not in fixed and c["set"] == "full":
                fixed[key] = int(val)
        if "recompute" in c:
            fixed["recompute"] = c["recompute"]
        seq = int(c.get("seq_len") or _num(r["seq_len"]) or 2048)
        gbt = _num(r["global_batch_tokens"])
        gb = c.get("global_batch_seqs") or (round(gbt / seq) if gbt else None)
        tokens = (c.get("tokens_b") or _num(r["tokens_b"]) or 0) * 1e9 or None
        value = _num(r["value"])
        metric = r["metric"]
        if c["set"] == "flops":
            value = _num(r["total_flops"])
            metric = "total_train_compute"
        if value is None:
            raise CatalogError("row has no published value", file=str(runs_file), row=cid)
        out.append(Case(
            id=cid, set=c["set"], metric=metric, published=value, unit=r["unit"],
            model=c["model"], system=c.get("system"),
            devices=int(c.get("devices") or _num(r["n_accel"]) or 0) or None,
            seq_len=seq, global_batch=gb, tokens=tokens, dtype=c.get("dtype", "bf16"),
            flash=c.get("flash"), fixed=fixed, stack=c.get("stack"),
            memory_note=c.get("memory_note"),
            flops_per_seq=float(c["flops_per_seq"]) if c.get("flops_per_seq") else None,
            optimizer_state=str(c.get("optimizer_state", "fp32")),
            publication=str(c.get("pub") or r["source"].split(",")[0].strip()),
            quality="recalled" if "recalled" in r["notes"] else "verified",
            exclude=c.get("exclude"), assume=c.get("assume"), source=r["source"],
            devices_up_to=bool(c.get("devices_up_to", False))))
    return tuple(out)


def _job(case: Case, cat: Catalog) -> TrainingJob:
    model = cat.model(case.model)
    system = cat.system(case.system or "dgx-a100-80gb")
    acc = cat.accelerator(system.accelerator)
    tokens = case.tokens or float((case.global_batch or 1) * case.seq_len)
    return TrainingJob(model=model, system=system, accelerator=acc, tokens=tokens,
                       seq_len=case.seq_len, global_batch=case.global_batch or 1,
                       dtype=case.dtype, flash_attention=case.flash, stack=case.stack,
                       optimizer_state=case.optimizer_state,
                       goodput=REAL_RUN_GOODPUT if case.set == "budget" else 1.0)


def _space(case: Case) -> SearchSpace:
    f = case.fixed
    base = SearchSpace()
    return SearchSpace(
        tp=[f["tp"]] if "tp" in f else None, pp=[f["pp"]] if "pp" in f else None,
        dp=[f["dp"]] if "dp" in f else None, ep=[f.get("ep", 1)], cp=[f.get("cp", 1)],
        micro_batch=[f["micro_batch"]] if "micro_batch" in f else base.micro_batch,
        interleave=[f["interleave"]] if "interleave" in f else None,
        zero=[f["zero"]] if "zero" in f else base.zero,
        recompute=[f["recompute"]] if "recompute" in f else base.recompute,
        sp=[f["sp"]] if "sp" in f else base.sp)


def metric_of(case: Case, est: Estimate) -> float:
    """The model's value of the row's published metric, under the source's definition."""
    n = est.plan.devices
    metric = case.metric
    if metric == "achieved_tflops_per_gpu":
        return est.hardware_flops / est.steps / est.step_time_s / n / 1e12
    if metric == "mfu":
        if case.flops_per_seq:  # the source's FLOP count over the predicted step time
            peak = est.job.accelerator.peak_flops(est.job.dtype)
            return case.flops_per_seq * est.global_batch / est.step_time_s / n / peak * 100.0
        return est.mfu * 100.0
    if metric == "model_tflops_per_gpu":
        return est.tflops_per_device
    if metric.startswith("iteration_time"):
        return est.step_time_s
    if metric == "gpu_hours":
        return est.device_hours
    if metric == "wall_time":
        return est.days
    raise CatalogError(f"no predictor for metric '{metric}'", row=case.id)


def predict(case: Case, eff: Efficiency | None = None, cat: Catalog | None = None) -> Result:
    cat = cat or load_catalog()
    if case.set == "flops":
        from suanli.perf.ops import training_flops

        model = cat.model(case.model)
        tokens = case.tokens or 0.0
        pred = training_flops(model, tokens, case.seq_len)
        return Result(case, pred, pred / case.published - 1.0, None)
    job = _job(case, cat)
    eff = eff or load_efficiency().for_family(job.accelerator.family)
    f = case.fixed
    n = case.devices or f.get("tp", 1) * f.get("pp", 1) * f.get("dp", 1)
    counts: int | list[int] = n
    objective = "time"
    if case.devices_up_to:  # "up to N devices": the cheapest count up to N
        counts = [k for k in (n // 8, n // 4, n // 2, n) if k >= 8]
        objective = "cost"
    # The run happened, so its plan fitted: the best plan the memory model lets fit is the
    # prediction. Only when none fits (the memory model disagrees with a run that ran) is the
    # time model checked on the best non-fitting plan, and the row says "does not fit".
    try:
        res = search(job, counts, _space(case), objective=objective, top=1, eff=eff)
    except InfeasibleError as exc:
        if case.set != "full":
            return Result(case, None, None, None, note=f"infeasible: {exc}")
        try:
            res = search(job, counts, _space(case), objective=objective, top=1, eff=eff,
                         require_fit=False)
        except InfeasibleError as exc2:
            return Result(case, None, None, None, note=f"infeasible: {exc2}")
    best = res.best[0]
    pred = metric_of(case, best)
    from dataclasses import asdict

    note = "" if best.fits else (f"does not fit: {best.memory_per_device_gb:.0f} GB per device "
                                 f"> {best.memory_usable_gb:.0f} GB usable")
    return Result(case, pred, pred / case.published - 1.0, asdict(best.plan), note)


def validate(sets: tuple[str, ...] = ("full", "budget", "flops"),
             table: Any = None) -> list[Result]:
    """Predict every case in ``sets``; ``table`` overrides the efficiency table (for fitting)."""
    cat = load_catalog()
    out = []
    for case in load_cases():
        if case.set not in sets:
            continue
        eff = None
        if table is not None:
            fam = cat.accelerator(cat.system(case.system or "dgx-a100-80gb").accelerator).family
            eff = table.for_family(fam)
        out.append(predict(case, eff, cat))
    return out
