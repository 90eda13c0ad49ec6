"""Workload jobs (kinds ``train`` and ``serve``) on a real service: ``suanli service up`` with the
local-process executor and a real ``suanli bench`` profile runs a tiny GPT in the sandbox; the
stored record, the API's predicted vs measured and ``suanli service jobs --compare`` agree; a
malformed workload is a 422 naming the field."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("torch", reason="the workloads extra (PyTorch) is not installed")

from .procs import SUANLI, Proc

SMALL_GRID = ((16, 256), (64, 256), (32, 256))  # a reduced `suanli bench` grid (seconds)
TRAIN = {"preset": "tiny", "batch": 2, "seq_len": 32, "steps": 4}
SERVE = {"preset": "tiny", "batch": 2, "prompt_len": 16, "gen_len": 4}


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from suanli.bench.measure import run_bench

    path = tmp_path_factory.mktemp("bench") / "profile.json"
    run_bench(1, SMALL_GRID).save(path)  # one thread: the jobs below run one thread too
    return path


@pytest.fixture
def service(tmp_path: Path, profile_path: Path) -> Iterator[tuple[Proc, dict[str, str], str]]:
    proc = Proc(tmp_path / "state")
    proc.data.mkdir()
    proc.env["SUANLI_BENCH_PROFILE"] = str(profile_path)
    out = subprocess.run([*SUANLI, "service", "admin", "create-tenant", "acme", "--json"],
                         env=proc.env, capture_output=True, text=True, check=True)
    key = json.loads(out.stdout)["api_key"]
    proc.start()
    try:
        yield proc, {"Authorization": f"Bearer {key}"}, key
    finally:
        proc.stop()


def _wait(proc: Proc, headers: dict[str, str], job_id: str, timeout: float = 120) -> Any:
    end = time.time() + timeout
    while True:
        job = httpx.get(f"{proc.url}/api/v1/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["state"] in ("succeeded", "failed", "cancelled") or time.time() > end:
            return job
        time.sleep(0.2)


def test_train_and_serve_jobs_are_predicted_measured_and_compared(service, profile_path):
    from suanli.bench.profile import load_profile
    from suanli.perf.oplevel import decode_step, prefill, train_step
    from suanli.workloads.shapes import ServeShape, TrainShape

    proc, headers, key = service
    ids = {}
    for kind, workload in (("train", TRAIN), ("serve", SERVE)):
        r = httpx.post(f"{proc.url}/api/v1/jobs", headers=headers, timeout=30,
                       json={"name": f"gpt-{kind}", "kind": kind, "workload": workload})
        assert r.status_code == 201, r.text
        assert r.json()["measured"] == {"absent": "the job is submitted"}
        ids[kind] = r.json()["id"]
    train, serve = (_wait(proc, headers, ids[k]) for k in ("train", "serve"))
    assert train["state"] == "succeeded", train["error"]
    assert serve["state"] == "succeeded", serve["error"]

    # the prediction is the op-level model on the service's profile, for the shape that ran
    prof = load_profile(profile_path)
    tshape = TrainShape.model_validate(train["workload"])
    sshape = ServeShape.model_validate(serve["workload"])
    assert tshape.threads == 1 and tshape.steps == 4 and tshape.model.hidden == 128
    assert train["predicted"]["step_time_min_s"] == pytest.approx(
        train_step(prof, tshape).total, rel=1e-9)
    assert serve["predicted"]["tpot_min_s"] == pytest.approx(decode_step(prof, sshape).total,
                                                             rel=1e-9)
    assert serve["predicted"]["ttft_s"] == pytest.approx(prefill(prof, sshape).total, rel=1e-9)

    # measured: the record the job printed, as stored on the job row
    db = sqlite3.connect(proc.data / "suanli.db")
    stored = {jid: json.loads(res) for jid, res in db.execute(
        "SELECT id, result_json FROM jobs WHERE id IN (?, ?)", (ids["train"], ids["serve"]))}
    db.close()
    rec = stored[ids["train"]]
    assert rec["kind"] == "train" and len(rec["step_times_s"]) == 2  # 4 steps, 2 warm-up
    assert rec["step_time_min_s"] == min(rec["step_times_s"])
    assert rec["hardware"]["threads"] == 1 and rec["hardware"]["framework"].startswith("torch")
    assert rec["predicted"] == {"step_time_min_s": train["predicted"]["step_time_min_s"]}
    assert train["measured"]["step_time_min_s"] == rec["step_time_min_s"]
    srec = stored[ids["serve"]]
    assert srec["kind"] == "serve" and srec["tpot_min_s"] <= srec["tpot_s"]
    assert serve["measured"]["tpot_min_s"] == srec["tpot_min_s"]

    # the error is predicted / measured - 1, figure by figure, measured in the bench's clock:
    # one thread, so the fastest step in CPU seconds (on_own_core), as the profile was timed
    assert rec["step_time_cpu_s"] and srec["tpot_cpu_s"]
    assert train["measured"]["step_time_cpu_s"] == rec["step_time_cpu_s"]
    err = train["predicted"]["error"]["step_time_min_s"]
    assert err == pytest.approx(train["predicted"]["step_time_min_s"]
                                / rec["step_time_cpu_s"] - 1)
    assert serve["predicted"]["error"]["tpot_min_s"] == pytest.approx(
        serve["predicted"]["tpot_min_s"] / srec["tpot_cpu_s"] - 1)

    # the CLI reads the same jobs over HTTP with the tenant's key
    env = {**os.environ, "SUANLI_URL": proc.url, "SUANLI_API_KEY": key, "COLUMNS": "200"}
    out = subprocess.run([*SUANLI, "service", "jobs", "--compare", "--json"], env=env,
                         capture_output=True, text=True, check=True)
    rows = {(r["job"], r["figure"]): r for r in json.loads(out.stdout)}
    assert set(rows) == {(ids["train"], "step_time_min_s"), (ids["serve"], "ttft_s"),
                         (ids["serve"], "tpot_min_s")}
    assert rows[ids["train"], "step_time_min_s"]["error"] == pytest.approx(err)
    assert rows[ids["train"], "step_time_min_s"]["measured_s"] == rec["step_time_cpu_s"]
    table = subprocess.run([*SUANLI, "service", "jobs", "--compare"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert ids["train"] in table and ids["serve"] in table
    assert f"{err:+.1%}" in table

    # ... and exports the measured jobs as records `suanli calibrate --from-runs` reads
    runs = proc.data / "runs.jsonl"
    subprocess.run([*SUANLI, "service", "jobs", "--records", str(runs)], env=env,
                   capture_output=True, text=True, check=True)
    cal = subprocess.run([*SUANLI, "calibrate", "--from-runs", str(runs), "--json"], env=env,
                         capture_output=True, text=True, check=True)
    fitted = {r["id"]: r for r in json.loads(cal.stdout)["rows"]}
    assert set(fitted) == {ids["train"], ids["serve"]}
    assert fitted[ids["train"]]["measured_s"] == rec["step_time_cpu_s"]  # the same clock
    assert fitted[ids["train"]]["error_before"] == pytest.approx(err)


def test_without_a_profile_predicted_says_why_and_bad_key_is_one_line(tmp_path: Path):
    proc = Proc(tmp_path / "state")
    proc.data.mkdir()
    out = subprocess.run([*SUANLI, "service", "admin", "create-tenant", "acme", "--json"],
                         env=proc.env, capture_output=True, text=True, check=True)
    headers = {"Authorization": f"Bearer {json.loads(out.stdout)['api_key']}"}
    proc.start()
    try:
        r = httpx.post(f"{proc.url}/api/v1/jobs", headers=headers, timeout=30,
                       json={"name": "s", "kind": "serve", "workload": SERVE})
        assert r.status_code == 201
        assert "no bench profile" in r.json()["predicted"]["absent"]
        env = {**os.environ, "SUANLI_URL": proc.url, "SUANLI_API_KEY": "sk-wrong"}
        bad = subprocess.run([*SUANLI, "service", "jobs", "--compare"], env=env,
                             capture_output=True, text=True)
        assert bad.returncode == 2 and "401" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        proc.stop()


@pytest.mark.parametrize(("body", "words"), [
    ({"kind": "train"}, "needs a 'workload'"),
    ({"kind": "train", "workload": {"preset": "huge"}}, "workload.preset 'huge' is unknown"),
    ({"kind": "train", "workload": {"layers": 2}}, "hidden, heads, vocab"),
    ({"kind": "train", "workload": {"preset": "tiny", "seq_len": 4096}}, "max_seq_len"),
    ({"kind": "train", "workload": {"preset": "tiny", "batch": 0}}, "workload.batch"),
    ({"kind": "train", "workload": {"preset": "tiny", "hidden": 130}}, "divisible by heads"),
    ({"kind": "train", "workload": {"preset": "tiny", "steps": 2, "warmup": 2}}, "warmup"),
    ({"kind": "serve", "workload": {"preset": "tiny", "seq_len": 64}}, "is for train jobs"),
    ({"kind": "serve", "workload": {"preset": "tiny", "colour": "red"}}, "colour"),
    ({"kind": "serve", "workload": {"preset": "tiny"}, "command": "true"}, "not 'command'"),
    ({"kind": "serve", "workload": {"preset": "tiny"}, "gpus": 1}, "runs on CPUs"),
    ({"kind": "serve", "workload": {"preset": "tiny", "threads": 4}, "cpus": 2}, "threads"),
    ({"kind": "command", "command": "true", "workload": {"preset": "tiny"}}, "'workload' is"),
])
def test_malformed_workload_is_422_naming_the_field(svc, body, words):
    r = svc.submit(**body)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]
    assert svc.client.get("/api/v1/jobs", headers=svc.a).json()["count"] == 0


def test_the_record_is_the_last_json_line_of_its_kind_and_checked():
    from suanli.service.workload_jobs import parse_record
    from suanli.workloads.record import HardwareInfo, ResultRecord

    hw = HardwareInfo(kind="cpu", name="x", devices=1, threads=1, framework="torch")
    rec = ResultRecord(kind="serve", shape={}, hardware=hw, started_at=1.0, ttft_s=0.5,
                       tpot_s=0.2, tpot_min_s=0.1)
    line = rec.model_dump_json()
    older = rec.model_copy(update={"tpot_min_s": 9.0}).model_dump_json()
    text = f"warning: something\n{older}\n{{not json\n{line}\n{{\"kind\": \"other\"}}\n"
    assert parse_record("serve", text)["tpot_min_s"] == 0.1
    assert "no result record" in parse_record("train", text)["absent"]
    bad = json.dumps({"kind": "serve", "shape": {}, "started_at": 1.0})  # no hardware
    assert "malformed" in parse_record("serve", bad)["absent"]


def test_compare_rows_name_the_missing_side():
    from suanli.service.workload_jobs import compare_rows

    jobs = [{"id": "j1", "name": "a", "kind": "command", "state": "succeeded"},
            {"id": "j2", "name": "b", "kind": "train", "state": "failed",
             "measured": {"absent": "the job failed: exit 1"},
             "predicted": {"step_time_min_s": 0.01}},
            {"id": "j3", "name": "c", "kind": "serve", "state": "succeeded",
             "measured": {"ttft_s": 0.2, "tpot_min_s": 0.1,
                          "compared": {"ttft_s": 0.2, "tpot_min_s": 0.1}},
             "predicted": {"ttft_s": 0.1, "tpot_min_s": 0.11,
                           "error": {"ttft_s": -0.5, "tpot_min_s": 0.1}}}]
    rows = compare_rows(jobs)
    assert [(r["job"], r["figure"]) for r in rows] == [
        ("j2", "step_time_min_s"), ("j3", "ttft_s"), ("j3", "tpot_min_s")]
    assert rows[0]["measured_s"] is None and "exit 1" in rows[0]["why"]
    assert rows[2]["error"] == 0.1 and rows[2]["why"] == ""
