"""Sites measured, not only declared: the descriptor's ``measured`` section, ``net join
--bench`` with a real bench file, and quotes that use measured figures where they are the
same quantity as declared ones (suanli.network.measured) and say which they used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from suanli.cli.main import app
from suanli.errors import CatalogError, InputError
from suanli.network.descriptor import parse_descriptor
from suanli.network.jobs import parse_job
from suanli.network.quote import quote
from suanli.network.sites import Network, check_hardware

runner = CliRunner()
BASE: dict[str, Any] = {
    "name": "test site", "provider": "acme", "kind": "ai_centre", "country": "China",
    "location": {"lat": 30.6, "lon": 114.3}, "pue": 1.2,
    "inventory": [{"hardware": "dgx-h100", "count": 64, "on_demand_usd_per_device_hour": 2.0}]}
JOB = parse_job({"id": "j", "model": "llama3-8b", "kind": "train", "tokens": 1e9}, where="t")


def _site(site_id: str, measured: dict[str, Any] | None = None, **extra: Any) -> Any:
    raw = {**BASE, "id": site_id, **extra}
    if measured is not None:
        raw["measured"] = measured
    return check_hardware(parse_descriptor(raw))


def _best(offers: list[Any], site: str, devices: int) -> Any:
    return next(o for o in offers if o.site == site and o.devices == devices and not o.spot)


def test_measured_gemm_and_bandwidth_replace_the_declared_rates_they_equal():
    """The same line, declared and measured: a bench slower than peak x gemm_max prices a
    slower offer, a faster one (still under peak) a quicker one; each offer says which."""
    from suanli.catalog import load_catalog
    from suanli.perf.efficiency import load_efficiency

    acc = load_catalog().accelerator("H100-SXM")
    declared = acc.peak_flops("bf16") * load_efficiency().for_family("hopper").family.gemm_max
    slow = _site("slow", {"date": "2026-12-07", "gemm_tflops": {"bf16": 0.6 * declared / 1e12},
                          "memory_bw_gbs": 0.6 * acc.memory_bw_gbs * 0.8})
    fast = _site("fast", {"date": "2026-12-07", "gemm_tflops": {"bf16": 0.95 * acc.peak_flops(
        "bf16") / 1e12}, "memory_bw_gbs": 0.9 * acc.memory_bw_gbs})
    decl = _site("decl")
    offers = quote(Network({"decl": decl, "slow": slow, "fast": fast}), JOB, top=None)
    d, s, f = (_best(offers, x, 8) for x in ("decl", "slow", "fast"))
    assert d.capability == "declared" and d.measured_figures == ""
    assert s.capability == f.capability == "measured"
    assert s.measured_figures == "bf16 GEMM, memory bandwidth"
    assert s.run_s > 1.3 * d.run_s  # compute-bound training at 60% of the declared rate
    assert f.run_s < d.run_s
    assert s.cost_usd / d.cost_usd == pytest.approx(s.run_s / d.run_s)  # cost = time x price


def test_measured_and_declared_rates_take_one_path_with_the_global_batch():
    """The measured rate is the planner's own (``durations.train_rate``, ``measured=``): it
    honours the global batch as the declared one does (a small batch is slower per token on
    64 devices), and equals the planner run with the measured efficiency."""
    from suanli.catalog import load_catalog
    from suanli.network import durations
    from suanli.network.measured import efficiency
    from suanli.plan.api import best_training_plan

    acc = load_catalog().accelerator("H100-SXM")
    key = (0.6 * acc.peak_flops("bf16"), 0.5 * acc.memory_bw)
    default = durations.train_rate("llama3-8b", "dgx-h100", 64, measured=key)
    small = durations.train_rate("llama3-8b", "dgx-h100", 64, global_batch_tokens=2**17,
                                 measured=key)
    declared = durations.train_rate("llama3-8b", "dgx-h100", 64, global_batch_tokens=2**17)
    assert isinstance(default, durations.TrainRate) and isinstance(small, durations.TrainRate)
    assert isinstance(declared, durations.TrainRate)
    assert small.tokens_per_s < 0.9 * default.tokens_per_s  # the batch reached the planner
    assert small.tokens_per_s < declared.tokens_per_s  # and so did the measured figures
    plan = best_training_plan("llama3-8b", "dgx-h100", 64, durations.REFERENCE_TOKENS,
                              global_batch_tokens=2**17, eff=efficiency("dgx-h100", key))
    assert small.tokens_per_s == plan.tokens_per_s and small.plan == plan.plan
    too_big = durations.train_rate("llama3-405b", "dgx-h100", 8, measured=key)
    assert isinstance(too_big, durations.Infeasible)  # a reason, not an exception


def test_an_fp32_bench_is_not_a_bf16_rate():
    """Only the memory bandwidth of an fp32-only bench is the same quantity for a bf16 job."""
    m = _site("m", {"date": "2026-12-07", "gemm_tflops": {"fp32": 40.0},
                    "memory_bw_gbs": 2000.0})
    (o,) = [x for x in quote(Network({"m": m}), JOB, top=None) if x.devices == 8 and not x.spot]
    assert o.capability == "measured" and o.measured_figures == "memory bandwidth"


def test_bad_measured_sections_are_refused_with_the_field():
    with pytest.raises(CatalogError, match="gemm_tflops: unknown dtype 'int4'"):
        _site("x", {"date": "d", "gemm_tflops": {"int4": 1.0}})
    with pytest.raises(CatalogError, match=r"measured\.hardware 'A100' is not an inventory"):
        _site("x", {"date": "d", "hardware": "A100", "memory_bw_gbs": 100.0})
    two = [*BASE["inventory"], {"hardware": "dgx-a100-80gb", "count": 8,
                                "on_demand_usd_per_device_hour": 1.5}]
    with pytest.raises(CatalogError, match="name the inventory line"):
        _site("x", {"date": "d", "memory_bw_gbs": 100.0}, inventory=two)
    with pytest.raises(CatalogError, match="> the declared bf16 peak"):
        _site("x", {"date": "d", "gemm_tflops": {"bf16": 5000.0}})
    with pytest.raises(CatalogError, match="bench ran on a CPU"):
        _site("x", {"date": "d", "kind": "cpu", "memory_bw_gbs": 10.0})
    named = _site("x", {"date": "d", "hardware": "H100", "memory_bw_gbs": 100.0},
                  inventory=[{"hardware": "H100", "count": 8,
                              "on_demand_usd_per_device_hour": 2.0}])
    assert named.measured.hardware == named.inventory[0].hardware  # both the system id


# ---- a real bench file joined with `net join --bench` ----------------------------------------
CPU_SYSTEM = ("id,name,accelerator,devices_per_node,scale_up_domain,scale_up_gbs,"
              "scale_up_latency_us,scale_out_gbs,scale_out_latency_us,source\n"
              "test-epyc-node,one-socket EPYC 9654 node (test),EPYC-9654,1,1,32,1,12.5,10,"
              "test fixture: a CPU line for a CPU bench\n")


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `suanli bench` run on this machine (small grid, one thread, fp32 + bf16)."""
    pytest.importorskip("torch", reason="bf16 GEMMs need PyTorch")
    from suanli.bench.measure import run_bench

    path = tmp_path_factory.mktemp("bench") / "bench.json"
    run_bench(1, ((16, 256), (64, 256), (32, 256)), ("fp32", "bf16")).save(path)
    return path


@pytest.fixture
def cpu_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cat = tmp_path / "catalog"
    cat.mkdir()
    (cat / "systems-test.csv").write_text(CPU_SYSTEM)
    monkeypatch.setenv("SUANLI_CATALOG", str(cat))
    return cat


def _cpu_site(tmp_path: Path, site_id: str, **extra: Any) -> Path:
    raw = {**BASE, "id": site_id, "inventory": [
        {"hardware": "test-epyc-node", "count": 16, "on_demand_usd_per_device_hour": 1.0}],
        **extra}
    path = tmp_path / f"{site_id}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_net_join_takes_a_bench_file_and_quotes_say_measured(tmp_path, bench_file, cpu_catalog,
                                                             _empty_registry):
    res = runner.invoke(app, ["net", "join", str(_cpu_site(tmp_path, "cpu-m")), "--bench",
                              str(bench_file), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    prof = json.loads(bench_file.read_text())["measured"]
    best_bf16 = max(2 * m * n * k / s for m, n, k, s in prof["gemm"]["bf16"]) / 1e12
    assert out["measured"]["hardware"] == "test-epyc-node"
    assert out["measured"]["gemm_tflops"]["bf16"] == pytest.approx(best_bf16)
    stored = yaml.safe_load((_empty_registry / "cpu-m.yaml").read_text())["measured"]
    assert stored["date"] == prof["date"] and stored["versions"] == prof["versions"]
    assert stored["kind"] == "cpu" and stored["memory_bw_gbs"] > 0
    # the same line declared only: the bench's CPU is far below an EPYC 9654's peaks
    assert runner.invoke(app, ["net", "join", str(_cpu_site(tmp_path, "cpu-d"))]).exit_code == 0
    res = runner.invoke(app, ["net", "quote", "--model", "llama3-8b", "--tokens", "1B",
                              "--site", "cpu-m", "--site", "cpu-d", "--top", "40", "--json"])
    assert res.exit_code == 0, res.output
    offers = json.loads(res.stdout)["offers"]
    by = {(o["site"], o["devices"]): o for o in offers if not o["spot"]}
    m, d = by[("cpu-m", 8)], by[("cpu-d", 8)]
    assert (m["capability"], d["capability"]) == ("measured", "declared")
    assert m["run_s"] > 10 * d["run_s"]
    table = runner.invoke(app, ["net", "quote", "--model", "llama3-8b", "--tokens", "1B",
                                "--site", "cpu-m", "--top", "3"])
    assert table.exit_code == 0 and "measured" in table.stdout


@pytest.mark.slow
def test_a_measured_key_in_the_site_file_may_be_the_bench_output_itself(tmp_path, bench_file,
                                                                        cpu_catalog):
    prof = json.loads(bench_file.read_text())["measured"]
    path = _cpu_site(tmp_path, "cpu-p", measured=prof)
    res = runner.invoke(app, ["net", "join", str(path), "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["measured"]["hardware"] == "test-epyc-node"
    bad = _cpu_site(tmp_path, "cpu-q")
    res = runner.invoke(app, ["net", "join", str(bad), "--bench", str(tmp_path / "nope.json")])
    assert isinstance(res.exception, InputError) and "cannot read the bench profile" in str(
        res.exception)


def test_net_place_marks_each_placement_with_the_quote_rule(tmp_path, _empty_registry):
    """``net place`` labels a placement as quotes label offers (measured.capability): the
    training job on the measured line says measured, the same job on a declared site says
    declared."""
    _empty_registry.mkdir(parents=True, exist_ok=True)
    for sid, measured in (("slow", {"date": "2026-12-07", "memory_bw_gbs": 1500.0}),
                          ("decl", None)):
        raw = {**BASE, "id": sid, **({"measured": measured} if measured else {})}
        (_empty_registry / f"{sid}.yaml").write_text(yaml.safe_dump(raw))
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(yaml.safe_dump({"jobs": [{"id": "j", "model": "llama3-8b", "kind": "train",
                                              "tokens": 1e9, "counts": [8]}]}))
    for sid, label in (("slow", "measured"), ("decl", "declared")):
        res = runner.invoke(app, ["net", "place", str(jobs), "--site", sid, "--json"])
        assert res.exit_code == 0, res.output
        (row,) = json.loads(res.stdout)["placements"]
        assert row["placed"] and row["site"] == sid and row["capability"] == label
        offers = quote(Network({sid: _site(sid, {"date": "2026-12-07", "memory_bw_gbs": 1500.0}
                                           if sid == "slow" else None)}), JOB, top=1)
        assert offers[0].capability == label
