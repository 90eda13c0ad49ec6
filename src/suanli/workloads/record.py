"""The standard result record every measured workload reports (JSON-serialisable).

Predicted and measured figures sit side by side so the service, the dashboard and
``suanli calibrate --from-runs`` read one format.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FASTEST", "HardwareInfo", "ResultRecord", "hardware_info", "on_own_core"]


class HardwareInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["cpu", "gpu"]
    name: str  # CPU model name or GPU name
    devices: int = Field(ge=1)
    threads: int = Field(ge=1)  # CPU threads the framework used
    framework: str  # e.g. "torch 2.13.0+cpu"


class ResultRecord(BaseModel):
    """One measured run of a workload. Times in seconds, memory in bytes."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["train", "serve"]
    shape: dict[str, Any]  # the TrainShape / ServeShape it ran
    hardware: HardwareInfo
    started_at: float  # unix s
    # train
    step_time_s: float | None = None  # median over measured steps
    step_time_min_s: float | None = None  # fastest measured step (the uncontended speed)
    step_times_s: list[float] = Field(default_factory=list)
    # fastest step in process CPU seconds: with one thread, the step's time on a core of its
    # own (what wall time is on an idle machine), blind to other tenants' time slices
    step_time_cpu_s: float | None = None
    tokens_per_s: float | None = None
    final_loss: float | None = None
    # serve
    ttft_s: float | None = None  # time to first token (prefill + first sample)
    ttft_cpu_s: float | None = None  # the same in process CPU seconds
    tpot_s: float | None = None  # median time per output token
    tpot_min_s: float | None = None  # fastest decode step
    tpot_cpu_s: float | None = None  # fastest decode step in process CPU seconds
    output_tokens_per_s: float | None = None
    # both
    peak_memory_bytes: int | None = None
    predicted: dict[str, float] = Field(default_factory=dict)  # same keys as the measured ones

    def on_own_core(self, figure: str) -> float | None:
        """A figure (``step_time``, ``tpot``, ``ttft``) as the run's hardware gives it
        undisturbed (:func:`on_own_core`)."""
        return on_own_core(self.model_dump(), figure)


# figure -> the record's fastest wall-clock field, the key a prediction of it is stored under
FASTEST = {"step_time": "step_time_min_s", "tpot": "tpot_min_s", "ttft": "ttft_s"}


def on_own_core(record: Mapping[str, Any], figure: str) -> float | None:
    """The one rule for a measured figure (``step_time``, ``tpot``, ``ttft``) of a result
    record, given as a plain dict (a ``ResultRecord``'s dump or its JSON): with one thread,
    the fastest step in CPU seconds (the step on a core of its own, blind to other tenants'
    time slices; ``suanli bench`` times the same way); with more, or without that figure,
    the fastest in wall seconds (``ttft``: the one measurement)."""
    if figure not in FASTEST:
        raise ValueError(f"unknown figure {figure!r}: one of {', '.join(FASTEST)}")
    if (record.get("hardware") or {}).get("threads") == 1:
        cpu = record.get(f"{figure}_cpu_s")
        if cpu:
            return float(cpu)
    value = record.get(FASTEST[figure])
    return None if value is None else float(value)


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_info(threads: int, framework: str) -> HardwareInfo:
    return HardwareInfo(kind="cpu", name=cpu_name(), devices=1, threads=threads,
                        framework=framework)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1
