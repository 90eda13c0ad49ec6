"""Entrypoints of the service's ``train`` and ``serve`` jobs (``suanli.workloads.entry:train``).

The service runs them as a Python job (``run_entrypoint`` calls ``train(**shape)`` and prints
the returned dict as JSON, the last line of the job's stdout); the service then reads that
line back from its copy of the log (:mod:`suanli.service.workload_jobs`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["serve", "train"]


def train(**shape: Any) -> dict[str, Any]:
    """Run a :class:`~suanli.workloads.shapes.TrainShape` given as keyword fields; the
    :class:`~suanli.workloads.record.ResultRecord` as a JSON-ready dict."""
    from suanli.workloads.run import run_train
    from suanli.workloads.shapes import TrainShape

    return run_train(TrainShape.model_validate(shape)).model_dump(mode="json")


def serve(**shape: Any) -> dict[str, Any]:
    """Run a :class:`~suanli.workloads.shapes.ServeShape` given as keyword fields."""
    from suanli.workloads.run import run_serve
    from suanli.workloads.shapes import ServeShape

    return run_serve(ServeShape.model_validate(shape)).model_dump(mode="json")
