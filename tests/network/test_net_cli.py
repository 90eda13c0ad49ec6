"""``suanli net ...`` as users run it: JSON contracts, exit code 2 with one line on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from suanli.cli.main import app
from suanli.network.placement.result import ROUNDING

from .conftest import EXAMPLES

runner = CliRunner()


def run_json(*args: str) -> dict:
    res = runner.invoke(app, ["net", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def suanli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "suanli.cli.main", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_sites_json_filters() -> None:
    out = run_json("sites", "--country", "China", "--kind", "ai_centre")
    assert out["count"] == 10
    assert all(s["country"] == "China" and s["inventory"] for s in out["sites"])


def test_links_json() -> None:
    out = run_json("links", "shanghai", "cn-zhongwei")
    (lk,) = out["links"]
    assert lk["latency_ms"] == 25.0


def test_place_batch_json(tmp_path: Path) -> None:
    """The example batch, with fewer device counts per job to keep the test fast."""
    jobs = yaml.safe_load((EXAMPLES / "jobs.yaml").read_text())["jobs"][:4]
    for j in jobs:
        if j["kind"] == "train":
            j["counts"] = [64, 256]
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": jobs}))
    chart = tmp_path / "map.png"
    res = runner.invoke(app, ["net", "place", str(path), "--method", "both", "--json",
                              "--chart", str(chart)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [p["job"] for p in out["placements"]] == [j["id"] for j in jobs]
    assert all(p["placed"] for p in out["placements"])
    s = out["summary"]
    assert s["status"] == "optimal" and 0 <= s["gap"] <= 1e-4
    # the bound and the answer are the same sum in different orders: equal up to rounding
    assert s["heuristic_value"] >= s["value"] - 1e-6
    assert s["lower_bound"] <= s["value"] * (1 + ROUNDING)
    assert s["cost_usd"] == sum(p["cost_usd"] for p in out["placements"])
    assert chart.stat().st_size > 10_000


def test_join_dry_run_and_export() -> None:
    out = run_json("join", str(EXAMPLES / "site.yaml"), "--dry-run")
    assert out == {"site": "acme-wuhan-ai", "valid": True, "registered": None, "devices": 320,
                   "measured": None}
    res = runner.invoke(app, ["net", "export", "cn-guian"])
    assert res.exit_code == 0 and yaml.safe_load(res.stdout)["pue"] == 1.2


def test_bad_site_file_exits_2_with_one_line(tmp_path: Path) -> None:
    raw = yaml.safe_load((EXAMPLES / "site.yaml").read_text())
    del raw["inventory"][1]["on_demand_usd_per_device_hour"]
    del raw["inventory"][1]["spot_usd_per_device_hour"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    res = suanli("net", "join", str(bad), env={"SUANLI_SITES_DIR": str(tmp_path / "reg")})
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "no price" in res.stderr
    assert "inventory.1" in res.stderr and "Traceback" not in res.stderr


def test_infeasible_deadline_and_unknown_site_exit_2() -> None:
    res = suanli("net", "quote", "--model", "llama3-70b", "--tokens", "15T", "--deadline", "1d",
                 "--country", "China")
    assert res.returncode == 2 and "infeasible deadline" in res.stderr
    res = suanli("net", "export", "cn-zhongwie")
    assert res.returncode == 2 and "Did you mean: cn-zhongwei" in res.stderr


def test_infeasible_batch_names_the_binding_capacity(tmp_path: Path) -> None:
    jobs = [{"id": f"j{i}", "model": "llama3-8b", "tokens": "10B", "counts": [256]}
            for i in range(3)]
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump(jobs))
    res = suanli("net", "place", str(path), "--site", "cn-yrd-demo-zone", "--hardware",
                 "hgx-h20")
    assert res.returncode == 2
    assert "capacity of cn-yrd-demo-zone/hgx-h20: needs 768 devices, has 512" in res.stderr
