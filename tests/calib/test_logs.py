"""Log parsers on real excerpts (tests/calib/data/logs, each with its public source) and on
malformed input."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.calib.logs import parse_log, read_log
from suanli.errors import InputError

LOGS = Path(__file__).parent / "data" / "logs"


def test_megatron_with_tflops():
    s = read_log(LOGS / "megatron-mixtral-h100.log", warmup=0)
    assert s.format == "megatron" and s.used == 3
    assert s.step_time_s == pytest.approx(5.5338)  # median of 5444.9, 5533.8, 5718.6 ms
    assert s.tflops_per_device == pytest.approx(236.0)
    assert s.global_batch == 128
    assert s.samples_per_s == pytest.approx(128 / 5.5338, rel=1e-6)
    assert [st.step for st in s.steps] == [43, 44, 45]


def test_megatron_old_format_drops_warmup():
    s = read_log(LOGS / "megatron-old.log")  # 4 lines, 2 warm-up dropped
    assert s.format == "megatron" and s.used == 2
    assert s.step_time_s == pytest.approx((89.4748 + 89.0752) / 2)
    assert s.tflops_per_device is None and s.global_batch == 1024


def test_megatron_deepspeed_flops_field():
    s = read_log(LOGS / "megatron-deepspeed.log", fmt="megatron", warmup=0)
    assert s.step_time_s == pytest.approx(4.1031)
    assert s.tflops_per_device == pytest.approx(112.9)
    assert s.samples_per_s == pytest.approx(7.799)


def test_deepspeed_both_formats():
    old = read_log(LOGS / "deepspeed.log", warmup=0)
    assert old.format == "deepspeed" and [st.step for st in old.steps] == [40, 50]
    assert old.samples_per_s == pytest.approx((83.486 + 83.738) / 2, rel=1e-4)
    assert old.memory_bytes == pytest.approx(9.02 * 2**30)
    new = read_log(LOGS / "megatron-deepspeed.log", fmt="deepspeed", warmup=0)
    assert new.samples_per_s == pytest.approx(8.00912418308922)
    assert new.memory_bytes == pytest.approx(63.31 * 2**30)


def test_torchtitan():
    s = read_log(LOGS / "torchtitan.log")
    assert s.format == "torchtitan" and s.used == 3  # steps 220, 230, 240
    assert s.tokens_per_s_per_device == pytest.approx(5868)
    assert s.mfu == pytest.approx(0.3436)
    assert s.memory_bytes == pytest.approx(49.66 * 2**30)
    assert s.tflops_per_device == pytest.approx(339.82)


def test_hf_trainer_numbers_and_strings():
    s = read_log(LOGS / "hf-trainer.log", warmup=0)
    assert s.format == "hf-trainer"
    assert s.step_time_s == pytest.approx(1 / 1.207)
    s2 = read_log(LOGS / "hf-trainer-strings.log", warmup=0)
    assert s2.step_time_s == pytest.approx(1 / 0.185)
    assert s2.samples_per_s == pytest.approx(1.474)


def test_ranks_printing_the_same_step_count_once():
    line = ("[titan] - step:  4  loss:  7.62585  memory: 66.91GiB(37.51%)  tps: 10,050  "
            "tflops: 314.71  mfu: 13.99%")
    s = parse_log("\n".join([line] * 8), warmup=0)
    assert len(s.steps) == 1 and s.tokens_per_s_per_device == 10050


@pytest.mark.parametrize("text", ["", "hello world\nnothing here", "iteration 5/10 | lm loss: x",
                                  "{'train_runtime': 1, 'train_steps_per_second': 0}",
                                  "{'train_runtime': oops"])
def test_malformed_logs_say_what_is_wrong(text):
    with pytest.raises(InputError, match="no training-step lines"):
        parse_log(text)


def test_unknown_format_and_binary_and_missing(tmp_path):
    with pytest.raises(InputError, match="unknown log format 'slurm'"):
        parse_log("x", fmt="slurm")
    binary = tmp_path / "core"
    binary.write_bytes(b"\x7fELF\x00\x00garbage")
    with pytest.raises(InputError, match="binary file"):
        read_log(binary)
    with pytest.raises(InputError, match="cannot read"):
        read_log(tmp_path / "missing.log")
