"""Prices, exchange rates and the new cards: every row sourced and dated, and which price a
plan is costed at."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.catalog import load_catalog
from suanli.catalog.loader import load_prices, load_rates
from suanli.errors import InputError
from suanli.money import format_money, parse_amount, price_for, to_usd

NEW_CARDS = ["RTX-3090", "RTX-4090", "RTX-5090", "RTX-6000-Ada", "RTX-A6000", "L40S", "A10",
             "L4", "T4", "H20-96GB", "L20", "A800-80GB", "H800-80GB", "Ascend-910B",
             "Ascend-910C"]


@pytest.mark.parametrize("acc_id", NEW_CARDS)
def test_consumer_and_china_cards_have_peaks_memory_power_and_a_source(acc_id: str) -> None:
    cat = load_catalog()
    acc = cat.accelerator(acc_id)
    assert acc.memory_gb > 0 and acc.memory_bw_gbs > 0 and len(acc.source) > 20
    assert acc.bf16_tflops or acc.fp16_tflops
    assert cat.system(acc_id).accelerator == acc.id  # a system exists to plan on


def test_h800_and_a800_nodes_carry_the_reduced_nvlink() -> None:
    cat = load_catalog()
    for sys_id in ("hgx-h800", "hgx-a800"):
        assert cat.system(sys_id).scale_up_gbs == 200  # 400 GB/s bidirectional
    assert cat.system("dgx-h100").scale_up_gbs == 450


def test_price_rows_name_a_known_card_a_provider_a_date_and_a_source() -> None:
    cat = load_catalog()
    rates = load_rates()
    rows = load_prices()
    assert {"TPU-v4", "RTX-4090", "RTX-3090"} <= {r.accelerator for r in rows}
    for r in rows:
        cat.accelerator(r.accelerator)
        assert r.provider and r.date and r.source and r.currency in rates


def test_rates_are_dated_and_sourced() -> None:
    rates = load_rates()
    assert {"USD", "CNY", "EUR"} <= set(rates)
    assert rates["USD"].usd_per_unit == 1.0
    for code in ("CNY", "EUR"):
        assert rates[code].date and len(rates[code].source) > 20
    assert 0.10 < rates["CNY"].usd_per_unit < 0.20  # 5-10 yuan per dollar


def test_price_choice_order_user_then_system_then_accelerator_then_price_list() -> None:
    cat = load_catalog()
    p4d = cat.system("aws-p4d")
    a100 = cat.accelerator(p4d.accelerator)
    assert price_for(p4d, a100, 9.0, "$9/h").usd_per_hour == 9.0  # type: ignore[union-attr]
    assert "systems.csv" in price_for(p4d, a100).label  # type: ignore[union-attr]
    l40s = cat.system("l40s-server")
    assert "accelerators.csv" in price_for(l40s, cat.accelerator("L40S")).label  # type: ignore[union-attr]
    tpu = cat.system("tpu-v4-pod")
    choice = price_for(tpu, cat.accelerator("TPU-v4"))
    assert choice is not None and choice.usd_per_hour == pytest.approx(3.22)
    assert "Google Cloud" in choice.label and "prices.csv" in choice.label
    rtx = cat.system("rtx4090")
    choice = price_for(rtx, cat.accelerator("RTX-4090"))
    assert choice is not None and choice.usd_per_hour == pytest.approx(to_usd(1.98, "CNY"))
    assert price_for(cat.system("hgx-h800"), cat.accelerator("H800")) is None


@pytest.mark.parametrize(("usd", "currency", "text"), [
    (1.28e6, "USD", "$1.28M"), (37_000, "USD", "$37,000"), (2.5, "USD", "$2.50"),
    (9.2e6 * 0.1393, "CNY", "¥9.2M"), (1.08 * 500, "EUR", "€500"), (-3.0, "USD", "-$3.00"),
])
def test_format_money(usd: float, currency: str, text: str) -> None:
    assert format_money(usd, currency) == text


@pytest.mark.parametrize(("text", "usd"), [
    ("$1.5M", 1.5e6), ("¥10M", 10e6 * 0.1393), ("CNY 2,000,000", 2e6 * 0.1393),
    ("€500k", 5e5 * 1.08), ("250000", 2.5e5), ("10M CNY", 10e6 * 0.1393),
])
def test_parse_amount(text: str, usd: float) -> None:
    assert parse_amount(text) == pytest.approx(usd)


@pytest.mark.parametrize(("text", "message"), [
    ("lots", "cannot read 'lots'"), ("$-5", "must be positive"), ("£3M", "unknown currency"),
    ("¥10M CNY", "names its currency twice"),
])
def test_parse_amount_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_amount(text)


def test_a_user_rate_file_overrides_the_built_in_rate(tmp_path, monkeypatch) -> None:
    from suanli.catalog import loader

    (tmp_path / "fx-mine.csv").write_text(
        "currency,usd_per_unit,date,symbol,aliases,source\nCNY,0.125,2026-01-01,¥,RMB,my bank\n",
        encoding="utf-8")
    monkeypatch.setenv("SUANLI_CATALOG", str(tmp_path))
    loader._rates.cache_clear()
    try:
        assert load_rates()["CNY"].usd_per_unit == 0.125
        assert to_usd(8.0, "CNY") == pytest.approx(1.0)
    finally:
        monkeypatch.delenv("SUANLI_CATALOG")
        loader._rates.cache_clear()


@settings(max_examples=50)
@given(amount=st.floats(1e-3, 1e9), code=st.sampled_from(["USD", "CNY", "EUR"]))
def test_conversion_round_trips_and_is_linear(amount: float, code: str) -> None:
    from suanli.money import from_usd

    assert from_usd(to_usd(amount, code), code) == pytest.approx(amount)
    assert to_usd(2 * amount, code) == pytest.approx(2 * to_usd(amount, code))


def test_host_side_is_joined_from_hosts_csv_and_bad_ids_are_named(tmp_path, monkeypatch) -> None:
    from suanli.catalog import loader
    from suanli.errors import CatalogError

    cat = load_catalog()
    dgx = cat.system("dgx-a100-80gb")
    assert (dgx.pcie_gbs, dgx.host_memory_bw_gbs, dgx.nvme_gbs) == (32, 409.6, 25)
    assert cat.system("tpu-v4-pod").pcie_gbs is None  # no host data: offload refuses
    (tmp_path / "hosts-mine.csv").write_text(
        "system,pcie_gbs,host_memory_gb,host_memory_bw_gbs,nvme_gbs,source\n"
        "dgx-h200-typo,64,2048,614.4,,mine\n", encoding="utf-8")
    monkeypatch.setenv("SUANLI_CATALOG", str(tmp_path))
    loader._load.cache_clear()
    try:
        with pytest.raises(CatalogError, match="unknown system 'dgx-h200-typo'"):
            loader.load_catalog()
    finally:
        monkeypatch.delenv("SUANLI_CATALOG")
        loader._load.cache_clear()
