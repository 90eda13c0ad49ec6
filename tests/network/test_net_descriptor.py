"""The site descriptor: validation with precise errors, schema export, round trips, joining."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from suanli.errors import CatalogError, InputError
from suanli.network.descriptor import (
    SCHEMA_PATH,
    dump_descriptor,
    json_schema,
    parse_descriptor,
    read_descriptor,
)
from suanli.network.sites import check_hardware, join_site, load_network

from .conftest import EXAMPLES


def _example() -> dict:
    return yaml.safe_load((EXAMPLES / "site.yaml").read_text())


def test_example_site_is_valid_and_resolves_hardware() -> None:
    site = check_hardware(read_descriptor(EXAMPLES / "site.yaml"))
    assert site.id == "acme-wuhan-ai"
    # "H100" is an accelerator name; it resolves to its default catalog system
    assert [i.hardware for i in site.inventory] == ["atlas-800t-a2", "dgx-h100"]


def test_missing_price_names_the_line_and_the_fix() -> None:
    raw = _example()
    raw["inventory"][1].pop("on_demand_usd_per_device_hour")
    raw["inventory"][1].pop("spot_usd_per_device_hour")
    with pytest.raises(CatalogError,
                       match=r"inventory\.1.*no price.*on_demand_usd_per_device_hour"):
        parse_descriptor(raw, file="site.yaml")


@pytest.mark.parametrize(("field", "value", "match"), [
    ("pue", 0.8, "pue"),
    ("location", {"lat": 95, "lon": 0}, r"location\.lat"),
    ("kind", "moon_base", "kind"),
    ("id", "Has Spaces", "id"),
    ("pue_typo", 1.2, "unknown field"),
    ("schema_version", 2, "schema_version 2 is not supported"),
])
def test_bad_fields_are_named(field: str, value: object, match: str) -> None:
    raw = _example()
    raw[field] = value
    with pytest.raises(CatalogError, match=match):
        parse_descriptor(raw, file="site.yaml")


def test_missing_required_field() -> None:
    raw = _example()
    del raw["country"]
    with pytest.raises(CatalogError, match=r"country.*required field is missing"):
        parse_descriptor(raw)


def test_owned_hardware_needs_an_electricity_price() -> None:
    raw = _example()
    del raw["electricity_usd_per_kwh"]
    with pytest.raises(CatalogError, match="electricity_usd_per_kwh"):
        parse_descriptor(raw)


def test_spot_above_on_demand_is_rejected() -> None:
    raw = _example()
    raw["inventory"][1]["spot_usd_per_device_hour"] = 9.0
    with pytest.raises(CatalogError, match="spot price is above"):
        parse_descriptor(raw)


def test_unknown_hardware_is_caught_with_suggestions() -> None:
    raw = _example()
    raw["inventory"][0]["hardware"] = "atlas-800t-a3"
    with pytest.raises(CatalogError, match=r"inventory\.0\.hardware.*Did you mean"):
        check_hardware(parse_descriptor(raw))


def test_published_schema_file_matches_the_model() -> None:
    assert json.loads(SCHEMA_PATH.read_text()) == json_schema()
    schema = json_schema()
    assert "inventory" in schema["required"] and schema["title"].endswith("v1")


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_import_round_trip(net, tmp_path: Path, fmt: str) -> None:
    for site_id in ("cn-zhongwei", "aws:us-east-1", "edge-beijing"):
        site = net.site(site_id)
        path = tmp_path / f"s.{fmt}"
        path.write_text(dump_descriptor(site, fmt))
        assert read_descriptor(path) == site


def test_join_registers_and_refuses_duplicates(_empty_registry: Path) -> None:
    _site, path = join_site(EXAMPLES / "site.yaml")
    assert path.parent == _empty_registry and path.exists()
    assert "acme-wuhan-ai" in load_network().sites
    with pytest.raises(InputError, match="already registered"):
        join_site(EXAMPLES / "site.yaml")
    join_site(EXAMPLES / "site.yaml", replace=True)


def test_join_refuses_a_builtin_id(tmp_path: Path) -> None:
    raw = _example()
    raw["id"] = "cn-zhongwei"
    p = tmp_path / "dup.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError, match="built-in site"):
        join_site(p)
