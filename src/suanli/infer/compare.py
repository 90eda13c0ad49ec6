"""Side-by-side serving comparison: hardware x precision/compression x site, one row each.

Each row is the best layout of one (hardware, compression, site): the tensor-parallel degree and
batch with the most output tokens/s per device whose continuous-batching TTFT and TPOT meet the
limits (``curves.best_tp_under_slo``), priced at the site's device-hour price (or the catalog's
list price without ``sites``):

    $ per M output tokens = price x devices per replica / (3600 x output tokens/s) x 1e6

With a traffic (output tokens/s), ``devices = ceil(traffic / (rho x tokens/s per replica)) x
devices per replica``, as ``infer plan``'s analytic stage. Quality loss of a compression is
not modelled (an input, never invented; see ``suanli.infer.compression``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from suanli.errors import InputError, SuanliError

# what-if names -> (precision preset, sparsity); "PRESET[+SPARSITY]" is accepted as well
COMPRESSIONS: dict[str, tuple[str, str]] = {
    "bf16": ("bf16", "none"), "fp16": ("fp16", "none"), "fp8": ("fp8", "none"),
    "int8": ("w8a8", "none"), "int8-weights": ("w8a16", "none"), "int4": ("w4a16", "none"),
    "2:4": ("bf16", "2:4"), "unstructured": ("bf16", "unstructured50"),
}


@dataclass(frozen=True)
class Variant:
    label: str
    precision: str
    sparsity: str = "none"


def parse_variant(text: str) -> Variant:
    """``int8`` -> w8a8; ``2:4`` -> bf16 with 2:4 sparsity; ``fp8+2:4`` -> fp8 with 2:4."""
    from suanli.infer.compression import PRESETS, SPARSITY

    key = text.strip().lower()
    if key in COMPRESSIONS:
        return Variant(key, *COMPRESSIONS[key])
    prec, _, sp = key.partition("+")
    sp = {"unstructured": "unstructured50"}.get(sp, sp) or "none"
    if prec in PRESETS and sp in SPARSITY:
        return Variant(key, prec, sp)
    raise InputError(f"unknown compression '{text}'; use {', '.join(COMPRESSIONS)} or "
                     "PRECISION+SPARSITY such as fp8+2:4")


@dataclass(frozen=True)
class Row:
    hardware: str  # system id
    accelerator: str
    site: str  # site id, or "list price"
    compression: str
    tp: int | None
    batch: int | None
    ttft_s: float | None
    tpot_s: float | None
    output_tokens_per_s_per_device: float | None
    usd_per_device_hour: float | None
    usd_per_million_output_tokens: float | None
    devices: int | None  # for the traffic, if given
    memory_per_device_gb: float | None
    note: str = ""  # why there is no number

    @property
    def ok(self) -> bool:
        return self.usd_per_million_output_tokens is not None


def _site_prices(hardware: str, sites: list[str]) -> list[tuple[str, float | None]]:
    """(site, price per device-hour) for ``hardware``; without sites, the catalog list price."""
    from suanli.catalog import load_catalog

    cat = load_catalog()
    system = cat.system(hardware)
    if not sites:
        acc = cat.accelerator(system.accelerator)
        return [("list price", system.price_usd_per_device_hour or acc.price_usd_per_hour)]
    from suanli.network.pricing import device_hour_price
    from suanli.network.sites import load_network

    net = load_network()
    out: list[tuple[str, float | None]] = []
    for sid in sites:
        site = net.site(sid)
        for item in site.inventory:
            if cat.system(item.hardware).accelerator == system.accelerator:
                out.append((sid, device_hour_price(item, site).usd_per_device_hour))
                break
        else:
            out.append((sid, None))
    return out


def compare(model: str, hardware: list[str], *, variants: list[Variant] | None = None,
            sites: list[str] | None = None, prompt_len: int = 1024, output_len: int = 256,
            ttft_slo_s: float | None = 2.0, tpot_slo_s: float | None = 0.1,
            traffic_output_tokens_per_s: float | None = None, rho: float = 0.8,
            progress: Callable[[int, int, str], None] | None = None) -> list[Row]:
    """Every (hardware, compression, site) row; ``variants`` default to what each chip runs
    well (``capacity.precision_candidates``). ``progress(done, total, what)`` is called per
    (hardware, compression)."""
    from suanli.catalog import load_catalog
    from suanli.infer.capacity import precision_candidates
    from suanli.infer.compression import parse_compression
    from suanli.infer.curves import best_tp_under_slo

    if not hardware:
        raise InputError("give at least one --hardware")
    cat = load_catalog()
    rows: list[Row] = []
    plan = [(hw, variants or [Variant(p, p) for p in precision_candidates(hw)])
             for hw in hardware]
    total, done = sum(len(vs) for _, vs in plan), 0
    for hw, vs in plan:
        system = cat.system(hw)
        prices = _site_prices(hw, list(sites or []))
        for v in vs:
            if progress:
                progress(done, total, f"{system.accelerator} {v.label}")
            done += 1
            try:
                parse_compression(v.precision, sparsity=v.sparsity).check(
                    cat.accelerator(system.accelerator))
                e = best_tp_under_slo(model, system.id, prompt_len=prompt_len,
                                      output_len=output_len, ttft_slo_s=ttft_slo_s,
                                      tpot_slo_s=tpot_slo_s, precision=v.precision,
                                      sparsity=v.sparsity)
                note = "" if e else "no layout up to TP8 fits and meets the limits"
            except SuanliError as exc:  # e.g. the chip has no such precision
                e, note = None, str(exc).split(", so")[0].split(";")[0]
            for site, price in prices:
                if e is None:
                    rows.append(Row(system.id, system.accelerator, site, v.label, None, None,
                                    None, None, None, price, None, None, None, note))
                    continue
                usd = None if price is None else \
                    price * e.devices_per_replica / (3600.0 * e.output_tokens_per_s) * 1e6
                devices = None
                if traffic_output_tokens_per_s:
                    devices = math.ceil(traffic_output_tokens_per_s /
                                        (rho * e.output_tokens_per_s)) * e.devices_per_replica
                rows.append(Row(system.id, system.accelerator, site, v.label, e.tp, e.batch,
                                e.ttft_continuous_s, e.tpot_continuous_s,
                                e.output_tokens_per_s_per_device, price, usd, devices,
                                e.memory_per_device_gb,
                                "" if price is not None else "no price at this site"))
    return rows


GROUPS = ("hardware", "compression", "site")


def best_per_group(rows: list[Row], by: str) -> list[Row]:
    """The cheapest row ($ per M output tokens) of each value of ``by``, cheapest first;
    a group with no priced row keeps its first row (with its note)."""
    if by not in GROUPS:
        raise InputError(f"--by takes {', '.join(GROUPS)}, got '{by}'")
    best: dict[str, Row] = {}
    for r in rows:
        key = getattr(r, by)
        cur = best.get(key)
        if cur is None or (r.ok and (not cur.ok or _usd(r) < _usd(cur))):
            best[key] = r
    return sorted(best.values(), key=lambda r: (not r.ok, _usd(r)))


def _usd(r: Row) -> float:
    return math.inf if r.usd_per_million_output_tokens is None else \
        r.usd_per_million_output_tokens
