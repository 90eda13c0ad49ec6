"""``suanli models``, ``suanli model``, ``suanli hardware`` and the global ``--catalog`` flag,
run as a user runs them (a subprocess through ``run()``) or through typer's CliRunner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from suanli.catalog import load_catalog
from suanli.catalog.loader import ENV_VAR
from suanli.cli.catalog_cmds import model_details, param_split
from suanli.cli.main import app
from suanli.perf.ops import active_param_count, param_count

HF = Path(__file__).resolve().parents[1] / "catalog" / "hf_configs"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_user_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def _suanli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "suanli.cli.main", *args], capture_output=True,
                          text=True, timeout=60, env=full_env)


def _json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_models_json_lists_every_model_with_computed_counts() -> None:
    rows = _json("models")["models"]
    cat = load_catalog()
    assert [r["id"] for r in rows] == list(cat.models)
    for r in rows:
        m = cat.models[r["id"]]
        assert r["params"] == param_count(m)
        assert r["active_params"] == active_param_count(m)
        assert (r["experts"] is None) == (m.moe is None)


def test_models_filters() -> None:
    llama3 = _json("models", "--family", "LLAMA3")["models"]
    assert llama3 and {r["family"] for r in llama3} == {"llama3"}
    found = _json("models", "--search", "mixtral")["models"]
    assert [r["id"] for r in found] == ["mixtral-8x7b"]
    assert _json("models", "--family", "nosuchfamily") == {"models": []}


def test_models_table_shows_rows() -> None:
    result = runner.invoke(app, ["models", "--family", "mixtral"])
    assert result.exit_code == 0
    assert "mixtral-8x7b" in result.stdout and "46.7B" in result.stdout
    assert "12.9B" in result.stdout and "8/2" in result.stdout


def test_model_show_json_is_consistent() -> None:
    d = _json("model", "deepseek-v3")
    assert d == _json("models", "show", "DeepSeek-V3")
    p, f = d["params"], d["flops_per_token"]
    assert p["attention"] + p["mlp"] + p["embeddings"] + p["norms"] == p["total"]
    assert p["total"] / 1e9 == pytest.approx(671, rel=0.01)
    assert p["active"] / 1e9 == pytest.approx(37, rel=0.02)
    assert sum(f["forward_by_op"].values()) == pytest.approx(f["forward"])
    assert f["seq_len"] == load_catalog().model("deepseek-v3").max_seq_len
    assert f["training"] == pytest.approx(3 * f["forward"])
    assert f["six_n"] == pytest.approx(6 * p["active"])
    assert d["architecture"]["attention"] == "MLA"


def test_training_over_6n_grows_with_context() -> None:
    """6ND ignores attention over the context: the ratio is ~1 for a short context and grows
    linearly with it (Kaplan et al. 2020, eq. 2.2 vs the per-op count)."""
    short = _json("model", "gpt3-175b", "--seq-len", "128")["flops_per_token"]
    long = _json("model", "gpt3-175b", "--seq-len", "8192")["flops_per_token"]
    assert short["training_over_six_n"] == pytest.approx(1.0, abs=0.01)
    assert long["training_over_six_n"] > short["training_over_six_n"] + 0.05


def test_param_split_sums_for_every_model() -> None:
    for m in load_catalog().models.values():
        assert sum(param_split(m).values()) == param_count(m), m.id
        assert model_details(m)["params"]["active"] <= param_count(m)


def test_model_table_and_hf_config_path() -> None:
    result = runner.invoke(app, ["model", str(HF / "qwen3-30b-a3b.json"), "--seq-len", "4096"])
    assert result.exit_code == 0, result.output
    assert "30.5B" in result.stdout and "training / 6N" in result.stdout
    d = _json("model", str(HF / "mixtral-8x7b-v0.1.json"))
    assert d["params"]["active"] / 1e9 == pytest.approx(12.9, rel=0.01)


def test_hardware_json_and_vendor_filter() -> None:
    d = _json("hardware")
    cat = load_catalog()
    assert {r["id"] for r in d["accelerators"]} == set(cat.accelerators)
    assert {r["id"] for r in d["systems"]} == set(cat.systems)
    h100 = next(r for r in d["accelerators"] if r["id"] == "H100-80GB")
    assert h100["bf16_tflops"] == 989.5 and h100["fp8_tflops"] == 1979
    amd = _json("hardware", "--vendor", "amd")
    assert {r["vendor"] for r in amd["accelerators"]} == {"AMD"}
    assert amd["systems"] and all(r["accelerator"].startswith("MI") for r in amd["systems"])


def test_hardware_table() -> None:
    result = runner.invoke(app, ["hardware", "--search", "H100"])
    assert result.exit_code == 0
    assert "H100-80GB" in result.stdout and "dgx-h100" in result.stdout


# --- through run(): exit codes and one-line errors ---------------------------------------------


def test_unknown_model_exits_2_with_one_line_and_a_suggestion() -> None:
    result = _suanli("model", "lama3-8b")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "unknown model 'lama3-8b'" in lines[0] and "Did you mean: llama3-8b" in lines[0]


def test_bad_seq_len_and_bad_user_file_exit_2(tmp_path: Path) -> None:
    result = _suanli("model", "gpt3-175b", "--seq-len", "0")
    assert result.returncode == 2 and "--seq-len" in result.stderr
    (tmp_path / "models.yaml").write_text("- {id: x, name: [\n", encoding="utf-8")
    result = _suanli("--catalog", str(tmp_path), "models")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "models.yaml") in result.stderr and "not valid YAML" in result.stderr


def test_catalog_flag_keeps_the_env_var_dirs(tmp_path: Path) -> None:
    row = ("- {{id: {i}, name: {i}, family: mine, params_b: 0.0004, layers: 2, hidden: 64,"
           " heads: 4, ffn_hidden: 256, vocab: 1000, source: test}}\n")
    a, b, c = (tmp_path / n for n in "abc")
    for d, model_id in ((a, "toy-a"), (b, "toy-b"), (c, "toy-c")):
        d.mkdir()
        (d / "models_mine.yaml").write_text(row.format(i=model_id), encoding="utf-8")
    result = _suanli("--catalog", str(a), "--catalog", f"{b}{os.pathsep}", "models",
                     "--family", "mine", "--json", env={ENV_VAR: str(c)})
    assert result.returncode == 0, result.stderr
    assert {r["id"] for r in json.loads(result.stdout)["models"]} == {"toy-a", "toy-b", "toy-c"}


def test_catalog_flag_rows_win_over_env_var_rows(tmp_path: Path) -> None:
    row = ("- {{id: toy, name: {n}, family: mine, params_b: 0.0004, layers: 2, hidden: 64,"
           " heads: 4, ffn_hidden: 256, vocab: 1000, source: test}}\n")
    env_dir, flag_dir = tmp_path / "env", tmp_path / "flag"
    for d in (env_dir, flag_dir):
        d.mkdir()
        (d / "models.yaml").write_text(row.format(n=f"from {d.name}"), encoding="utf-8")
    result = _suanli("--catalog", str(flag_dir), "model", "toy", "--json",
                     env={ENV_VAR: str(env_dir)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "from flag"


def test_catalog_flag_refuses_a_missing_dir(tmp_path: Path) -> None:
    result = _suanli("--catalog", str(tmp_path / "nope"), "models")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --catalog {tmp_path / 'nope'}: no such directory; give a folder holding "
        "accelerators*.csv, systems*.csv or models*.yaml files"]


def test_version_and_usage_errors() -> None:
    from suanli import __version__

    result = _suanli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"suanli {__version__}"
    result = _suanli("models", "--no-such-flag")
    assert result.returncode == 2 and "No such option" in result.stderr
    assert "Traceback" not in result.stderr


def test_importing_the_cli_stays_light() -> None:
    """``suanli --help`` must stay instant: the entry module may not pull in the heavy stack."""
    heavy = ("numpy", "pandas", "matplotlib", "scipy", "pydantic")
    code = ("import sys, suanli.cli.main; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "", f"imported at startup: {result.stdout.strip()}"
