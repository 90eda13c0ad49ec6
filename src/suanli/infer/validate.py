"""Validation of the serving model against published runs: the rows and the model's value
for each.

Rows: the ``infer`` rows of ``shared/data/validation/published-runs.csv``; how each maps onto a
deployment and which metric definition it uses is data (``data/validation_cases.yaml``):

* per GPU vs per TP group: ``per: gpu`` divides the replica's throughput by ``tp x pp``;
* output vs total tokens: every throughput row here counts *output* tokens (the TensorRT-LLM
  tables' "out tok/s" and trtllm-bench "output throughput"); total tokens would add the prompt;
* static batching (``static``): the stated batch, ``batch x osl / (TTFT + (osl-1) x TPOT)``;
* max-load rows (``max_load``, batch chosen by the runtime): the best output throughput over
  batch sizes whose KV cache fits (``suanli.infer.curves.max_load``);
* TTFT rows: prefill of one prompt at batch 1;
* ``tpot`` rows (inter-token latency, ms): one decode step at ``batch`` with the context at the
  output's midpoint, ``prompt + output / 2``;
* ``decode_speed`` rows (tokens/s per user, e.g. batch-1 decode): ``output / e2e`` of one
  request of the static batch, ``e2e = TTFT + (output - 1) x TPOT``;
* ``achieved_bw_gbs``: the row's source states the HBM bandwidth its GPUs reached (e.g. gpt-fast
  on A100s power-limited to 330 W: "peak bandwidth is about 1700 GB/s"); the device's
  bandwidth is then that figure over the streaming efficiency ``Efficiency.memory``.

The fit and leave-one-publication-out validation: ``infer.fit``.
"""

from __future__ import annotations

import csv
import os
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from suanli.errors import InputError, SuanliError
from suanli.infer.efficiency import Efficiency, efficiency_for

DATA = Path(__file__).parent / "data"
CASES = DATA / "validation_cases.yaml"
EXTRA_ROWS = DATA / "published-serving.csv"  # rows added here, same columns as the shared CSV
# trtllm-bench (PyTorch backend) default max_batch_size; recalled from TensorRT-LLM's LlmArgs,
# not re-checked. The runtime picks the batch below it.
MAX_LOAD_BATCH = int(os.environ.get("SUANLI_MAX_LOAD_BATCH", "2048"))


def shared_dir() -> Path:
    """``$SUANLI_SHARED`` or the ``shared`` folder next to the repository."""
    env = os.environ.get("SUANLI_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared"


def default_csv() -> Path:
    return shared_dir() / "data" / "validation" / "published-runs.csv"


@dataclass(frozen=True)
class Case:
    id: str
    spec: dict[str, Any]
    published: float
    unit: str
    metric: str
    recalled: bool
    include: bool
    note: str
    publication: str = ""  # the row's source: leave-one-publication-out groups by it


@dataclass(frozen=True)
class ValidationRow:
    id: str
    metric: str
    unit: str
    published: float
    predicted: float | None
    error: float | None  # (predicted - published) / published
    included: bool
    normalization: str
    family: str


def load_cases(path: Path | None = None) -> list[Case]:
    import yaml

    csv_path = path or default_csv()
    if not csv_path.is_file():
        raise InputError(f"validation file {csv_path} not found; set SUANLI_SHARED to the "
                         "folder holding data/validation/published-runs.csv")
    rows: dict[str, dict[str, str]] = {}
    for f in (csv_path, EXTRA_ROWS):
        with f.open(newline="", encoding="utf-8") as fh:
            lines = (ln for ln in fh if not ln.startswith("#"))
            rows.update({r["id"]: r for r in csv.DictReader(lines) if r["kind"] == "infer"})
    specs = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    out = []
    for spec in specs:
        r = rows.get(spec["id"])
        if r is None:
            continue
        recalled = "recalled" in r["notes"]
        include = bool(spec.get("include", True)) and not recalled
        note = spec.get("why") or spec.get("note") or ""
        out.append(Case(spec["id"], spec, float(r["value"]), r["unit"], r["metric"], recalled,
                        include, note, publication(r["source"])))
    return out


def publication(source: str) -> str:
    """The document a row comes from: its source up to the first closing parenthesis (the
    tables of one page, e.g. throughput and first-token latency, are one publication)."""
    src = source.strip()
    return src[:src.index(")") + 1] if "(" in src and ")" in src else src


def _family(case: Case) -> str:
    from suanli.catalog import load_catalog

    if "hardware" not in case.spec:
        return ""
    cat = load_catalog()
    return cat.accelerator(cat.system(case.spec["hardware"]).accelerator).family


def predict(case: Case, eff: Efficiency | None = None) -> float | None:
    """The model's value for ``case`` in the published unit (None: no configuration)."""
    from suanli.catalog import load_catalog
    from suanli.infer.benchsettings import trtllm_bench_limits
    from suanli.infer.curves import max_load
    from suanli.infer.estimate import deployment, estimate, step_model
    from suanli.infer.opcost import total_s

    s = case.spec
    if "model" not in s:
        return None
    model = load_catalog().model(s["model"])
    dep = deployment(model, s["hardware"], tp=s.get("tp", 1), ep=s.get("ep", 1),
                     precision=s["precision"], attn_dp=s.get("attn_dp", False),
                     legacy_gqa_kernel=s.get("legacy_gqa_kernel", False),
                     nodes=s.get("nodes"), stack=s.get("stack"))
    eff = eff or efficiency_for(dep.accelerator.family)
    if "achieved_bw_gbs" in s:  # the run's own streaming bandwidth, as its source states it
        acc = dep.accelerator.model_copy(
            update={"memory_bw_gbs": s["achieved_bw_gbs"] / eff.memory})
        dep = replace(dep, accelerator=acc)
    kind = s["kind"]
    if kind == "disagg_prefill":
        from suanli.infer.disagg import prefill_rate

        return prefill_rate(dep, s["prompt"], s.get("prefix_hit", 0.0),
                            eff).input_tokens_per_s_per_node
    if kind == "disagg_decode":
        from suanli.infer.disagg import decode_rate

        return decode_rate(dep, s["prompt"] + s["output"] / 2,
                           tokens_per_user=s.get("tokens_per_user"),
                           mtp_accept=s.get("mtp_accept", 0.0),
                           eff=eff).output_tokens_per_s_per_node
    if kind == "ttft":
        return 1e3 * estimate(dep, prompt_len=s["prompt"], output_len=1, batch=s["batch"],
                              eff=eff).ttft_s
    if kind == "decode_speed":  # tokens/s one user sees: output / (TTFT + (output-1) x TPOT)
        return estimate(dep, prompt_len=s["prompt"], output_len=s["output"], batch=s["batch"],
                        eff=eff).output_tokens_per_s / s["batch"]
    sm = step_model(dep, eff)
    if kind == "tpot":  # one decode step at the mean context of the output
        ctx = s["prompt"] + s.get("output", 1) / 2
        return 1e3 * total_s(sm.decode_ops(s["batch"], ctx))
    if kind == "prefill_mfu":
        ops = sm.prefill_ops(s["batch"], s["prompt"], dep.chunk_tokens)
        return 100.0 * sum(o.flops for o in ops) / total_s(ops) / (
            dep.compression.peak_flops(dep.accelerator))
    if kind == "static":
        e = estimate(dep, prompt_len=s["prompt"], output_len=s["output"], batch=s["batch"],
                     eff=eff)
    else:
        max_batch = MAX_LOAD_BATCH
        if dep.stack.bench_limits:  # the harness's own limits (infer.benchsettings)
            max_batch, tokens = trtllm_bench_limits(
                model, dep.accelerator, dep.compression, tp=dep.tp, pp=dep.pp,
                isl=s["prompt"], osl=s["output"], kv_fraction=dep.kv_mem_fraction)
            dep = replace(dep, chunk_tokens=tokens)
        e = max_load(dep, prompt_len=s["prompt"], output_len=s["output"],
                     max_batch=max_batch, requests=s.get("requests"), eff=eff)
    tps = e.output_tokens_per_s
    return tps / dep.devices if s["per"] == "gpu" else tps


def _normalization(case: Case) -> str:
    s = case.spec
    if "model" not in s:
        return case.note
    n = f"{s['nodes']} nodes of" if "nodes" in s else f"{s.get('tp', 1)}x"
    bits = [f"{s['model']} on {n} {s['hardware']} {s['precision']}",
            {"static": f"static batch {s.get('batch')}", "max_load": "max-load (best batch "
             "that fits)", "ttft": "TTFT at batch 1", "tpot": f"decode step at batch "
             f"{s.get('batch')}", "decode_speed": f"output tok/s per user at batch "
             f"{s.get('batch')}", "prefill_mfu": "prefill MFU",
             "disagg_prefill": "prefill pool, input tok/s per node",
             "disagg_decode": "decode pool at the per-user speed, output tok/s per node"
             }[s["kind"]]]
    if s["kind"] in ("static", "max_load"):
        bits.append("output tok/s per GPU" if s["per"] == "gpu" else "output tok/s per TP group")
    if case.recalled:
        bits.append("recalled figure")
    if case.note:
        bits.append(case.note)
    return "; ".join(bits)


def validate_inference(path: Path | None = None,
                       effs: dict[str, Efficiency] | None = None) -> list[ValidationRow]:
    """One row per published inference figure: published, predicted, relative error, and how
    the metric was normalized. ``included`` rows are the ones the tests bound."""
    out = []
    for case in load_cases(path):
        fam = _family(case)
        eff = effs.get(fam, effs.get("default")) if effs else None
        try:
            pred = predict(case, eff)
        except SuanliError:
            if case.include:
                raise
            pred = None  # an excluded row whose layout the model cannot build (said in `why`)
        err = None if pred is None else (pred - case.published) / case.published
        out.append(ValidationRow(case.id, case.metric, case.unit, case.published, pred, err,
                                 case.include, _normalization(case), fam))
    return out


def summary(rows: list[ValidationRow]) -> dict[str, float]:
    return summary_of([r.error for r in rows if r.included and r.error is not None])


def summary_of(errors: list[float]) -> dict[str, float]:
    errs = [abs(e) for e in errors]
    return {"rows": float(len(errs)), "median_abs_error": statistics.median(errs),
            "max_abs_error": max(errs),
            "share_within_20pct": sum(e <= 0.2 for e in errs) / len(errs)}
