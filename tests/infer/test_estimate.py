"""Serving estimate: definitions, cost laws, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.errors import InfeasibleError, InputError
from suanli.infer.estimate import deployment, estimate


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4096), st.integers(1, 1024), st.integers(1, 256))
def test_definitions_and_cost_add_up(prompt: int, output: int, batch: int) -> None:
    dep = deployment("llama3-8b", "dgx-h100", precision="fp8")
    e = estimate(dep, prompt_len=prompt, output_len=output, batch=batch,
                 price_usd_per_device_hour=4.0)
    assert e.e2e_s == pytest.approx(e.ttft_s + (output - 1) * e.tpot_s)
    assert e.output_tokens_per_s == pytest.approx(batch * output / e.e2e_s)
    replica_usd = 4.0 * e.devices_per_replica * e.e2e_s / 3600  # cost = time x price
    assert e.usd_per_million_output_tokens_all_in * batch * output / 1e6 == \
        pytest.approx(replica_usd)
    if output > 1:  # the input/output split adds up to the replica's cost
        split = (e.usd_per_million_input_tokens * batch * prompt
                 + e.usd_per_million_output_tokens * batch * output) / 1e6
        assert split == pytest.approx(replica_usd)


def test_per_device_throughput() -> None:
    e = estimate(deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8"), prompt_len=512,
                 output_len=128, batch=32)
    assert e.output_tokens_per_s_per_device * 4 == pytest.approx(e.output_tokens_per_s)
    assert e.total_tokens_per_s == pytest.approx(e.output_tokens_per_s * 640 / 128)


def test_does_not_fit_says_how_many_devices_and_fixes() -> None:
    with pytest.raises(InfeasibleError, match=r"needs >= 2 x .*H100.*--tp 2.*fp8"):
        estimate(deployment("llama2-70b", "H100"), prompt_len=100, output_len=10)


def test_batch_beyond_kv_capacity_is_flagged() -> None:
    dep = deployment("llama2-70b", "dgx-h100", tp=2)
    e = estimate(dep, prompt_len=4000, output_len=96, batch=100_000)
    assert not e.fits and e.notes and e.batch > e.max_concurrent_seqs
    ok = estimate(dep, prompt_len=4000, output_len=96)
    assert ok.fits and ok.batch == ok.max_concurrent_seqs


def test_fp8_faster_than_bf16_at_batch_1() -> None:
    args = {"prompt_len": 128, "output_len": 128, "batch": 1}
    bf = estimate(deployment("llama2-7b", "dgx-h100"), **args)
    f8 = estimate(deployment("llama2-7b", "dgx-h100", precision="fp8"), **args)
    assert 1.4 < bf.tpot_s / f8.tpot_s < 2.0  # weights halve; overhead does not


def test_bad_flags() -> None:
    with pytest.raises(InputError, match="--ep"):
        deployment("llama2-7b", "H100", ep=2)
    with pytest.raises(InputError, match="prompt-len"):
        estimate(deployment("llama2-7b", "H100"), prompt_len=0, output_len=1)


def test_pipeline_stages_split_weights_and_fill_drain() -> None:
    one = estimate(deployment("llama2-70b", "dgx-a100-80gb", tp=2), prompt_len=512,
                   output_len=64, batch=64)
    two = estimate(deployment("llama2-70b", "dgx-a100-80gb", tp=2, pp=2), prompt_len=512,
                   output_len=64, batch=64)
    assert two.memory["weights_gb"] == pytest.approx(one.memory["weights_gb"] / 2)
    assert two.max_concurrent_seqs > one.max_concurrent_seqs
    # prefill is compute-bound: 3 stage times of a quarter of the work each (GPipe, m = p = 2)
    assert two.ttft_s / one.ttft_s == pytest.approx(0.75, rel=0.05)


def test_prefix_cache_hits_shorten_ttft_not_decode() -> None:
    from suanli.errors import InputError
    from suanli.infer.estimate import deployment, estimate

    def run(h: float):  # type: ignore[no-untyped-def]
        dep = deployment("llama3-70b", "dgx-h100", tp=4, precision="fp8", prefix_hit=h)
        return estimate(dep, prompt_len=4000, output_len=200, batch=16)

    cold, warm = run(0.0), run(0.5)
    assert warm.ttft_s < 0.6 * cold.ttft_s and warm.tpot_s == cold.tpot_s
    assert warm.ttft_continuous_s < cold.ttft_continuous_s
    with pytest.raises(InputError, match="prefix-hit"):
        run(1.0)
