"""When can one training job span sites (data parallel over the WAN)? An honest model.

Setting: N devices are wanted but each of ``s`` sites has only N/s free. Choices: (a) run on N/s
devices at one site, or (b) span the s sites with N devices, data parallel across sites (model
and pipeline parallel stay inside a site). Both step times come from the perf model; the WAN adds
a gradient all-reduce between sites every ``H`` steps::

    G          = parameters x bytes per gradient element (2, bf16; fp32 reduction doubles it)
    t_wan      = 2 (s-1)/s x G x 8 / (B x 1e9) + 2 (s-1) x latency
                 (bandwidth-optimal ring all-reduce, Patarasuk & Yuan, JPDC 2009; after an
                  intra-site reduce-scatter every shard crosses the same WAN pipe of B Gb/s)
    exposed    = max(0, t_wan - f x t_backward),  t_backward = 2/3 x t_step(N)
                 (backward is ~2/3 of the compute, Kaplan et al. 2020; f = 1 means the
                  reduction overlaps the whole backward: an optimistic bound)
    t_span     = t_step(N) + exposed / H                                   # per step
    speedup    = time on N/s devices at one site / time spanning s sites
    extra cost = device-hours spanning / device-hours at one site - 1 (same price everywhere)

``H > 1`` is local SGD / DiLoCo (Douillard et al., "DiLoCo", 2023): fewer syncs, but it changes
the optimizer, so model quality must be checked separately; it is shown, not recommended.
It pays in time when speedup > 1; it nearly always costs more device-hours, because scaling out
is sub-linear even inside one site, and the WAN only adds to that.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.errors import InputError
from suanli.network import durations

BYTES_PER_GRAD = 2.0  # bf16 gradients (ASSUMED; fp32 reduction would double the traffic)
BACKWARD_SHARE = 2.0 / 3.0  # of step compute (backward = 2 x forward)


@dataclass(frozen=True)
class SpanRow:
    bandwidth_gbps: float
    sync_every: int  # H: steps between cross-site syncs
    wan_s: float  # one cross-site all-reduce, seconds
    exposed_s_per_step: float
    step_s: float  # spanning, seconds
    days_span: float
    days_one_site: float  # N/s devices at one site
    speedup: float  # > 1: spanning finishes sooner
    extra_device_hours: float  # fraction, spanning vs one site
    faster: bool  # spanning finishes sooner (it still costs more device-hours)


@dataclass(frozen=True)
class CrossSiteReport:
    model: str
    hardware: str
    devices_total: int
    sites: int
    latency_ms: float
    grad_gb: float
    step_s_one_site_full: float  # all N devices in one site (the ideal)
    break_even_gbps: dict[int, float | None]  # H -> bandwidth where speedup = 1
    rows: list[SpanRow]


def analyze(model: str, hardware: str, devices_total: int, *, sites: int = 2,
            tokens: float = 1e12, latency_ms: float = 20.0,
            bandwidths_gbps: tuple[float, ...] = (1, 10, 100, 400, 1600, 3200),
            sync_every: tuple[int, ...] = (1, 8, 32), overlap: float = 1.0) -> CrossSiteReport:
    """The table and the break-even bandwidth for each H (see the module docstring)."""
    from suanli.catalog import load_catalog
    from suanli.perf.ops import param_count

    if sites < 2 or devices_total % sites:
        raise InputError(f"--sites must be >= 2 and divide the device count ({devices_total})")
    full = durations.train_rate(model, hardware, devices_total)
    part = durations.train_rate(model, hardware, devices_total // sites)
    for rate, n in ((full, devices_total), (part, devices_total // sites)):
        if isinstance(rate, durations.Infeasible):
            raise InputError(f"{model} cannot train on {n} x {hardware}: "
                             f"{rate.reason.split(' Reasons')[0]}")
    assert isinstance(full, durations.TrainRate) and isinstance(part, durations.TrainRate)
    grad_bytes = param_count(load_catalog().model(model)) * BYTES_PER_GRAD
    tok_step = full.tokens_per_s * full.step_time_s  # tokens per step at N devices
    t_half = tokens / part.tokens_per_s  # seconds on N/s devices at one site
    hide = overlap * BACKWARD_SHARE * full.step_time_s
    lat_s = 2 * (sites - 1) * latency_ms / 1000.0
    ring = 2.0 * (sites - 1) / sites
    rows = []
    for h in sync_every:
        for bw in bandwidths_gbps:
            wan = ring * grad_bytes * 8.0 / (bw * 1e9) + lat_s
            exposed = max(0.0, wan - hide)
            step = full.step_time_s + exposed / h
            t_span = tokens / tok_step * step
            speedup = t_half / t_span
            extra = (devices_total * t_span) / (devices_total // sites * t_half) - 1.0
            rows.append(SpanRow(bw, h, wan, exposed, step, t_span / 86400, t_half / 86400,
                                speedup, extra, speedup > 1.0))
    breakeven: dict[int, float | None] = {}
    per_tok_half = 1.0 / part.tokens_per_s
    for h in sync_every:
        budget = h * (per_tok_half * tok_step - full.step_time_s)  # allowed exposed s per sync
        room = budget + hide - lat_s  # seconds the bytes may take
        breakeven[h] = (ring * grad_bytes * 8.0 / room / 1e9) if budget > 0 and room > 0 \
            else None
    return CrossSiteReport(model, full.system, devices_total, sites, latency_ms,
                           grad_bytes / 1e9, full.step_time_s, breakeven, rows)
