"""The standard site descriptor (schema version 1): what any provider fills in to join the network.

One pydantic model is the single source of truth: the built-in sites are parsed into it, user
files (YAML or JSON) are validated by it, and the published JSON Schema
(``schema/site-descriptor.v1.json``) is exported from it with :func:`json_schema`.

A price is required for every inventory line, in one of two forms:
  - rented: ``on_demand_usd_per_device_hour`` (and optionally ``spot_usd_per_device_hour``);
  - owned: ``owned: {capex_usd_per_device, lifetime_years, utilization, ops_usd_per_device_hour}``,
    priced by :func:`suanli.network.pricing.owned_price` (amortized capex + electricity x power x
    PUE + operations), which then needs the site's ``electricity_usd_per_kwh``.

A descriptor comes from strangers (``suanli net join``, ``POST /sites``), so it cannot break the
network: a file is at most ``MAX_BYTES``, UTF-8, nested at most ``MAX_DEPTH`` levels with at
most ``MAX_NODES`` values; every number is finite and inside a physical range (no infinite
price, no 10^15 devices); strings and lists are bounded. Each violation is one line naming the
file and field (:class:`~suanli.errors.CatalogError`, exit 2), never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from suanli.errors import CatalogError
from suanli.network.measured import Measured

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "schema" / f"site-descriptor.v{SCHEMA_VERSION}.json"
SiteKind = Literal["cloud_region", "supercomputing", "ai_centre", "enterprise", "edge"]


MAX_BYTES = 1 << 20  # 1 MiB: a large site lists a few dozen inventory lines (~10 kB)
MAX_DEPTH = 8  # site > inventory > line > owned > value is 5 levels
MAX_NODES = 20_000  # mappings, lists and scalars in one descriptor
MAX_INVENTORY = 512  # inventory lines
MAX_DEVICES = 10_000_000  # devices of one type at one site (the largest clusters: ~10^5)
MAX_USD_PER_DEVICE_HOUR = 1_000.0  # list prices are $0.1-$15; a typo or attack beyond this
MAX_TEXT = 4_000  # characters in one string


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False,
                              str_max_length=MAX_TEXT)


class Location(_Frozen):
    lat: float = Field(ge=-90, le=90, description="latitude, degrees")
    lon: float = Field(ge=-180, le=180, description="longitude, degrees")


class OwnedCost(_Frozen):
    """Parameters of an owned device's hourly cost (see ``pricing.owned_price``)."""

    capex_usd_per_device: float = Field(gt=0, le=10_000_000, description="purchase price per "
                                        "device incl. its share of server and network, USD")
    lifetime_years: float = Field(default=4.0, gt=0, le=30, description="amortization period")
    utilization: float = Field(default=0.7, gt=0, le=1, description="share of hours sold/used")
    ops_usd_per_device_hour: float = Field(default=0.0, ge=0, le=MAX_USD_PER_DEVICE_HOUR,
                                           description="staff, maintenance, space, per "
                                                       "device-hour")


class InventoryItem(_Frozen):
    """One accelerator type at a site: how many, of which system shape, at what price."""

    hardware: str = Field(min_length=1, max_length=64, description="Suanli system id (e.g. "
                          "dgx-h100) or accelerator name (its default system)")
    count: int = Field(ge=1, le=MAX_DEVICES, description="devices (GPUs/NPUs/TPU chips) "
                                                         "available")
    on_demand_usd_per_device_hour: float | None = Field(default=None, gt=0,
                                                        le=MAX_USD_PER_DEVICE_HOUR)
    spot_usd_per_device_hour: float | None = Field(default=None, gt=0,
                                                   le=MAX_USD_PER_DEVICE_HOUR)
    owned: OwnedCost | None = None
    spot_preemptions_per_hour: float | None = Field(
        default=None, ge=0, le=100, description="mean spot preemptions per node-hour; when "
        "omitted, spot offers take DEFAULT_PREEMPTIONS_PER_HOUR (see suanli.network.resources)")
    example: bool = Field(default=False, description="true when the count is an illustration")
    count_basis: str = ""
    source: str = ""

    @model_validator(mode="after")
    def _has_price(self) -> InventoryItem:
        if self.on_demand_usd_per_device_hour is None and self.owned is None:
            raise ValueError(
                f"inventory line '{self.hardware}' has no price: give "
                "on_demand_usd_per_device_hour (rented) or owned: {capex_usd_per_device: ...} "
                "(owned hardware)")
        if self.spot_usd_per_device_hour is not None and self.on_demand_usd_per_device_hour \
                and self.spot_usd_per_device_hour > self.on_demand_usd_per_device_hour:
            raise ValueError(f"inventory line '{self.hardware}': spot price is above the "
                             "on-demand price; check the two fields")
        return self


class SiteDescriptor(_Frozen):
    """A compute site: who runs it, where it is, what it has, what power and carbon cost."""

    schema_version: Literal[1] = Field(default=1, description="descriptor schema version")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9:._-]*$", max_length=64,
                    description="unique id: lower case, digits, ':', '.', '_', '-'")
    name: str = Field(min_length=1)
    provider: str = Field(min_length=1, description="provider or owner family (aws, gcp, ...)")
    operator: str = ""
    kind: SiteKind
    region: str = ""
    country: str = Field(min_length=1)
    location: Location
    electricity_usd_per_kwh: float | None = Field(default=None, ge=0, le=10)
    pue: float = Field(ge=1.0, le=3.0, description="power usage effectiveness")
    carbon_g_per_kwh: float | None = Field(default=None, ge=0, le=3_000,
                                           description="grid carbon intensity, gCO2e/kWh")
    egress_usd_per_gb: float = Field(default=0.0, ge=0, le=100,
                                     description="price of data leaving")
    wan_gbps: float | None = Field(default=None, gt=0, le=1_000_000,
                                   description="WAN capacity out of the site")
    role: Literal["", "east", "west", "edge"] = ""
    hub: str = ""
    example: bool = Field(default=False, description="true when the site itself is an "
                          "illustration, not a real facility (left out of quotes unless asked)")
    inventory: list[InventoryItem] = Field(min_length=1, max_length=MAX_INVENTORY)
    sources: dict[str, str] = Field(default_factory=dict, max_length=64,
                                    description="basis per field: price, pue, carbon, ...")
    notes: str = ""
    measured: Measured | None = Field(default=None, description="what `suanli bench` "
                                      "measured on one device of an inventory line (used "
                                      "over declared figures where it is the same quantity: "
                                      "suanli.network.measured)")

    @model_validator(mode="after")
    def _owned_needs_power_price(self) -> SiteDescriptor:
        if self.electricity_usd_per_kwh is None and any(i.owned for i in self.inventory):
            raise ValueError("owned hardware is priced with electricity: give "
                             "electricity_usd_per_kwh for this site")
        seen: set[str] = set()
        for item in self.inventory:
            if item.hardware.lower() in seen:
                raise ValueError(f"hardware '{item.hardware}' is listed twice; merge the lines")
            seen.add(item.hardware.lower())
        m = self.measured
        if m is not None:
            lines = [i.hardware for i in self.inventory]
            if not m.hardware and len(lines) > 1:
                raise ValueError(f"measured.hardware: name the inventory line the bench ran "
                                 f"on (one of {', '.join(lines)})")
            if m.hardware and m.hardware.lower() not in seen:
                raise ValueError(f"measured.hardware '{m.hardware}' is not an inventory line "
                                 f"of this site ({', '.join(lines)})")
            if not m.hardware:
                object.__setattr__(self, "measured", m.model_copy(update={"hardware":
                                                                          lines[0]}))
        return self


Site = SiteDescriptor  # the runtime record is the descriptor itself (frozen)


def json_schema() -> dict[str, Any]:
    """The versioned JSON Schema (draft 2020-12) of the descriptor."""
    schema = SiteDescriptor.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://suanli.dev/schema/site-descriptor.v{SCHEMA_VERSION}.json"
    schema["title"] = f"Suanli site descriptor v{SCHEMA_VERSION}"
    return schema


def _error_text(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling against `suanli net schema`)"
    return loc, msg


def _check_shape(raw: Any, file: str) -> None:
    """Depth and size of the parsed value, iteratively (no recursion to exhaust)."""
    stack: list[tuple[Any, int, str]] = [(raw, 1, "")]
    nodes = 0
    while stack:
        value, depth, path = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise CatalogError(f"nested deeper than {MAX_DEPTH} levels; a site descriptor is "
                               "flat (see `suanli net schema`)", file=file, field=path or None)
        if nodes > MAX_NODES:
            raise CatalogError(f"more than {MAX_NODES:,} values; a site descriptor lists a few "
                               "dozen inventory lines", file=file)
        if isinstance(value, dict):
            for key, sub in value.items():
                if not isinstance(key, str):
                    raise CatalogError(f"field names must be text, got {type(key).__name__} "
                                       f"{str(key)[:40]!r}", file=file, field=path or None)
                stack.append((sub, depth + 1, f"{path}.{key}" if path else key))
        elif isinstance(value, list):
            stack.extend((sub, depth + 1, f"{path}.{i}") for i, sub in enumerate(value))


def parse_descriptor(raw: Any, *, file: str = "<site>") -> SiteDescriptor:
    """Validate one descriptor mapping; errors name the file and the exact field path."""
    if not isinstance(raw, dict):
        raise CatalogError("a site descriptor must be a mapping of fields", file=file)
    _check_shape(raw, file)
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise CatalogError(f"schema_version {str(version)[:20]} is not supported; this Suanli "
                           f"reads version {SCHEMA_VERSION}", file=file, field="schema_version")
    try:
        return SiteDescriptor.model_validate(raw)
    except ValidationError as exc:
        loc, msg = _error_text(exc)
        raise CatalogError(msg, file=file, field=loc or None) from None


def decode_descriptor(data: bytes, *, file: str = "<site>", as_json: bool = False) -> Any:
    """Bytes of a YAML or JSON descriptor -> the parsed value, refusing what could hurt: more
    than ``MAX_BYTES``, bytes that are not UTF-8, and nesting deep enough to exhaust the
    parser's recursion (module docstring)."""
    import yaml

    if len(data) > MAX_BYTES:
        raise CatalogError(f"is {len(data):,} bytes; a site descriptor may be at most "
                           f"{MAX_BYTES:,} bytes (1 MiB)", file=file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                           f"{exc.start}); save it as UTF-8", file=file) from None
    try:
        return json.loads(text) if as_json else yaml.safe_load(text)
    except RecursionError:
        raise CatalogError(f"nested deeper than {MAX_DEPTH} levels; a site descriptor is flat",
                           file=file) from None
    except (json.JSONDecodeError, yaml.YAMLError, ValueError) as exc:
        raise CatalogError(f"cannot parse: {exc}".splitlines()[0][:300], file=file) from None


def read_descriptor(path: str | Path) -> SiteDescriptor:
    """Read a YAML or JSON site file (``.yaml``, ``.yml``, ``.json``)."""
    p = Path(path)
    if not p.is_file():
        raise CatalogError(f"site file '{path}' does not exist; give the path to a YAML or JSON "
                           "site descriptor (see examples/site.yaml)")
    size = p.stat().st_size
    if size > MAX_BYTES:  # refuse before reading it
        raise CatalogError(f"is {size:,} bytes; a site descriptor may be at most "
                           f"{MAX_BYTES:,} bytes (1 MiB)", file=str(p))
    raw = decode_descriptor(p.read_bytes(), file=str(p), as_json=p.suffix == ".json")
    return parse_descriptor(raw, file=str(p))


def dump_descriptor(site: SiteDescriptor, fmt: str = "yaml") -> str:
    """Serialize a site for export (``yaml`` or ``json``); round-trips through read_descriptor."""
    data = site.model_dump(mode="json", exclude_defaults=False)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
