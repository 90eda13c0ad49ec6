"""suanli.units: every parser and formatter, their error messages, and round-trip laws."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.errors import InputError
from suanli.units import (
    PF_DAY,
    flops_to_pf_days,
    format_count,
    format_duration,
    format_si,
    format_usd,
    parse_bytes,
    parse_count,
    parse_duration,
    parse_int,
    parse_price,
)


@pytest.mark.parametrize(("text", "value"), [
    ("300B", 3e11), ("2T", 2e12), ("1.5e23", 1.5e23), ("4096", 4096.0), ("2k", 2e3),
    ("2K", 2e3), ("7M", 7e6), ("1.2 T", 1.2e12), ("300B tokens", 3e11), ("175B params", 1.75e11),
    ("3.14e23 FLOPs", 3.14e23), ("1,000,000", 1e6), ("1_000", 1e3), (" 12 ", 12.0),
    ("1P", 1e15), ("2E", 2e18), ("3Z", 3e21), ("1Y", 1e24), (".5k", 500.0), ("1e3k", 1e6),
    (42, 42.0), (2.5, 2.5),
])
def test_parse_count(text: str | float, value: float) -> None:
    assert parse_count(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "300X", "-5", "1.2.3", "B300", "5 apples", "1e400"])
def test_parse_count_errors_say_what_and_how(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_count(text, what="tokens")
    msg = str(err.value)
    assert "tokens" in msg
    assert f"'{text}'" in msg
    assert "300B" in msg or "finite" in msg


def test_parse_count_refuses_non_finite_numbers() -> None:
    with pytest.raises(InputError, match="finite"):
        parse_count(float("inf"))
    with pytest.raises(InputError, match="finite"):
        parse_count(float("nan"))


def test_parse_int() -> None:
    assert parse_int("4k") == 4000 and isinstance(parse_int("4k"), int)
    assert parse_int(7) == 7
    with pytest.raises(InputError, match=r"whole number, got '1\.5'"):
        parse_int("1.5", what="the batch size")
    with pytest.raises(InputError, match="the batch size"):
        parse_int("1.5", what="the batch size")
    with pytest.raises(InputError, match="finite"):
        parse_int("1e400")


@pytest.mark.parametrize(("text", "value"), [
    ("80GB", 80e9), ("80 GB", 80e9), ("80gb", 80e9), ("80G", 80e9), ("32GiB", 32 * 2**30),
    ("32 gib", 32 * 2**30), ("32Gi", 32 * 2**30), ("1.5TB", 1.5e12), ("512MiB", 512 * 2**20),
    ("4kB", 4e3), ("4KiB", 4096.0), ("1PB", 1e15), ("2TiB", 2 * 2**40), ("100", 100.0),
    ("100B", 100.0), ("100 bytes", 100.0), (1024, 1024.0),
])
def test_parse_bytes(text: str | int, value: float) -> None:
    assert parse_bytes(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "GB", "80XB", "eighty GB", "80 GB/s"])
def test_parse_bytes_errors(text: str) -> None:
    with pytest.raises(InputError, match=r"as a size; write it like '80GB'"):
        parse_bytes(text)


@pytest.mark.parametrize(("text", "value"), [
    ("$2.5/h", 2.5), ("2.5", 2.5), ("$60/day", 2.5), ("$60/d", 2.5), ("2.5/hr", 2.5),
    ("2.5 USD/hour", 2.5), ("$730/mo", 1.0), ("$1,460/month", 2.0), (3, 3.0),
])
def test_parse_price(text: str | int, value: float) -> None:
    assert parse_price(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "$", "2.5/week", "two dollars", "¥"])
def test_parse_price_errors(text: str) -> None:
    with pytest.raises(InputError, match=r"as a price; write it like '\$2.5/h'"):
        parse_price(text)


@pytest.mark.parametrize(("text", "code"), [
    ("¥15/h", "CNY"), ("CNY 15/h", "CNY"), ("15 cny/h", "CNY"), ("15 yuan/h", "CNY"),
    ("RMB15/h", "CNY"), ("€2/h", "EUR"), ("2 EUR/hour", "EUR"), ("$2.5/h", "USD"),
])
def test_parse_price_in_other_currencies_converts_at_the_catalog_rate(text: str,
                                                                       code: str) -> None:
    from suanli.money import parse_money, rates

    money = parse_money(text)
    assert money.currency == code
    assert parse_price(text) == pytest.approx(money.amount * rates()[code].usd_per_unit)


def test_unknown_currency_names_the_known_ones() -> None:
    with pytest.raises(InputError, match="unknown currency '£'; use one of USD, CNY, EUR"):
        parse_price("£3/h")


@pytest.mark.parametrize(("text", "seconds"), [
    ("30d", 30 * 86400), ("12h", 12 * 3600), ("90min", 5400), ("90m", 5400), ("45s", 45),
    ("3600", 3600), ("1.5 hours", 5400), ("2 weeks", 2 * 604800), ("2w", 2 * 604800),
    ("1 day", 86400), ("10 days", 864000), ("250ms", 0.25), ("1y", 365.25 * 86400),
    ("5 minutes", 300), ("2 hrs", 7200), (60, 60.0),
])
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "d", "30 fortnights", "3 months", "soon", "-1h"])
def test_parse_duration_errors(text: str) -> None:
    with pytest.raises(InputError, match=r"as a duration; write it like '30d'"):
        parse_duration(text)


def test_flops_to_pf_days() -> None:
    assert PF_DAY == 8.64e19
    assert flops_to_pf_days(8.64e19) == 1.0
    # GPT-3 175B: 3.14e23 FLOP = 3,640 PF-days (Brown et al. 2020, Table D.1)
    assert flops_to_pf_days(3.14e23) == pytest.approx(3640, rel=0.01)


@pytest.mark.parametrize(("value", "unit", "digits", "text"), [
    (3.14e23, "FLOP", 3, "314 ZFLOP"), (3.14e23, "FLOP", 2, "310 ZFLOP"),
    (1.5e9, "B", 3, "1.5 GB"), (999.95e3, "", 3, "1 M"), (999.4e3, "", 3, "999 k"),
    (512, "W", 3, "512 W"), (0, "FLOP", 3, "0 FLOP"), (-2.5e12, "FLOP/s", 3, "-2.5 TFLOP/s"),
    (1e27, "FLOP", 3, "1,000 YFLOP"), (0.5, "s", 3, "0.5 s"), (1e-5, "s", 3, "0.00001 s"),
    (12.0, "", 3, "12"), (989.5e12, "FLOP/s", 4, "989.5 TFLOP/s"),
])
def test_format_si(value: float, unit: str, digits: int, text: str) -> None:
    assert format_si(value, unit, digits) == text


def test_format_si_non_finite() -> None:
    assert format_si(math.inf, "FLOP") == "inf FLOP"
    assert format_si(math.nan) == "nan"


@pytest.mark.parametrize(("value", "text"), [
    (175e9, "175B"), (1.5e12, "1.5T"), (300e9, "300B"), (6.74e9, "6.74B"), (999_999, "1M"),
    (1234, "1.23k"), (512, "512"), (0.5, "0.5"), (0, "0"), (2.5e15, "2,500T"), (-4.6e6, "-4.6M"),
])
def test_format_count(value: float, text: str) -> None:
    assert format_count(value) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (1.1, "1.1 s"), (34.2 * 86400, "34.2 days"), (2.1 * 365.25 * 86400, "2.1 years"),
    (59.99, "1 min"), (90, "1.5 min"), (7200, "2 h"), (0, "0 s"), (5e-4, "500 µs"),
    (2.5e-3, "2.5 ms"), (5e-7, "0.5 µs"), (5e-5, "50 µs"), (86_399, "1 days"),
])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("value", "text"), [
    (4.6e6, "$4.6M"), (37_000, "$37,000"), (2.5, "$2.50"), (100, "$100"), (0, "$0.00"),
    (-3, "-$3.00"), (1.25e9, "$1.25B"), (999_999.9, "$1,000,000"),
])
def test_format_usd(value: float, text: str) -> None:
    assert format_usd(value) == text


# --- laws ------------------------------------------------------------------------------------

positive = st.floats(min_value=1.0, max_value=1e26, allow_nan=False, allow_infinity=False)


@given(positive)
def test_format_count_then_parse_count_round_trips(x: float) -> None:
    """3 significant digits: the round trip is within half a unit in the third digit."""
    assert parse_count(format_count(x)) == pytest.approx(x, rel=5e-3)


@given(st.floats(min_value=1e-3, max_value=1e10, allow_nan=False))
def test_format_duration_then_parse_duration_round_trips(x: float) -> None:
    assert parse_duration(format_duration(x)) == pytest.approx(x, rel=5e-3)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False),
       st.sampled_from(["kB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"]))
def test_parse_bytes_scales_linearly(x: float, unit: str) -> None:
    one = parse_bytes(f"1{unit}")
    assert parse_bytes(f"{x!r}{unit}") == pytest.approx(x * one)
    assert one == (1024.0 ** "kmgt".index(unit[0].lower()) * 1024 if "i" in unit
                   else 1000.0 ** ("kmgt".index(unit[0].lower()) + 1))


@given(st.floats(min_value=1e-12, max_value=1e30, allow_nan=False))
def test_format_si_keeps_three_significant_digits(x: float) -> None:
    text = format_si(x, "FLOP")
    number, unit = text.split(" ")
    scale = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
             "Z": 1e21, "Y": 1e24}[unit.removesuffix("FLOP")]
    assert float(number.replace(",", "")) * scale == pytest.approx(x, rel=5e-3)


@pytest.mark.parametrize(("value", "symbol", "text"), [
    (1.28e6, "$", "$1.28M"), (9.2e6, "¥", "¥9.2M"), (37_000, "€", "€37,000"),
    (2.5, "$", "$2.50"), (0.00123, "$", "$0.00123"), (-1.5e9, "¥", "-¥1.5B"), (0, "$", "$0.00"),
    (0.5, "$", "$0.50"), (0.5634, "$", "$0.563"), (0.0512, "€", "€0.0512"),
])
def test_format_money(value: float, symbol: str, text: str) -> None:
    from suanli.units import format_money

    assert format_money(value, symbol) == text


@pytest.mark.parametrize(("value", "text"), [
    (3634.4, "3,634"), (0.0123, "0.0123"), (12.345, "12.3"), (0.0, "0"), (1e-7, "0.0000001"),
])
def test_format_number(value: float, text: str) -> None:
    from suanli.units import format_number

    assert format_number(value) == text


@given(st.floats(min_value=1e-12, max_value=1e15, allow_nan=False))
def test_format_number_and_money_never_print_zero_for_non_zero(x: float) -> None:
    from suanli.units import format_money, format_number

    assert float(format_number(x).replace(",", "")) > 0
    assert any(c in "123456789" for c in format_money(x))
