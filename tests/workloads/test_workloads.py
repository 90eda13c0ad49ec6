"""The real GPT workloads (PyTorch, CPU): they run, report a full record, and the KV-cache
serving path computes the same tokens as recomputing the whole sequence."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="the workloads extra (PyTorch) is not installed")

from suanli.workloads.gpt import GPT  # noqa: E402
from suanli.workloads.run import run_serve, run_train  # noqa: E402
from suanli.workloads.shapes import PRESETS, ServeShape, TrainShape, WorkloadModel  # noqa: E402

TINY = PRESETS["tiny"]


def test_training_reports_a_consistent_record():
    shape = TrainShape(model=TINY, batch=2, seq_len=32, steps=4, warmup=1, threads=1)
    rec = run_train(shape)
    assert rec.kind == "train" and len(rec.step_times_s) == 3
    assert rec.step_time_min_s <= rec.step_time_s
    assert 0 < rec.step_time_cpu_s <= 1.5 * rec.step_time_s  # one thread: CPU s ~ wall s
    assert rec.tokens_per_s == pytest.approx(2 * 32 / rec.step_time_s)
    # random tokens: the loss stays near the uniform cross-entropy ln(vocab)
    assert 0.7 * math.log(TINY.vocab) < rec.final_loss < 1.3 * math.log(TINY.vocab)
    assert rec.peak_memory_bytes > 10 * 2**20
    assert rec.hardware.threads == 1 and rec.hardware.framework.startswith("torch")


def test_serving_reports_ttft_and_tpot():
    rec = run_serve(ServeShape(model=TINY, batch=3, prompt_len=16, gen_len=5, threads=1))
    assert rec.kind == "serve" and rec.ttft_s > 0 and rec.tpot_s > 0
    assert rec.output_tokens_per_s == pytest.approx(3 / rec.tpot_s)
    assert rec.tpot_cpu_s is not None and rec.tpot_cpu_s > 0
    assert rec.on_own_core("tpot") == rec.tpot_cpu_s  # one thread: the CPU-time figure


def test_with_more_threads_the_figure_is_the_fastest_wall_step():
    from suanli.workloads.record import HardwareInfo, ResultRecord

    hw = HardwareInfo(kind="cpu", name="x", devices=1, threads=2, framework="torch")
    rec = ResultRecord(kind="train", shape={}, hardware=hw, started_at=0.0, step_time_s=2.0,
                       step_time_min_s=1.5, step_time_cpu_s=2.9)  # 2 threads: CPU s add up
    assert rec.on_own_core("step_time") == 1.5
    one = rec.model_copy(update={"hardware": hw.model_copy(update={"threads": 1})})
    assert one.on_own_core("step_time") == 2.9


def test_kv_cache_decode_matches_full_recompute():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    prompt = torch.randint(0, TINY.vocab, (2, 7))
    with torch.inference_mode():
        caches = model.new_caches(2, 12, torch.float32)
        nxt = model(prompt, caches, 0)[:, -1].argmax(-1, keepdim=True)
        cached, full = [nxt], torch.cat([prompt, nxt], dim=1)
        for i in range(4):
            logits_cached = model(nxt, caches, 7 + i)[:, -1]
            logits_full = model(full)[:, -1]
            assert torch.allclose(logits_cached, logits_full, atol=1e-4)
            nxt = logits_cached.argmax(-1, keepdim=True)
            cached.append(nxt)
            full = torch.cat([full, nxt], dim=1)


def test_shape_validation_messages():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="divisible by heads"):
        WorkloadModel(layers=1, hidden=10, heads=3, ffn_hidden=8, vocab=16, max_seq_len=8)
    with pytest.raises(ValidationError, match="max_seq_len"):
        TrainShape(model=TINY, batch=1, seq_len=4096)
    with pytest.raises(ValidationError, match="warmup"):
        TrainShape(model=TINY, batch=1, seq_len=8, steps=2, warmup=2)


def test_to_spec_counts_the_torch_parameters():
    from suanli.perf.ops import param_count

    for m in PRESETS.values():
        n_torch = sum(p.numel() for p in GPT(m).parameters())
        assert param_count(m.to_spec()) == pytest.approx(n_torch, rel=0.01)


def _cli(*args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "suanli.cli.main", "workload", *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_runs_a_workload_and_compares_with_a_profile(tmp_path):
    import json

    from suanli.bench.measure import run_bench

    prof = run_bench(1, ((16, 256), (64, 512), (32, 128)), bmm_grid=((32,), (32,)))
    path = tmp_path / "p.json"
    prof.save(path)
    p = _cli("train", "-p", "tiny", "--batch", "2", "--seq-len", "32", "--steps", "3",
             "--profile", str(path), "--json")
    assert p.returncode == 0, p.stderr
    rec = json.loads(p.stdout)
    assert rec["kind"] == "train" and rec["hardware"]["threads"] == 1  # the profile's threads
    assert rec["predicted"]["step_time_min_s"] > 0 and rec["step_time_min_s"] > 0
    p = _cli("serve", "-p", "tiny", "--threads", "2", "--profile", str(path))
    assert p.returncode == 2 and "measured with 1 threads" in p.stderr


def test_cli_bad_workloads_are_one_line_errors():
    for args, msg in ((("train", "-p", "huge"), "unknown workload preset"),
                      (("train", "--heads", "5"), "divisible by heads"),
                      (("serve", "--prompt-len", "2000"), "max_seq_len")):
        p = _cli(*args)
        assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr
