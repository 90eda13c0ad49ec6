"""Read real training logs: Megatron-LM (and Megatron-DeepSpeed), DeepSpeed, torchtitan and the
Hugging Face Trainer. Each parser turns lines into :class:`LogStep` records; :func:`parse_log`
detects the format, drops warm-up steps and summarises (median step time, throughput, memory).

The line formats are the ones those frameworks print (see ``tests/calib/data/logs/``, each
excerpt with its public source):

* Megatron-LM: ``iteration  43/ 100 | consumed samples: 5504 | elapsed time per iteration
  (ms): 5444.9 | throughput per GPU (TFLOP/s/GPU): 239.8 | ... | global batch size: 128 |``
  (Megatron-DeepSpeed prints ``approx flops per GPU: 112.9TFLOPS`` instead).
* DeepSpeed engine timer: ``epoch=0/micro_step=34/global_step=34, RunningAvgSamplesPerSec=7.86,
  CurrSamplesPerSec=8.00, MemAllocated=59.65GB, MaxMemAllocated=63.31GB`` (older releases:
  ``0/40, SamplesPerSec=83.48, MemAllocated=0.26GB, MaxMemAllocated=9.02GB``).
* torchtitan: ``step: 200  loss:  6.1384  memory: 49.66GiB(52.28%)  tps: 5,856  tflops: 339.16
  mfu: 34.29%`` (tps = tokens per second per device).
* Hugging Face Trainer's end-of-training metrics: ``{'train_runtime': 5.80,
  'train_samples_per_second': 1.207, 'train_steps_per_second': 1.207, ...}``.
"""

from __future__ import annotations

import ast
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from suanli.errors import InputError

__all__ = ["FORMATS", "LogStep", "LogSummary", "parse_log", "read_log"]

FORMATS = ("megatron", "deepspeed", "torchtitan", "hf-trainer")
MAX_LOG_BYTES = 256 * 2**20


@dataclass(frozen=True)
class LogStep:
    """What one log line says about one step (None = not printed by this framework)."""

    line: int
    step: int | None = None
    step_time_s: float | None = None
    samples_per_s: float | None = None  # whole job
    tokens_per_s_per_device: float | None = None
    tflops_per_device: float | None = None
    mfu: float | None = None
    memory_bytes: float | None = None  # peak allocated per device
    loss: float | None = None
    global_batch: int | None = None  # sequences per step


@dataclass(frozen=True)
class LogSummary:
    format: str
    steps: list[LogStep]
    used: int  # steps after warm-up
    step_time_s: float | None
    samples_per_s: float | None
    tokens_per_s_per_device: float | None
    tflops_per_device: float | None
    mfu: float | None
    memory_bytes: float | None
    global_batch: int | None
    notes: list[str] = field(default_factory=list)


_NUM = r"([-+]?\d[\d,]*\.?\d*(?:[eE][-+]?\d+)?)"


def _f(text: str) -> float:
    return float(text.replace(",", ""))


_MEGATRON = re.compile(r"iteration\s+(\d+)\s*/\s*\d+\s*\|")
_MEG_FIELDS = {
    "step_time_ms": re.compile(r"elapsed time per iteration \(ms\):\s*" + _NUM),
    "tflops": re.compile(r"throughput per GPU \(TFLOP/s/GPU\):\s*" + _NUM),
    "tflops_ds": re.compile(r"approx flops per GPU:\s*" + _NUM + r"\s*TFLOPS"),
    "batch": re.compile(r"global batch size:\s*(\d+)"),
    "loss": re.compile(r"lm[ _]loss:\s*" + _NUM),
    "samples": re.compile(r"samples/sec:\s*" + _NUM),
}


def _megatron(i: int, line: str) -> LogStep | None:
    m = _MEGATRON.search(line)
    if not m:
        return None
    got = {k: r.search(line) for k, r in _MEG_FIELDS.items()}
    ms = got["step_time_ms"]
    if ms is None:
        return None
    tfl = got["tflops"] or got["tflops_ds"]
    batch = int(got["batch"].group(1)) if got["batch"] else None
    step_s = _f(ms.group(1)) / 1000.0
    samples = _f(got["samples"].group(1)) if got["samples"] else (batch / step_s if batch
                                                                    else None)
    return LogStep(line=i, step=int(m.group(1)), step_time_s=step_s, samples_per_s=samples,
                   tflops_per_device=_f(tfl.group(1)) if tfl else None, global_batch=batch,
                   loss=_f(got["loss"].group(1)) if got["loss"] else None)


_DS = re.compile(r"(?:global_step=(\d+)|\b\d+/(\d+)),\s*(?:RunningAvgSamplesPerSec=" + _NUM
                 + r",\s*CurrSamplesPerSec=" + _NUM + r"|SamplesPerSec=" + _NUM + r")"
                 + r"(?:,\s*MemAllocated=" + _NUM + r"GB,\s*MaxMemAllocated=" + _NUM + r"GB)?")


def _deepspeed(i: int, line: str) -> LogStep | None:
    m = _DS.search(line)
    if not m:
        return None
    step = int(m.group(1) or m.group(2))
    samples = _f(m.group(4) or m.group(5))  # current rate, else the old single figure
    mem = _f(m.group(7)) * 2**30 if m.group(7) else None  # torch reports GiB as "GB"
    return LogStep(line=i, step=step, samples_per_s=samples, memory_bytes=mem)


_TITAN = re.compile(r"step:\s*(\d+)\s+loss:\s*" + _NUM)
_TITAN_FIELDS = {
    "memory": re.compile(r"memory:\s*" + _NUM + r"\s*GiB"),
    "tps": re.compile(r"tps:\s*" + _NUM),
    "tflops": re.compile(r"tflops:\s*" + _NUM),
    "mfu": re.compile(r"mfu:\s*" + _NUM + "%"),
}


def _torchtitan(i: int, line: str) -> LogStep | None:
    m = _TITAN.search(line)
    if not m or "tps:" not in line:
        return None
    got = {k: r.search(line) for k, r in _TITAN_FIELDS.items()}
    return LogStep(
        line=i, step=int(m.group(1)), loss=_f(m.group(2)),
        memory_bytes=_f(got["memory"].group(1)) * 2**30 if got["memory"] else None,
        tokens_per_s_per_device=_f(got["tps"].group(1)) if got["tps"] else None,
        tflops_per_device=_f(got["tflops"].group(1)) if got["tflops"] else None,
        mfu=_f(got["mfu"].group(1)) / 100.0 if got["mfu"] else None)


def _hf_trainer(i: int, line: str) -> LogStep | None:
    start = line.find("{")
    if start < 0 or "train_runtime" not in line:
        return None
    try:
        d = ast.literal_eval(line[start:line.rindex("}") + 1])
    except (ValueError, SyntaxError):
        return None
    if not isinstance(d, dict) or "train_steps_per_second" not in d:
        return None
    try:
        steps_per_s = float(d["train_steps_per_second"])
        samples = float(d["train_samples_per_second"]) if "train_samples_per_second" in d \
            else None
    except (TypeError, ValueError):
        return None
    if steps_per_s <= 0:
        return None
    return LogStep(line=i, step_time_s=1.0 / steps_per_s, samples_per_s=samples,
                   loss=float(d["train_loss"]) if "train_loss" in d else None)


_PARSERS = {"megatron": _megatron, "deepspeed": _deepspeed, "torchtitan": _torchtitan,
            "hf-trainer": _hf_trainer}


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def parse_log(text: str, fmt: str | None = None, warmup: int = 2,
              source: str = "log") -> LogSummary:
    """Parse a log's text; ``fmt`` None detects it (the format with the most matching lines)."""
    if fmt is not None and fmt not in _PARSERS:
        raise InputError(f"unknown log format '{fmt}'; use one of: {', '.join(FORMATS)}")
    lines = text.splitlines()
    found: dict[str, list[LogStep]] = {}
    for name in ([fmt] if fmt else list(_PARSERS)):
        parser = _PARSERS[name]
        steps = [s for i, ln in enumerate(lines, 1) if (s := parser(i, ln)) is not None]
        if steps:
            found[name] = steps
    if not found:
        raise InputError(f"{source}: no training-step lines found for "
                         f"{fmt or ' / '.join(FORMATS)}; is it a training log (stdout of "
                         "the trainer, rank 0)? Give --format if detection fails")
    name = max(found, key=lambda k: len(found[k]))
    steps = found[name]
    # one step may be printed by every rank: keep the first line per step number
    seen: set[int] = set()
    unique = []
    for s in steps:
        if s.step is None or s.step not in seen:
            unique.append(s)
            if s.step is not None:
                seen.add(s.step)
    notes = []
    skip = warmup if len(unique) > warmup else 0
    if skip < warmup:
        notes.append(f"only {len(unique)} step lines: warm-up steps not dropped")
    used = unique[skip:]
    batch = next((s.global_batch for s in reversed(used) if s.global_batch), None)
    return LogSummary(
        format=name, steps=unique, used=len(used), step_time_s=_median([s.step_time_s
                                                                        for s in used]),
        samples_per_s=_median([s.samples_per_s for s in used]),
        tokens_per_s_per_device=_median([s.tokens_per_s_per_device for s in used]),
        tflops_per_device=_median([s.tflops_per_device for s in used]),
        mfu=_median([s.mfu for s in used]),
        memory_bytes=max((s.memory_bytes for s in used if s.memory_bytes), default=None),
        global_batch=batch, notes=notes)


def read_log(path: str | Path, fmt: str | None = None, warmup: int = 2) -> LogSummary:
    """Read and parse a log file, with a clear error for unreadable or binary files."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_LOG_BYTES:
            raise InputError(f"{p}: {size / 2**20:,.0f} MiB is over the {MAX_LOG_BYTES // 2**20}"
                             " MiB limit; give an excerpt (e.g. `tail -n 2000`)")
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror or exc}") from None
    if b"\x00" in raw[:65536]:
        raise InputError(f"{p}: a binary file, not a text log")
    return parse_log(raw.decode("utf-8", errors="replace"), fmt, warmup, source=str(p))
