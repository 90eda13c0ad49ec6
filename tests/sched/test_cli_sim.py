from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from suanli.cli.main import app

runner = CliRunner()


def test_sim_run_json_and_outputs(tmp_path: Path) -> None:
    r = runner.invoke(app, ["sim", "run", "--trace", "synthetic:300", "--cluster", "4x8",
                            "--policy", "sjf", "--json", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["summary"]["finished"] == 300 and body["config"]["cluster_gpus"] == 32
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["policies"] == ["sjf"] and (tmp_path / "jct_cdf.png").exists()


def test_sim_compare_table() -> None:
    r = runner.invoke(app, ["sim", "compare", "--trace", "synthetic:200", "--cluster", "2x8",
                            "--policies", "fifo,las", "--json"])
    assert r.exit_code == 0, r.output
    assert [row["policy"] for row in json.loads(r.stdout)["table"]] == ["fifo", "las"]


def test_bad_input_is_one_line_exit_2() -> None:
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "suanli.cli.main", "sim", "run", "--policy",
                        "fastest"], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown policy" in p.stderr and "Traceback" not in p.stderr
