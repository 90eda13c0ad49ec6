"""The resources an option table prices: every (site, hardware line) the filters allow, as
parallel arrays (:class:`Resources`), and the accumulator of option rows (:class:`OptionRows`).
Shared by the training and serving option builders (``options``, ``train_batch``,
``serve_options``), which import from here rather than from each other."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from suanli.network import durations
from suanli.network.descriptor import InventoryItem, SiteDescriptor
from suanli.network.jobs import Filters, InferJob, Job
from suanli.network.measured import MeasuredKey
from suanli.network.placement.table import OptionTable
from suanli.network.pricing import device_hour_price
from suanli.network.sites import Network

HwKey = tuple[str, MeasuredKey | None]  # (system id, measured figures or None)
ServeFn = Callable[[InferJob, str, "float | None"], "durations.ServeRate | durations.Infeasible"]
# Spot lines that declare no preemption rate are not risk-free: they take the median of every
# measured AWS zone, 0.505 preemptions per node-hour (NSDI'24 spot traces; data/README.md),
# the same default the built-in spot lines without their own measurement carry.
DEFAULT_PREEMPTIONS_PER_HOUR = 0.505


@dataclass
class Resources:
    """The resources (site, hardware) as parallel lists/arrays."""

    site: list[SiteDescriptor]
    item: list[InventoryItem]
    od: np.ndarray  # USD/device-h, NaN if filtered out
    spot: np.ndarray  # NaN if none
    preempt: np.ndarray
    pue: np.ndarray
    carbon: np.ndarray  # NaN if unknown
    cap: np.ndarray

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"{s.id}/{i.hardware}" for s, i in zip(self.site, self.item, strict=True))


def hardware_matcher(names: Sequence[str]) -> Callable[[str], bool]:
    """Filter by system id or accelerator (e.g. 'H100' matches dgx-h100 and aws-p5)."""
    if not names:
        return lambda _system: True
    from suanli.catalog import load_catalog
    from suanli.errors import NotFoundError

    cat = load_catalog()
    systems, accs = set(), set()
    for n in names:
        try:
            accs.add(cat.accelerator(n).id)
        except NotFoundError:
            systems.add(cat.system(n).id)  # raises a clear "unknown hardware" error
    return lambda system: system in systems or cat.system(system).accelerator in accs


def collect_resources(net: Network, filters: Filters,
                      free: Mapping[str, int] | None = None) -> Resources:
    """Every (site, hardware) the filters allow; ``free`` overrides counts ("site/hw": n)."""
    ok_hw = hardware_matcher(filters.hardware)
    rows: list[tuple[SiteDescriptor, InventoryItem, float, float, float, int]] = []
    for site in net.sites.values():
        if not filters.accepts_site(site.provider, site.country, site.id, site.kind):
            continue
        if site.example and not (filters.include_examples or site.id in filters.sites):
            continue  # fictional sites only when asked for (--include-examples or --site)
        for item in site.inventory:
            if not ok_hw(item.hardware):
                continue
            od = device_hour_price(item, site).usd_per_device_hour
            spot = item.spot_usd_per_device_hour or math.nan
            cap = filters.max_price_usd_per_device_hour
            if cap is not None:
                od = od if od <= cap else math.nan
                spot = spot if spot <= cap else math.nan
            n_free = item.count if free is None else int(free.get(f"{site.id}/{item.hardware}",
                                                                   item.count))
            rate = item.spot_preemptions_per_hour
            rows.append((site, item, od, spot,
                         DEFAULT_PREEMPTIONS_PER_HOUR if rate is None else rate, n_free))
    return Resources(site=[r[0] for r in rows], item=[r[1] for r in rows],
                od=np.array([r[2] for r in rows]), spot=np.array([r[3] for r in rows]),
                preempt=np.array([r[4] for r in rows]),
                pue=np.array([r[0].pue for r in rows]),
                carbon=np.array([r[0].carbon_g_per_kwh if r[0].carbon_g_per_kwh is not None
                                 else math.nan for r in rows]),
                cap=np.array([r[5] for r in rows], dtype=np.int64))


class OptionRows:
    """Accumulates option rows (arrays or scalars per chunk) and per-job reasons; scalars are
    expanded once at the end (np.repeat), not per chunk."""

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray | float | int | bool]] = {k: [] for k in (
            "job", "resource", "devices", "cost", "time", "co2", "spot", "energy", "run",
            "tr_s", "tr_usd", "price")}
        self.sizes: list[int] = []
        self.plans: list[str] = []

    def add(self, n_rows: int, plan: str, **cols: np.ndarray | float | int | bool) -> None:
        if n_rows == 0:
            return
        for key, value in cols.items():
            self.cols[key].append(value)
        self.sizes.append(n_rows)
        self.plans.append(plan)

    def table(self, jobs: Sequence[Job], res: Resources, unplaceable: dict[str, list[str]]
              ) -> OptionTable:
        sizes = np.asarray(self.sizes, dtype=np.int64)

        def cat(key: str, dtype: type) -> np.ndarray:
            parts = self.cols[key]
            if not parts:
                return np.zeros(0, dtype=dtype)
            if all(np.ndim(p) == 0 for p in parts):
                return np.repeat(np.asarray(parts, dtype=dtype), sizes)
            return np.concatenate([np.full(n, p, dtype=dtype) if np.ndim(p) == 0
                                   else np.asarray(p, dtype=dtype)
                                   for p, n in zip(parts, self.sizes, strict=True)])

        return OptionTable(
            job=cat("job", np.int64), resource=cat("resource", np.int64),
            devices=cat("devices", np.int64), cost_usd=cat("cost", float),
            time_s=cat("time", float), co2_kg=cat("co2", float), capacity=res.cap,
            job_ids=tuple(j.id for j in jobs), resource_names=res.names, spot=cat("spot", bool),
            energy_kwh=cat("energy", float), run_s=cat("run", float),
            transfer_s=cat("tr_s", float), transfer_usd=cat("tr_usd", float),
            price=cat("price", float),
            plan=tuple(p for p, n in zip(self.plans, self.sizes, strict=True)
                       for _ in range(n)),
            unplaceable=unplaceable)


@cache
def node_size(system: str) -> int:
    from suanli.catalog import load_catalog

    return load_catalog().system(system).devices_per_node
