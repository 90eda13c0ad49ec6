"""Fine-tuning model: published memory rows, the laws of each term, and user errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.calib.finetune_runs import check, load_runs
from suanli.catalog import load_catalog
from suanli.errors import InputError
from suanli.perf import finetune as ft
from suanli.perf.adapters import adapter_params, linear_params
from suanli.perf.ops import param_count


def job(model: str = "llama2-7b", hardware: str = "rtx4090", **kw: object) -> ft.FinetuneJob:
    cat = load_catalog()
    system = cat.system(hardware)
    base = ft.FinetuneJob(model=cat.model(model), system=system,
                          accelerator=cat.accelerator(system.accelerator))
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("checked", [c for c in check() if c.run.held],
                         ids=lambda c: c.run.id)
def test_published_memory_rows_are_held_within_10_percent(checked) -> None:
    if checked.run.metric == "fits_card_gib":  # a bound: it must fit the card
        assert checked.predicted <= checked.run.published
    else:
        assert abs(checked.error) <= 0.10, (checked.run.id, checked.predicted)


def test_every_validation_row_names_its_source_and_a_reason_when_not_held() -> None:
    runs = load_runs()
    assert len([r for r in runs if r.held]) >= 8
    for r in runs:
        assert len(r.source) > 20
        assert r.held or r.note, r.id


def test_adapter_count_matches_peft_for_llama_7b_rank_8_on_q_v() -> None:
    # PEFT's print_trainable_parameters for LLaMA-7B, r=8, target_modules=[q_proj, v_proj]
    m = load_catalog().model("llama-7b")
    assert adapter_params(m, 8, "q,v") == 4_194_304
    assert adapter_params(m, 8, "attention") == 2 * adapter_params(m, 8, "q,v")


def test_double_quantization_costs_0_127_bits_per_weight() -> None:
    assert pytest.approx(0.127, abs=5e-4) == ft.DQ_CONST_BYTES * 8
    j = job(method="qlora")
    n, lin = param_count(j.model), linear_params(j.model)
    assert ft.base_weight_bytes(j) == pytest.approx(lin * (4.127 / 8) + (n - lin) * 2, rel=1e-3)


def test_lora_skips_the_weight_gradient_gemms() -> None:
    plan = ft.FinetunePlan(micro_batch=1, checkpointing=False)
    lora = ft.estimate_finetune(job(method="lora", global_batch=1), plan)
    full = ft.estimate_finetune(job(method="full", global_batch=1), plan)
    # 2 of 3 matmul passes: about 4ND instead of 6ND
    assert lora.time_s["gemm"] / full.time_s["gemm"] == pytest.approx(2 / 3, rel=1e-6)
    assert lora.trainable_params < 0.01 * full.trainable_params


def test_checkpointing_trades_activation_memory_for_one_more_forward() -> None:
    on = ft.estimate_finetune(job(), ft.FinetunePlan(checkpointing=True))
    off = ft.estimate_finetune(job(), ft.FinetunePlan(checkpointing=False))
    assert on.memory_gb["activations"] < off.memory_gb["activations"] / 5
    # the block matmuls run 3 passes instead of 2; the output head is not recomputed
    assert 1.45 < on.time_s["gemm"] / off.time_s["gemm"] < 1.5


def test_offload_moves_state_to_the_host_and_pays_pcie() -> None:
    j = job(method="full", model="llama2-7b", hardware="dgx-a100-80gb")
    none = ft.estimate_finetune(j, ft.FinetunePlan())
    opt = ft.estimate_finetune(j, ft.FinetunePlan(offload="optimizer"))
    par = ft.estimate_finetune(j, ft.FinetunePlan(offload="params"))
    assert par.memory_per_device_gb < opt.memory_per_device_gb < none.memory_per_device_gb
    assert none.host_memory_gb == 0 < opt.host_memory_gb < par.host_memory_gb
    assert none.time_s["offload_pcie"] == 0 < opt.time_s["offload_pcie"] \
        < par.time_s["offload_pcie"]
    # 6.7B params: fp32 master + m + v + fp32 grads = 16 B each on the host
    assert opt.host_memory_gb == pytest.approx(param_count(j.model) * 16 / 1e9, rel=1e-6)


def test_full_fine_tuning_of_7b_needs_offload_on_a_24_gb_card_and_lora_does_not() -> None:
    assert not ft.estimate_finetune(job(method="full"), ft.FinetunePlan()).fits
    assert ft.estimate_finetune(job(method="full"), ft.FinetunePlan(offload="optimizer")).fits
    assert ft.estimate_finetune(job(method="lora"), ft.FinetunePlan()).fits
    assert ft.estimate_finetune(job(method="qlora", model="llama2-13b"), ft.FinetunePlan()).fits


@settings(max_examples=15)
@given(d=st.sampled_from([2, 4, 8]))
def test_sharding_over_more_devices_never_needs_more_memory(d: int) -> None:
    j = job(method="lora", model="llama2-70b", hardware="dgx-a100-80gb", global_batch=16)
    one = ft.estimate_finetune(j, ft.FinetunePlan(devices=d, shard=True))
    two = ft.estimate_finetune(j, ft.FinetunePlan(devices=2 * d, shard=True))
    assert two.memory_per_device_gb < one.memory_per_device_gb


@settings(max_examples=20)
@given(tokens=st.floats(1e6, 1e10), epochs=st.floats(0.5, 5), price=st.floats(0.1, 10))
def test_time_is_linear_in_data_and_cost_is_time_times_price(tokens: float, epochs: float,
                                                             price: float) -> None:
    a = ft.estimate_finetune(job(dataset_tokens=tokens, epochs=epochs,
                                 price_usd_per_device_hour=price), ft.FinetunePlan())
    b = ft.estimate_finetune(job(dataset_tokens=2 * tokens, epochs=epochs,
                                 price_usd_per_device_hour=price), ft.FinetunePlan())
    assert b.total_hours == pytest.approx(2 * a.total_hours)
    assert a.total_hours == pytest.approx(a.epoch_hours * epochs)
    assert a.cost_usd == pytest.approx(a.device_hours * price)


@pytest.mark.parametrize(("kw", "plan", "message"), [
    ({"method": "dora"}, {}, "--method must be one of full, lora, qlora"),
    ({"targets": "q,x"}, {}, "unknown LoRA target 'x'"),
    ({"lora_rank": 0}, {}, "--lora-rank must be >= 1"),
    ({"global_batch": 3}, {"micro_batch": 2}, "not a multiple of devices x micro-batch"),
    ({"hardware": "tpu-v4-pod"}, {"offload": "optimizer"}, "no PCIe / host-memory data"),
])
def test_bad_input_says_what_to_change(kw: dict[str, object], plan: dict[str, object],
                                       message: str) -> None:
    hw = str(kw.pop("hardware", "rtx4090"))
    with pytest.raises(InputError, match=message):
        ft.estimate_finetune(job(hardware=hw, **kw), ft.FinetunePlan(**plan))  # type: ignore[arg-type]


def test_nvme_offload_frees_host_ram_and_pays_the_drives() -> None:
    j = job(method="full", model="llama3-70b", hardware="dgx-a100-80gb", global_batch=8)
    plan = ft.FinetunePlan(devices=8, shard=True)
    par = ft.estimate_finetune(j, replace(plan, offload="params"))
    nvme = ft.estimate_finetune(j, replace(plan, offload="nvme"))
    assert nvme.host_memory_gb < par.host_memory_gb / 5  # only the 16-bit weights stay in RAM
    assert nvme.nvme_gb == pytest.approx(param_count(j.model) * 16 / 1e9, rel=1e-6)
    # 28 B per parameter through the node's drives, shared by its 8 devices
    extra = nvme.time_s["optimizer"] - par.time_s["optimizer"]
    assert extra == pytest.approx(param_count(j.model) / 8 * 28 / (25e9 / 8), rel=1e-6)
    with pytest.raises(InputError, match="no NVMe bandwidth"):
        ft.estimate_finetune(job(hardware="hgx-h800"), ft.FinetunePlan(offload="nvme"))


def test_frozen_base_is_held_in_its_dtype() -> None:
    bf16 = ft.base_weight_bytes(job(method="lora"))
    assert ft.base_weight_bytes(job(method="lora", dtype="fp32")) == pytest.approx(2 * bf16)
    assert bf16 == pytest.approx(param_count(job().model) * 2)
