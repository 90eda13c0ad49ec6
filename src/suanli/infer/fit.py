"""The serving efficiency fit and leave-one-publication-out validation (split from
``infer.validate``, which holds the rows and the model's prediction for each).

The fit (:func:`fit_efficiency`): per accelerator family with at least ``MIN_ROWS`` included
rows, the unfixed fields of :class:`~suanli.infer.efficiency.Efficiency` minimise
``sum(log(predicted / published)^2)`` (scipy ``least_squares`` from ``PRIOR``, within
``BOUNDS``); rows marked "recalled" in the CSV are never fitted on. Families without enough
rows use the fit over all rows (``default``), except ``expert_efficiency``, which only a
family's own MoE rows set; the software costs (each stack's request overhead, the custom
all-reduce kernel's rate, ``infer.allreduce``; the pre-XQA masked MHA kernel's K/V load rate,
``infer.kernels``) are fitted once in the ``default`` fit and kept by every family. The host
time between steps is split into a part per step and one per decoder layer after that fit,
with the efficiencies held (``_fit_host``).
:func:`leave_one_publication_out` refits without each publication in turn and reports its
rows' errors: the honest out-of-sample number.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from suanli.infer.efficiency import DATA as EFF_FILE
from suanli.infer.efficiency import FIELDS, Efficiency
from suanli.infer.validate import DATA, Case, _family, default_csv, load_cases, predict

MIN_ROWS = 8  # a family gets its own parameters only with this many fitted rows (7 parameters)
# physical plausibility bounds: no kernel streams HBM at >95% of the datasheet rate, and
# serving GEMMs reach 20-90% of dense peak
BOUNDS = {"compute": (0.2, 0.9), "attention_memory": (0.3, 0.95),
          "step_overhead_s": (0.0, 0.02), "request_overhead_s": (0.0, 0.1),
          "roofline_sharpness": (1.0, 16.0), "seq_overhead_s": (0.0, 1e-4),
          "expert_efficiency": (0.2, 1.0),
          "custom_allreduce_gbs": (20.0, 450.0), "kernel_s": (0.0, 3e-5),
          "layer_overhead_s": (0.0, 3e-4), "legacy_kv_gbs": (1000.0, 10000.0)}
# Not fitted: the fraction of HBM bandwidth a weight-streaming kernel reaches. Microbenchmarks
# put sustained device-memory bandwidth at ~88-92% of the datasheet on V100/A100/H100 (Jia et al.
# 2018 "Dissecting the NVIDIA Volta GPU architecture via microbenchmarking", table 3.1: 88%;
# nvbandwidth / STREAM-like copies on A100 and H100 ~90%). Fitting it lets it absorb per-step
# costs that are not bandwidth, and batch-1 decode then drifts from its bandwidth floor.
FIXED = {"memory": 0.90}
# what a family's fit frees (the request overheads are per stack; the custom all-reduce rate is
# the kernel's, fitted once in ``default``: :func:`software_fields`; the per-kernel GPU time and
# the host time per decoder layer are fitted after it: :func:`_fit_kernel_s`, :func:`_fit_host`)
FAMILY_FREE = tuple(f for f in FIELDS if f not in FIXED
                    and f not in ("request_overhead_s", "custom_allreduce_gbs", "kernel_s",
                                  "layer_overhead_s", "legacy_kv_gbs"))


# Where every fit starts: mid-range physical values, never a previous fit (a held-out refit that
# started from the shipped parameters would start from numbers its own rows shaped). Expert
# GEMMs start as efficient as dense ones: tile padding and load imbalance are modelled apart.
# The custom all-reduce kernel starts at a rate measured apart from the validation rows (a
# held-out fit without the rows that run it keeps this): TensorRT-LLM's custom all-reduce
# kernel as ported to sgl-kernel, on H100 without CUDA graphs, 4 MB messages (1,048,576 fp32
# elements): 19.9 / 31.1 / 33.8 us on 2 / 4 / 8 ranks (github.com/sgl-project/sglang pull 2904,
# 2025-01), i.e. ~200 GB/s of the bytes each rank reads from its peers under the kernel's own
# one-shot (2 ranks) / two-shot (4, 8) choice, well below NVLink 4's 450 GB/s.
PRIOR_CUSTOM_ALLREDUCE_GBS = 200.0
# The same measurement read by ``custom_grid`` (``infer.allreduce``: the rate of a full 24-CTA
# grid): under its launch configuration the 4- and 8-rank calls are two-shots on 16 CTAs; with
# the link's 4 us a phase they move 6 and 7 MB of peer bytes at 260 and 271 GB/s, a full grid
# at ~400 GB/s. Used when a stack runs ``custom_grid`` (:func:`prior_custom_gbs`).
PRIOR_CUSTOM_GRID_GBS = 400.0


def prior_custom_gbs() -> float:
    """The held-out prior of ``custom_allreduce_gbs`` for the engine-era kernel the stacks run:
    ``custom_grid``'s full-grid rate where a stack runs it, else ``custom``'s."""
    from suanli.infer.stacks import stacks

    grid = any(s.allreduce == "custom_grid" for s in stacks().values())
    return PRIOR_CUSTOM_GRID_GBS if grid else PRIOR_CUSTOM_ALLREDUCE_GBS


# The pre-XQA masked MHA kernel's K/V load rate (``infer.kernels.masked_mha_read_s``) starts
# mid-range, between the HBM rates of the chips its rows ran on (A100 2.0, H100 3.35, H200 4.8
# TB/s) and an A100's L2 read bandwidth (5,120 B/clk, ~7.2 TB/s at 1.41 GHz: NVIDIA A100
# whitepaper, recalled): not a number read off the rows. Two publications carry rows of stacks
# that run it (TensorRT-LLM v0.5/v0.6.1 performance.md, the H200 launch blog), so every
# held-out fit has rows that set it.
PRIOR_LEGACY_KV_GBS = 5000.0


def prior_legacy_kv_gbs() -> float:
    """The prior of ``legacy_kv_gbs`` where a stack runs the masked MHA kernel with its L2
    reuse (``mmha_l2_reuse``), else 0 (no ceiling: not used, not fitted)."""
    from suanli.infer.stacks import stacks

    on = any(s.kv_loads_via_l2 for s in stacks().values())
    return PRIOR_LEGACY_KV_GBS if on else 0.0

# The per-kernel GPU time (``infer.kernels``) starts at 2 us, a mid-range value for a kernel
# replayed from a CUDA graph; only rows of stacks with a counted graph determine it. The host
# time per decoder layer is 0 in the main fit and fitted after it (``_fit_host``).
PRIOR = Efficiency(compute=0.5, memory=FIXED["memory"], attention_memory=0.8,
                   step_overhead_s=1e-3, request_overhead_s=1e-3, roofline_sharpness=2.0,
                   seq_overhead_s=1e-5, expert_efficiency=1.0,
                   custom_allreduce_gbs=prior_custom_gbs(), kernel_s=2e-6,
                   layer_overhead_s=0.0, legacy_kv_gbs=prior_legacy_kv_gbs())


def _is_moe(case: Case) -> bool:
    from suanli.catalog import load_catalog

    return "model" in case.spec and load_catalog().model(case.spec["model"]).moe is not None


def _stack_id(case: Case) -> str:
    from suanli.infer.stacks import stack

    return stack(case.spec.get("stack")).id


def software_fields(cases: list[Case]) -> list[str]:
    """The software costs the rows determine, fitted once over all families:
    ``request_overhead_s@STACK`` for each stack with TTFT rows, and ``custom_allreduce_gbs``
    where rows run the TensorRT-LLM engine-era custom all-reduce (``infer.allreduce``) with
    TP > 1, ``legacy_kv_gbs`` where rows decode on a stack with the pre-XQA masked MHA kernel
    and its L2 reuse (``mmha_l2_reuse``; ``infer.kernels.masked_mha_read_s``)."""
    from suanli.infer.stacks import stack

    sts = sorted({_stack_id(c) for c in cases if c.spec.get("kind") == "ttft"})
    out = ["custom_allreduce_gbs"] if any(
        stack(c.spec.get("stack")).allreduce in ("custom", "custom_grid")
        and c.spec.get("tp", 1) > 1
        for c in cases) else []
    l2 = [stack(c.spec.get("stack")) for c in cases if c.spec.get("kind") != "ttft"]
    if any(s.kv_loads_via_l2 for s in l2):
        out.append("legacy_kv_gbs")
    return out + [f"request_overhead_s@{st}" for st in sts]


def _fit(cases: list[Case], start: Efficiency, free: list[str] | None = None) -> Efficiency:
    """Least squares over ``free`` (default: every unfixed field and the software costs,
    :func:`software_fields`; ``expert_efficiency`` only where MoE rows determine it), the other
    fields kept at ``start``. ``request_overhead_s@STACK`` goes into
    ``Efficiency.request_overhead_by_stack``; ``request_overhead_s`` itself, used by stacks
    without TTFT rows, stays at ``start`` (the prior unless a caller frees it)."""
    import numpy as np
    from scipy.optimize import least_squares

    if free is None:
        free = [*FAMILY_FREE, *software_fields(cases)]
    if not any(_is_moe(c) for c in cases):
        free = [f for f in free if f != "expert_efficiency"]
    lo = np.array([BOUNDS[f.split("@")[0]][0] for f in free])
    hi = np.array([BOUNDS[f.split("@")[0]][1] for f in free])
    units = {"step_overhead_s": 1e-3, "request_overhead_s": 1e-3, "seq_overhead_s": 1e-6,
             "custom_allreduce_gbs": 100.0, "kernel_s": 1e-6, "layer_overhead_s": 1e-5,
             "legacy_kv_gbs": 1000.0}
    scale = np.array([units.get(f.split("@")[0], 1.0) for f in free])  # ms / us / 100 GB/s
    base = {f: getattr(start, f) for f in FIELDS}
    by_stack = dict(start.request_overhead_by_stack)

    def make(x: Any) -> Efficiency:
        v: dict[str, Any] = {f: float(a) for f, a in zip(free, x * scale, strict=True)}
        stacks = {**by_stack, **{f.split("@")[1]: a for f, a in v.items()
                                 if f.startswith("request_overhead_s@")}}
        plain = {f: a for f, a in v.items() if "@" not in f}
        return Efficiency(**{**base, **plain, **FIXED},
                          request_overhead_by_stack=tuple(sorted(stacks.items())))

    def resid(x: Any) -> Any:
        eff = make(x)
        return np.array([math.log(max(predict(c, eff) or 1e-9, 1e-9) / c.published)
                         for c in cases])

    x0 = np.array([start.request_overhead(f.split("@")[1]) if "@" in f
                   else min(getattr(start, f), 1e6) for f in free])
    x0 = np.clip(x0 / scale, lo / scale, hi / scale)
    best = least_squares(resid, x0, bounds=(lo / scale, hi / scale), diff_step=1e-3)
    return make(best.x)


def _fit_families(cases: list[Case]) -> dict[str, Efficiency]:
    """``default`` over all ``cases``, then each family: its own fit with >= MIN_ROWS rows,
    else ``default`` with the family's own ``compute`` (a chip's achieved fraction of its
    peak, which even a few rows determine) and, with MoE rows, ``expert_efficiency``.
    Grouped-GEMM kernels differ per architecture (and stack), so a family's
    ``expert_efficiency`` comes from its own MoE rows only, never another family's: without
    any, the prior (grouped GEMMs as efficient as dense ones). The software costs (request
    overheads, the custom all-reduce rate) are not chip: fitted once in ``default`` and kept by
    every family. The host time per step and per decoder layer (and the software costs again)
    come next, with the efficiencies held (:func:`_fit_host`); ``kernel_s`` after, from the
    rows of counted stacks only (:func:`_fit_kernel_s`) whose GEMVs carry no counted extra
    instructions (:func:`_plain_gemv`); the other fields from the rest, which do not depend
    on it."""
    counted = [c for c in cases if _counted(c) and _plain_gemv(c)]
    cases = [c for c in cases if not _counted(c)]
    default = _fit(cases, PRIOR)
    out = {"default": replace(default, source=f"fit on {len(cases)} rows")}
    by_fam: dict[str, list[Case]] = {}
    for c in cases:
        by_fam.setdefault(_family(c), []).append(c)
    for fam, cs in sorted(by_fam.items()):
        start = replace(default, expert_efficiency=PRIOR.expert_efficiency)
        if len(cs) >= MIN_ROWS:  # the software costs stay the default fit's
            free = list(FAMILY_FREE)
            out[fam] = replace(_fit(cs, start, free), source=f"fit on {len(cs)} {fam} rows: "
                               + ", ".join(c.id for c in cs))
        else:  # few rows: the chip's compute fraction (and its MoE rows' expert efficiency)
            free = ["compute", "expert_efficiency"]  # _fit drops the latter without MoE rows
            eff = _fit(cs, start, free)
            out[fam] = replace(eff, source=f"default, compute and expert_efficiency from "
                               f"{len(cs)} rows")
    return _fit_kernel_s(_fit_host(out, cases), counted)


# Where the host time per decoder layer starts (``_fit_host``): 20 us, a few TensorRT API calls
# (``setInputShape``, ``setInputTensorAddress``) per layer input tensor and the layer's share of
# the engine's shape inference; only the rows of stacks that expose host time determine it.
PRIOR_LAYER_OVERHEAD_S = 2e-5


def _fit_host(effs: dict[str, Efficiency], cases: list[Case]) -> dict[str, Efficiency]:
    """The host time between steps, split into ``step_overhead_s`` per step and
    ``layer_overhead_s`` per decoder layer, with the chip's efficiencies held at ``effs`` (the
    fit with a per-step host time only): on the rows of the stacks that expose it
    (``step_overhead``), in ``default`` over all of them together with the software costs
    (request overheads, the custom all-reduce rate, :func:`software_fields`), then per family
    over its own rows (>= ``MIN_ROWS``; fewer: ``default``'s). Fitted apart, as ``kernel_s``
    is: jointly with the efficiencies, the host time of an 80-layer 128-token step trades
    against the roofline sharpness of the GEMMs it runs, which sit at the A100's ridge
    (docs/inference.md, "Host time per decoder layer"). Each source lists the rows."""
    from suanli.infer.stacks import stack

    host = [c for c in cases if stack(c.spec.get("stack")).step_overhead]
    if not host:
        return effs
    free = ["step_overhead_s", "layer_overhead_s"]
    d = _fit(host, replace(effs["default"], layer_overhead_s=PRIOR_LAYER_OVERHEAD_S),
             [*free, *software_fields(host)])
    out = {"default": replace(d, source=f"{d.source}; host times and software costs from "
                              f"{len(host)} rows")}
    for fam, eff in effs.items():
        if fam == "default":
            continue
        cs = [c for c in host if _family(c) == fam]
        start = replace(eff, layer_overhead_s=PRIOR_LAYER_OVERHEAD_S,
                        custom_allreduce_gbs=d.custom_allreduce_gbs,
                        legacy_kv_gbs=d.legacy_kv_gbs,
                        request_overhead_by_stack=d.request_overhead_by_stack)
        if len(cs) >= MIN_ROWS:
            out[fam] = replace(_fit(cs, start, free), source=f"{eff.source}; host times from "
                               f"{len(cs)} rows: " + ", ".join(c.id for c in cs))
        else:
            out[fam] = replace(start, step_overhead_s=d.step_overhead_s,
                               layer_overhead_s=d.layer_overhead_s)
    return out


def _counted(case: Case) -> bool:
    """The row's stack has a counted decoder-layer graph (``infer.kernels``)."""
    from suanli.infer.stacks import stack

    return any(stack(case.spec.get("stack")).kernels)


def _plain_gemv(case: Case) -> bool:
    """The row's weight GEMVs issue no instructions beyond a 16-bit GEMV's on its stack
    (``infer.kernels.gemv_instr_s``: no weight-only dequantisation, no gathered experts). Only
    such rows set ``kernel_s``: rows with a counted GEMV term validate it at the ``kernel_s``
    the plain rows set, so the per-kernel time cannot soak up an error of those counts (and
    those counts, taken from the kernels' code, are not fitted either)."""
    from suanli.catalog import load_catalog
    from suanli.infer.compression import parse_compression
    from suanli.infer.stacks import stack

    dequant, gather = stack(case.spec.get("stack")).gemv
    if dequant and parse_compression(case.spec["precision"]).weight_only:
        return False
    return not (gather and load_catalog().model(case.spec["model"]).moe is not None)


def _fit_kernel_s(effs: dict[str, Efficiency], counted: list[Case]) -> dict[str, Efficiency]:
    """The per-kernel GPU time (``infer.kernels``), with every other field held at ``effs``:
    in ``default`` over all ``counted`` rows (batch-1 decode of stacks whose kernels are
    counted), then per family over its own counted rows; a family without any keeps
    ``default``'s (held out: the other chips' value). Each source lists the rows."""
    if not counted:
        return effs
    d = _fit(counted, effs["default"], ["kernel_s"]).kernel_s
    out = {"default": replace(effs["default"], kernel_s=d)}
    by_fam: dict[str, list[Case]] = {}
    for c in counted:
        by_fam.setdefault(_family(c), []).append(c)
    for fam in sorted({*effs, *by_fam} - {"default"}):
        eff = replace(effs.get(fam, out["default"]), kernel_s=d)
        cs = by_fam.get(fam, [])
        if cs:
            eff = replace(eff, kernel_s=_fit(cs, eff, ["kernel_s"]).kernel_s,
                          source=f"{eff.source}; kernel_s from {len(cs)} rows: "
                          + ", ".join(c.id for c in cs))
        out[fam] = eff
    out["default"] = replace(out["default"], source=f"{effs['default'].source}; kernel_s "
                             f"from {len(counted)} rows")
    return out


def fit_efficiency(path: Path | None = None) -> dict[str, Efficiency]:
    """The shipped parameters: :func:`_fit_families` over all included rows."""
    return _fit_families([c for c in load_cases(path) if c.include])


def leave_one_publication_out(path: Path | None = None) -> list[tuple[str, float]]:
    """(row id, relative error) with the parameters refitted (:func:`_fit_families`, from the
    prior) without the row's whole publication (every row sharing its ``source``): the honest
    transfer number, since rows of one table share a software version, a benchmark harness
    and its definitions."""
    cases = [c for c in load_cases(path) if c.include]
    groups: dict[str, list[Case]] = {}
    for c in cases:
        groups.setdefault(c.publication, []).append(c)
    out: dict[str, float] = {}
    for pub, held in groups.items():
        effs = _fit_families([d for d in cases if d.publication != pub])
        for c in held:
            eff = effs.get(_family(c), replace(effs["default"],
                                               expert_efficiency=PRIOR.expert_efficiency))
            pred = predict(c, eff)
            out[c.id] = ((pred or 0.0) - c.published) / c.published
    return [(c.id, out[c.id]) for c in cases]


LOPO_FILE = DATA / "validation_lopo.yaml"
# the model's inputs: a stored leave-one-publication-out result is current only while these
# files are unchanged (rows, mapping, fitted parameters and the model's code)
_MODEL_FILES = ("model.py", "kernels.py", "allreduce.py", "moe.py", "estimate.py", "memory.py",
                "disagg.py", "curves.py", "compression.py", "efficiency.py", "validate.py",
                "fit.py", "stacks.py", "benchsettings.py",
                "data/moe.yaml", "data/stacks.yaml", "data/efficiency.yaml",
                "data/validation_cases.yaml", "data/published-serving.csv")


def fingerprint(path: Path | None = None) -> str:
    """sha256 over the validation rows, their mapping, the parameters and the model code."""
    import hashlib

    h = hashlib.sha256()
    here = Path(__file__).parent
    for f in [path or default_csv(), *(here / n for n in _MODEL_FILES)]:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def write_lopo(errors: list[tuple[str, float]], path: Path | None = None,
               out: Path = LOPO_FILE) -> None:
    """Store leave-one-publication-out errors with the fingerprint they belong to."""
    lines = ["# GENERATED by `suanli infer validate --fit` (fit.leave_one_publication_out):",
             "# per-row error with the parameters refitted without the row's publication.",
             f"fingerprint: {fingerprint(path)}", "errors:"]
    lines += [f"  {rid}: {err:.5f}" for rid, err in errors]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def stored_lopo(path: Path | None = None, src: Path = LOPO_FILE
                ) -> list[tuple[str, float]] | None:
    """The stored leave-one-publication-out errors if they are current, else None."""
    import yaml

    if not src.is_file():
        return None
    raw = yaml.safe_load(src.read_text(encoding="utf-8")) or {}
    if raw.get("fingerprint") != fingerprint(path):
        return None
    return [(str(k), float(v)) for k, v in (raw.get("errors") or {}).items()]


def write_efficiency(effs: dict[str, Efficiency], path: Path = EFF_FILE) -> None:
    """Write the fitted parameters (with their provenance) to ``efficiency.yaml``."""
    lines = ["# Serving efficiency parameters, per accelerator family. GENERATED by",
             "# `suanli infer validate --fit` (suanli.infer.fit.fit_efficiency): least",
             "# squares on log(predicted/published) over the included rows of",
             "# shared/data/validation/published-runs.csv (docs/inference.md). Do not hand-edit.",
             "source: suanli.infer.fit.fit_efficiency", "families:"]
    for fam, e in effs.items():
        lines.append(f"  {fam}: {{compute: {e.compute:.4f}, memory: {e.memory:.4f}, "
                     f"attention_memory: {e.attention_memory:.4f}, "
                     f"step_overhead_s: {e.step_overhead_s:.6f}, "
                     f"request_overhead_s: {e.request_overhead_s:.6f}, "
                     f"roofline_sharpness: {e.roofline_sharpness:.3f}, "
                     f"seq_overhead_s: {e.seq_overhead_s:.8f}, "
                     f"expert_efficiency: {e.expert_efficiency:.4f}, "
                     f"custom_allreduce_gbs: {e.custom_allreduce_gbs:.2f}, "
                     f"kernel_s: {e.kernel_s:.8f}, "
                     f"layer_overhead_s: {e.layer_overhead_s:.8f}, "
                     f"legacy_kv_gbs: {e.legacy_kv_gbs:.1f}, "
                     "request_overhead_by_stack: {"
                     + ", ".join(f"{k}: {v:.6f}" for k, v in e.request_overhead_by_stack)
                     + f"}}, source: \"{e.source}\"}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
