"""A site descriptor cannot break the network: every hostile or broken file is refused with one
line (exit 2, no traceback), and a bad file already in the registry is skipped with a warning."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from suanli.cli.main import app
from suanli.errors import CatalogError
from suanli.network.descriptor import MAX_BYTES, decode_descriptor, parse_descriptor
from suanli.network.sites import check_hardware, join_site, load_network

from .conftest import EXAMPLES

runner = CliRunner()


def _example() -> dict:
    return yaml.safe_load((EXAMPLES / "site.yaml").read_text())


def _join(path: Path) -> tuple[int, str]:
    """The real entry point (it maps user errors to exit 2), in a subprocess."""
    res = subprocess.run([sys.executable, "-m", "suanli.cli.main", "net", "join", str(path)],
                         capture_output=True, text=True, timeout=120, env=os.environ.copy())
    return res.returncode, res.stdout + res.stderr


def _one_line_exit_2(code: int, out: str) -> str:
    assert code == 2, out
    assert "Traceback" not in out
    assert len(out.strip().splitlines()) == 1, out
    return out


def test_non_utf8_bytes_exit_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_bytes(b"id: acme\nname: \xff\xfe caf\xe9\n")
    out = _one_line_exit_2(*_join(path))
    assert "not UTF-8" in out and "0xff" in out


@pytest.mark.parametrize("suffix,text", [
    (".json", "[" * 5000 + "]" * 5000),  # deep enough to exhaust the JSON parser's recursion
    (".yaml", "a: " + "[" * 5000 + "]" * 5000),
    (".yaml", "a:\n  b:\n    c:\n      d:\n        e:\n          f:\n            g:\n"
              "              h:\n                i: 1\n"),  # parses, but deeper than allowed
])
def test_deep_nesting_exit_2_with_one_line(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"site{suffix}"
    path.write_text(text)
    out = _one_line_exit_2(*_join(path))
    assert "nested deeper" in out


def test_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    raw = _example()
    raw["notes"] = "x" * 100
    text = yaml.safe_dump(raw)
    path.write_text(text + "#" + " " * (20 * 1024 * 1024) + "\n")  # 20 MB of comment
    out = _one_line_exit_2(*_join(path))
    assert "at most 1,048,576 bytes" in out
    with pytest.raises(CatalogError, match="at most"):
        decode_descriptor(b" " * (MAX_BYTES + 1))


def test_alias_bomb_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
              for i in range(1, 6)]
    raw = decode_descriptor("\n".join(lines).encode())
    with pytest.raises(CatalogError, match=r"nested deeper|more than"):
        parse_descriptor(raw)


@pytest.mark.parametrize("field,value,match", [
    ("on_demand_usd_per_device_hour", math.inf, "finite"),
    ("on_demand_usd_per_device_hour", 1e9, "less than or equal to 1000"),
    ("count", 10**15, "less than or equal to 10000000"),
    ("spot_preemptions_per_hour", math.nan, "finite"),
])
def test_numbers_are_finite_and_bounded(field: str, value: float, match: str) -> None:
    raw = _example()
    raw["inventory"][1][field] = value
    with pytest.raises(CatalogError, match=rf"inventory\.1\.{field}.*{match}"):
        parse_descriptor(raw)


def test_infinite_price_in_a_file_exit_2(tmp_path: Path) -> None:
    raw = _example()
    raw["inventory"][1]["on_demand_usd_per_device_hour"] = "Infinity"
    path = tmp_path / "site.json"
    path.write_text(json.dumps(raw).replace('"Infinity"', "Infinity"))
    out = _one_line_exit_2(*_join(path))
    assert "finite" in out


def _tpu_owned() -> dict:
    raw = _example()
    raw["inventory"].append({"hardware": "tpu-v5e-pod", "count": 64,
                             "owned": {"capex_usd_per_device": 10000}})
    return raw


def test_owned_hardware_without_power_is_refused_at_join(tmp_path: Path) -> None:
    """The catalog has no TDP for TPU v5e, so an owned line cannot be priced: refused at join
    (it used to make every later `net` command exit 2)."""
    path = tmp_path / "tpu.yaml"
    path.write_text(yaml.safe_dump(_tpu_owned()))
    out = _one_line_exit_2(*_join(path))
    assert "inventory.2" in out and "cannot be priced" in out
    with pytest.raises(CatalogError, match="cannot be priced"):
        check_hardware(parse_descriptor(_tpu_owned()))


def test_unknown_hardware_is_refused_at_join(tmp_path: Path) -> None:
    raw = _example()
    raw["inventory"][0]["hardware"] = "quantum-gpu-9000"
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = _one_line_exit_2(*_join(path))
    assert "inventory.0.hardware" in out


def test_a_bad_registered_file_is_skipped_with_a_warning(_empty_registry: Path) -> None:
    good = EXAMPLES / "site.yaml"
    join_site(good)  # a valid registration
    _empty_registry.joinpath("broken.yaml").write_text(yaml.safe_dump(_tpu_owned() | {
        "id": "broken-site"}))  # written by hand, never validated
    _empty_registry.joinpath("binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    _empty_registry.joinpath("huge.yaml").write_bytes(b"#" * (MAX_BYTES + 10))
    net = load_network(registry=_empty_registry)
    assert "acme-wuhan-ai" in net.sites and "broken-site" not in net.sites
    assert len(net.skipped) == 3
    assert all("skipped registered site file" in s for s in net.skipped)
    res = runner.invoke(app, ["net", "sites", "--country", "China", "--json"])
    assert res.exit_code == 0, res.output
    assert "warning: skipped registered site file" in res.stderr
    assert json.loads(res.stdout)["count"] >= 1


def test_post_sites_validation_is_the_same_function() -> None:
    """POST /sites calls check_hardware(parse_descriptor(body)): the same limits apply."""
    with pytest.raises(CatalogError, match="cannot be priced"):
        check_hardware(parse_descriptor(_tpu_owned(), file="request body"))
    deep: dict = {"a": 1}
    for _ in range(20):
        deep = {"a": deep}
    with pytest.raises(CatalogError, match="nested deeper"):
        parse_descriptor({**_example(), "sources": deep}, file="request body")
