"""The network: built-in sites plus user-registered ones, validated on load.

Built-in sites come from ``data/sites.csv`` and ``data/inventory.csv`` (generated from the shared
catalogs by ``data/build.py``; see ``data/README.md``). Users join sites with
``suanli net join site.yaml``, which validates the descriptor and copies it into the registry
folder: ``$SUANLI_SITES_DIR`` or ``~/.suanli/sites``. A registered site with a built-in id
replaces the built-in one.
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from suanli.catalog.loader import read_csv_rows
from suanli.errors import CatalogError, InputError, NotFoundError
from suanli.network.descriptor import SiteDescriptor, dump_descriptor, parse_descriptor
from suanli.network.descriptor import read_descriptor as read_site_file

DATA_DIR = Path(__file__).parent / "data"
REGISTRY_ENV = "SUANLI_SITES_DIR"
_SITE_FIELDS = ("electricity", "pue", "carbon", "egress")


class UnknownSiteError(InputError):
    """A site id that is not in the network; suggests close ids."""

    def __init__(self, name: str, choices: list[str]) -> None:
        close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        super().__init__(f"unknown site '{name}'.{hint} List them with `suanli net sites`.")


def registry_dir() -> Path:
    return Path(os.environ.get(REGISTRY_ENV, "~/.suanli/sites")).expanduser()


def _num(raw: dict[str, Any], key: str) -> float | None:
    return float(raw[key]) if key in raw else None


@cache
def builtin_sites() -> tuple[SiteDescriptor, ...]:
    """Parse the generated CSV pair into descriptors (cached; the files are package data)."""
    inv_file = DATA_DIR / "inventory.csv"
    items: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, row in read_csv_rows(inv_file):
        item: dict[str, Any] = {"hardware": row["hardware"], "count": int(row["count"]),
                                "example": row.get("example") == "true",
                                "count_basis": row.get("count_basis", ""),
                                "source": row.get("source", "")}
        for key in ("on_demand_usd_per_device_hour", "spot_usd_per_device_hour",
                    "spot_preemptions_per_hour"):
            if key in row:
                item[key] = float(row[key])
        if "capex_usd_per_device" in row:
            item["owned"] = {k: float(row[k]) for k in ("capex_usd_per_device", "lifetime_years",
                                                        "utilization", "ops_usd_per_device_hour")}
        items[row["site"]].append(item)
    out = []
    site_file = DATA_DIR / "sites.csv"
    for line, row in read_csv_rows(site_file):
        raw: dict[str, Any] = {
            k: row[k] for k in ("id", "name", "provider", "operator", "kind", "region",
                                "country", "role", "hub") if k in row}
        raw["example"] = row.get("example") == "true"
        raw["location"] = {"lat": float(row["lat"]), "lon": float(row["lon"])}
        for key in ("electricity_usd_per_kwh", "pue", "carbon_g_per_kwh", "egress_usd_per_gb"):
            if key in row:
                raw[key] = float(row[key])
        raw["inventory"] = items.pop(row["id"], [])
        raw["sources"] = {f: row[f"{f}_basis"] for f in _SITE_FIELDS if f"{f}_basis" in row}
        raw["sources"]["site"] = row.get("source", "")
        out.append(parse_descriptor(raw, file=f"{site_file}:{line}"))
    if items:
        raise CatalogError(f"inventory rows name sites that do not exist: {sorted(items)}",
                           file=str(inv_file))
    return tuple(out)


def check_hardware(site: SiteDescriptor) -> SiteDescriptor:
    """Resolve every inventory line's hardware to a catalog system id and make sure the network
    can use it: known to the catalog, and priced (an owned line needs the accelerator's power
    to price its electricity). Errors name the line; a site that passes cannot make a later
    command fail."""
    from suanli.catalog import load_catalog
    from suanli.network.pricing import device_hour_price

    cat = load_catalog()
    lines = []
    for i, item in enumerate(site.inventory):
        try:
            system = cat.system(item.hardware)
        except NotFoundError as exc:
            raise CatalogError(str(exc), file=f"site {site.id}",
                               field=f"inventory.{i}.hardware") from None
        lines.append(item.model_copy(update={"hardware": system.id}))
    seen: set[str] = set()
    for i, item in enumerate(lines):
        if item.hardware in seen:
            raise CatalogError(f"'{site.inventory[i].hardware}' is the system "
                               f"{item.hardware}, already listed; merge the lines",
                               file=f"site {site.id}", field=f"inventory.{i}.hardware")
        seen.add(item.hardware)
    site = site.model_copy(update={"inventory": lines})
    if site.measured is not None:
        site = _check_measured(site)
    for i, item in enumerate(site.inventory):
        try:
            device_hour_price(item, site)
        except (CatalogError, InputError) as exc:
            raise CatalogError(f"{item.hardware} cannot be priced here ({exc}); give "
                               "on_demand_usd_per_device_hour instead of owned costs, or use "
                               "hardware whose catalog entry has a power (tdp_w)",
                               file=f"site {site.id}", field=f"inventory.{i}") from None
    return site


def _check_measured(site: SiteDescriptor) -> SiteDescriptor:
    """Name the measured line by its system id, and refuse figures above the declared peaks
    of that hardware (the bench then ran on something else). Per device, same dtype. The
    descriptor already refused a ``measured.hardware`` that is no inventory line (names match
    case-insensitively, and the catalog resolves both names to one system)."""
    from suanli.catalog import load_catalog

    m = site.measured
    assert m is not None
    cat = load_catalog()
    system = cat.system(m.hardware)
    acc = cat.accelerator(system.accelerator)
    if m.kind and (m.kind == "cpu") != (acc.family == "cpu"):
        raise CatalogError(f"the bench ran on a {m.kind.upper()}, but {system.id} is "
                           f"{'a CPU' if acc.family == 'cpu' else 'an accelerator'} "
                           f"({acc.id}); bench one device of that line on its own host",
                           file=f"site {site.id}", field="measured.hardware")
    over = [f"gemm_tflops.{d}: {v:g} TFLOP/s > the declared {d} peak of {acc.id}, "
            f"{acc.peak_flops(d) / 1e12:g}" for d, v in m.gemm_tflops.items()
            if getattr(acc, f"{d}_tflops", None) is not None and v * 1e12 > acc.peak_flops(d)]
    if m.memory_bw_gbs is not None and m.memory_bw_gbs * 1e9 > acc.memory_bw:
        over.append(f"memory_bw_gbs: {m.memory_bw_gbs:g} GB/s > the declared "
                    f"{acc.memory_bw_gbs:g} GB/s of {acc.id}")
    if over:
        raise CatalogError(f"{over[0]}; the bench ran on other hardware than this line "
                           "(bench one device of it, or name the line it ran on)",
                           file=f"site {site.id}", field="measured")
    return site.model_copy(update={"measured": m.model_copy(update={"hardware": system.id})})


@dataclass(frozen=True)
class Network:
    """All sites by id. Links are computed on demand by :mod:`suanli.network.links`."""

    sites: dict[str, SiteDescriptor]
    skipped: tuple[str, ...] = ()  # registered files left out: why, and how to fix it

    def site(self, site_id: str) -> SiteDescriptor:
        if site_id not in self.sites:
            raise UnknownSiteError(site_id, list(self.sites))
        return self.sites[site_id]

    def __len__(self) -> int:
        return len(self.sites)

    def subset(self, ids: list[str]) -> Network:
        return Network({i: self.site(i) for i in ids})


def registered_files(folder: Path | None = None) -> list[Path]:
    d = folder or registry_dir()
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


def load_network(extra_files: Sequence[str | Path] = (), *,
                 registry: Path | None = None, include_builtin: bool = True) -> Network:
    """Built-in sites, then registered sites, then ``extra_files``; later ids replace earlier.

    A registered file that no longer validates (edited by hand, or the catalog changed) is
    SKIPPED and named in ``Network.skipped`` (the CLI prints it as a warning), so one bad file
    cannot stop every command; a bad file named in ``extra_files`` is an error."""
    sites: dict[str, SiteDescriptor] = {}
    skipped: list[str] = []
    if include_builtin:
        sites.update((s.id, s) for s in builtin_sites())
    for path in registered_files(registry):
        try:
            site = check_hardware(read_site_file(path))
        except (CatalogError, InputError) as exc:
            skipped.append(f"skipped registered site file {path}: {exc} (fix it and re-join "
                           "with --replace, or delete the file)")
            continue
        sites[site.id] = site
    for path in map(Path, extra_files):
        site = check_hardware(read_site_file(path))
        sites[site.id] = site
    return Network(sites, tuple(skipped))


def join_site(path: str | Path | SiteDescriptor, *, registry: Path | None = None,
              replace: bool = False) -> tuple[SiteDescriptor, Path]:
    """Validate a descriptor (a file, or one already read) and register it (written back
    normalized as YAML)."""
    site = check_hardware(path if isinstance(path, SiteDescriptor) else read_site_file(path))
    if not replace and any(s.id == site.id for s in builtin_sites()):
        raise InputError(f"site id '{site.id}' is a built-in site; pick another id or pass "
                         "--replace to override it")
    folder = registry or registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{site.id.replace(':', '_')}.yaml"
    if target.exists() and not replace:
        raise InputError(f"site '{site.id}' is already registered ({target}); pass --replace "
                         "to update it")
    target.write_text(dump_descriptor(site), encoding="utf-8")
    return site, target
