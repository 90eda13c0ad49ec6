"""``suanli infer simulate``: replay a request trace with continuous batching. Kept apart
from ``cli/infer.py`` so the command module stays short; heavy imports happen inside."""

from __future__ import annotations

from typing import Annotated

import typer

from suanli.cli.common import print_json
from suanli.cli.infer_options import Hardware, Json, Model, Precision, kv_table


def simulate(
    model: Model,
    trace: Annotated[str, typer.Option(help="Azure LLM inference trace CSV")],
    hardware: Hardware = "H100",
    tp: int = 1,
    precision: Precision = "bf16",
    replicas: int = 1,
    max_batch: Annotated[int, typer.Option(help="max sequences per replica")] = 256,
    chunk_tokens: Annotated[int, typer.Option(help="tokens per step (chunked prefill)")] = 2048,
    rate_scale: Annotated[float, typer.Option(help="compress trace time by this factor")] = 1.0,
    limit: Annotated[int | None, typer.Option(help="first N requests only")] = None,
    as_json: Json = False,
) -> None:
    """Replay a request trace with continuous batching; TTFT/TPOT percentiles, utilization."""
    from suanli.infer.estimate import deployment
    from suanli.infer.simulate import simulate as run_sim
    from suanli.infer.trace import load_azure_trace

    reqs = load_azure_trace(trace, limit=limit, rate_scale=rate_scale)
    dep = deployment(model, hardware, tp=tp, precision=precision)
    res = run_sim(dep, reqs, replicas=replicas, max_batch=max_batch, chunk_tokens=chunk_tokens)
    if as_json:
        print_json({"model": dep.model.id, "system": dep.system.id, "tp": tp,
                    "precision": dep.compression.name, "replicas": replicas, **res.summary})
        return
    kv_table(f"{dep.model.id} on {replicas} x {tp} {dep.accelerator.id} ({dep.compression.name})"
           f": {len(reqs):,} requests", list(res.summary.items()))
