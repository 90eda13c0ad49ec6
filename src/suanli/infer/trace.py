"""Request traces for the serving simulator.

``load_azure_trace`` reads the Azure LLM inference trace 2023 (Patel et al., "Splitwise",
ISCA 2024; CC BY 4.0): columns ``TIMESTAMP, ContextTokens, GeneratedTokens``. The file is read
from the path given (traces are never copied into the package). ``synthetic_requests`` makes a
Poisson arrival stream with lengths drawn from given samples, for capacity planning.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from suanli.errors import InputError


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    arrival_s: float
    prompt: int  # tokens
    output: int  # tokens generated (>= 1)


def _seconds(stamp: str) -> float:
    """``2023-11-16 18:17:03.9799600`` -> seconds since 2023-01-01 (same-year traces)."""
    import datetime as dt

    day, _, clock = stamp.strip().partition(" ")
    d = dt.date.fromisoformat(day)
    h, m, s = clock.split(":")
    return (d.toordinal() * 86_400.0) + int(h) * 3600.0 + int(m) * 60.0 + float(s)


def load_azure_trace(path: str | Path, *, limit: int | None = None,
                     rate_scale: float = 1.0) -> list[Request]:
    """Requests of an Azure LLM trace CSV, arrival times from 0; ``rate_scale`` > 1 compresses
    time (more load), < 1 stretches it. Zero-token outputs become 1 (the first token)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"trace file '{path}' not found; pass a CSV with TIMESTAMP, "
                         "ContextTokens, GeneratedTokens (the Azure LLM inference trace)")
    if rate_scale <= 0:
        raise InputError(f"--rate-scale must be positive, got {rate_scale}")
    out: list[Request] = []
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        need = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise InputError(f"trace '{path}' lacks columns {sorted(need)}; got "
                             f"{reader.fieldnames}")
        t0 = None
        for i, row in enumerate(reader):
            if limit is not None and i >= limit:
                break
            t = _seconds(row["TIMESTAMP"])
            t0 = t if t0 is None else t0
            out.append(Request(i, (t - t0) / rate_scale, max(1, int(row["ContextTokens"])),
                               max(1, int(row["GeneratedTokens"]))))
    out.sort(key=lambda r: (r.arrival_s, r.id))
    return out


def synthetic_requests(rate_per_s: float, duration_s: float, prompts: list[int],
                       outputs: list[int], seed: int = 0) -> list[Request]:
    """Poisson arrivals at ``rate_per_s`` for ``duration_s``; (prompt, output) pairs drawn
    from the given samples (paired by index when both have the same length)."""
    import numpy as np

    if rate_per_s <= 0 or duration_s <= 0:
        raise InputError("request rate and duration must be positive")
    rng = np.random.default_rng(seed)
    n = int(rng.poisson(rate_per_s * duration_s))
    times = np.sort(rng.uniform(0.0, duration_s, n))
    if len(prompts) == len(outputs):
        idx = rng.integers(0, len(prompts), n)
        pr, ou = np.asarray(prompts)[idx], np.asarray(outputs)[idx]
    else:
        pr = rng.choice(np.asarray(prompts), n)
        ou = rng.choice(np.asarray(outputs), n)
    return [Request(i, float(t), max(1, int(a)), max(1, int(b)))
            for i, (t, a, b) in enumerate(zip(times, pr, ou, strict=True))]
