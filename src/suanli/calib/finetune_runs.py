"""Published fine-tuning measurements (``calib/data/finetune-runs.csv``) against the model.

Each row names its source and the setup that produced it (model, hardware, method, devices,
micro-batch, context, LoRA rank and targets, adapter dtype, checkpointing, loss chunking).
:func:`check` predicts each row with :func:`suanli.perf.finetune.estimate_finetune` and
returns the relative error; ``held`` rows are held to 10% by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from suanli.perf import memory

RUNS_FILE = Path(__file__).parent / "data" / "finetune-runs.csv"
GIB = 2.0**30


@dataclass(frozen=True)
class FinetuneRun:
    id: str
    source: str
    metric: str  # peak_gib | peak_gb | card_gib_at_max_context | fits_card_gib | tokens_per_s
    published: float
    held: bool
    note: str
    setup: dict[str, str]


@dataclass(frozen=True)
class Checked:
    run: FinetuneRun
    predicted: float
    error: float  # predicted / published - 1


def load_runs(path: Path = RUNS_FILE) -> list[FinetuneRun]:
    from suanli.catalog.loader import read_csv_rows

    out = []
    for _, raw in read_csv_rows(path):
        out.append(FinetuneRun(
            id=raw["id"], source=raw["source"], metric=raw["metric"],
            published=float(raw["published"]), held=raw.get("held") == "yes",
            note=raw.get("note", ""), setup=raw))
    return out


def predict(run: FinetuneRun) -> float:
    """The model's number for ``run.metric`` under the run's setup."""
    from suanli.catalog import load_catalog
    from suanli.perf.finetune import FinetuneJob, FinetunePlan, estimate_finetune

    s = run.setup
    cat = load_catalog()
    system = cat.system(s["hardware"])
    d, b = int(s["devices"]), int(s["micro_batch"])
    job = FinetuneJob(model=cat.model(s["model"]), system=system,
                      accelerator=cat.accelerator(system.accelerator), method=s["method"],
                      lora_rank=int(s["lora_rank"]), targets=s["targets"],
                      adapter_dtype=s["adapter_dtype"], seq_len=int(s["seq_len"]),
                      global_batch=d * b, logits_chunks=int(s["logits_chunks"]))
    plan = FinetunePlan(devices=d, micro_batch=b, checkpointing=s["checkpointing"] == "yes",
                        shard=s["shard"] == "yes")
    est = estimate_finetune(job, plan)
    tensors = est.memory_per_device_gb * 1e9
    if run.metric == "peak_gib":
        return tensors / GIB
    if run.metric == "peak_gb":
        return tensors / 1e9
    if run.metric in ("card_gib_at_max_context", "fits_card_gib"):
        # what the card must hold: tensors + CUDA context, with the allocator's slack
        return (tensors + memory.RESERVED_BYTES) / (1.0 - memory.ALLOCATOR_SLACK) / GIB
    if run.metric == "tokens_per_s":
        return est.tokens_per_s
    raise ValueError(f"{run.id}: unknown metric '{run.metric}'")


def check(runs: list[FinetuneRun] | None = None) -> list[Checked]:
    out = []
    for run in runs if runs is not None else load_runs():
        pred = predict(run)
        out.append(Checked(run=run, predicted=pred, error=pred / run.published - 1.0))
    return out
