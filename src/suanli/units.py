"""Parse and format quantities: counts, FLOPs, PF-days, bytes, dollars, durations.

Parsing accepts what people type: ``"300B"`` tokens, ``"2T"``, ``"1.5e23"``, ``"80GB"``,
``"$2.5/h"``, ``"30d"``. Decimal SI prefixes are used for counts and FLOPs (1 B = 1e9), and
both SI and binary for bytes (``GB`` = 1e9, ``GiB`` = 2**30). Every parser refuses
non-finite values and says how to write the quantity. Formatters round to significant digits
*before* choosing the prefix or unit (999,999 -> ``'1M'``, 59.99 s -> ``'1 min'``) and never use
exponent notation.

>>> parse_count("300B")
300000000000.0
>>> parse_bytes("80GB")
80000000000.0
>>> parse_price("$2.5/h")
2.5
>>> round(flops_to_pf_days(3.14e23))
3634
>>> format_si(3.14e23, "FLOP")
'314 ZFLOP'
"""

from __future__ import annotations

import math
import re

from suanli.errors import InputError

# FLOP in one PF-day: 1e15 FLOP/s for 86,400 s (the OpenAI "AI and Compute" unit).
PF_DAY = 1e15 * 86_400.0
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86_400.0

_COUNT_SUFFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "m": 1e6, "B": 1e9, "b": 1e9, "G": 1e9,
                 "g": 1e9, "T": 1e12, "t": 1e12, "P": 1e15, "p": 1e15, "E": 1e18, "e": 1e18,
                 "Z": 1e21, "z": 1e21, "Y": 1e24, "y": 1e24}
_NUM = r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"


def _fail(kind: str, text: str, example: str) -> InputError:
    return InputError(f"cannot read '{text}' as {kind}; write it like {example}")


def _finite(value: float, kind: str, text: object) -> float:
    if not math.isfinite(value):
        raise InputError(f"{kind} must be a finite number, got '{text}'")
    return value


def parse_count(text: str | float | int, *, what: str = "a count") -> float:
    """A plain number with an optional SI suffix: ``"300B"`` -> 3e11, ``"2k"`` -> 2e3.

    Suffixes k, M, B (= G), T, P, E, Z, Y are powers of 1000 (``B`` is billion, not bytes);
    a trailing ``tokens``, ``params`` or ``FLOP(s)`` is allowed and ignored.
    """
    if isinstance(text, int | float):
        return _finite(float(text), what, text)
    s = str(text).strip().replace(",", "").replace("_", "")
    m = re.fullmatch(_NUM + r"\s*([kKmMbBgGtTpPeEzZyY]?)(?:\s*(?:tokens?|params?|flops?|FLOPs?))?",
                     s)
    if not m:
        raise _fail(what, str(text), "'300B', '2T', '1.5e23' or '4096'")
    return _finite(float(m.group(1)) * _COUNT_SUFFIX[m.group(2)], what, text)


def parse_int(text: str | int, *, what: str = "an integer") -> int:
    """A whole number, suffixes allowed (``"4k"`` -> 4000); rejects fractions."""
    value = parse_count(text, what=what)
    if value != int(value):
        raise InputError(f"{what} must be a whole number, got '{text}'")
    return int(value)


_BYTE_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15,
               "ki": 2.0**10, "mi": 2.0**20, "gi": 2.0**30, "ti": 2.0**40, "pi": 2.0**50}


def parse_bytes(text: str | float | int) -> float:
    """``"80GB"`` -> 8e10, ``"32GiB"`` -> 34359738368; ``"80G"`` = ``"80GB"``; a bare number
    is bytes. Case does not matter (``b`` is a byte here, never a bit)."""
    if isinstance(text, int | float):
        return _finite(float(text), "a size", text)
    m = re.fullmatch(_NUM + r"\s*([kmgtp]i?)?\s*(?:b|bytes?)?", str(text).strip().lower())
    if not m:
        raise _fail("a size", str(text), "'80GB', '32GiB' or '1.5TB'")
    return _finite(float(m.group(1)) * _BYTE_UNITS[m.group(2) or ""], "a size", text)


def parse_price(text: str | float | int) -> float:
    """A price per device-hour in US dollars: ``"$2.5/h"``, ``"2.5"``, ``"$60/day"`` -> 2.5.

    Other currencies are converted at the dated catalog rate (``suanli.money``):
    ``"¥15/h"``, ``"CNY 15/h"``, ``"€2/h"``."""
    if isinstance(text, int | float):
        return _finite(float(text), "a price", text)
    from suanli.money import parse_money, to_usd

    money = parse_money(str(text))
    return to_usd(money.amount, money.currency)


SECONDS_PER_YEAR = 365.25 * SECONDS_PER_DAY
_DURATION = {"ms": 1e-3, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
             "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
             "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
             "d": 86_400.0, "day": 86_400.0, "days": 86_400.0,
             "w": 604_800.0, "wk": 604_800.0, "week": 604_800.0, "weeks": 604_800.0,
             "y": SECONDS_PER_YEAR, "yr": SECONDS_PER_YEAR, "year": SECONDS_PER_YEAR,
             "years": SECONDS_PER_YEAR}


def parse_duration(text: str | float | int) -> float:
    """``"30d"``, ``"12h"``, ``"90min"``, ``"2 weeks"`` -> seconds; a bare number is seconds.
    ``m`` is minutes (never months); a year is 365.25 days."""
    if isinstance(text, int | float):
        return _finite(float(text), "a duration", text)
    m = re.fullmatch(_NUM + r"\s*([a-z]*)", str(text).strip().lower())
    if not m or (m.group(2) or "s") not in _DURATION:
        raise _fail("a duration", str(text), "'30d', '12h', '90min' or '3600' (seconds)")
    return _finite(float(m.group(1)) * _DURATION[m.group(2) or "s"], "a duration", text)


def flops_to_pf_days(flops: float) -> float:
    """FLOP -> PF-days (1 PF-day = 8.64e19 FLOP)."""
    return flops / PF_DAY


_PREFIXES = [(1e24, "Y"), (1e21, "Z"), (1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"),
             (1e6, "M"), (1e3, "k")]


def format_si(value: float, unit: str = "", digits: int = 3) -> str:
    """``3.14e23, "FLOP"`` -> ``'314 ZFLOP'``; keeps ``digits`` significant digits.

    The value is rounded before the prefix is chosen, so 999,999 reads ``'1 M'``, not
    ``'1e+03 k'``.
    """
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}".strip()
    value = _round_sig(value, digits)
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{_sig(value / scale, digits)} {prefix}{unit}".strip()
    return f"{_sig(value, digits)} {unit}".strip()


def format_count(value: float) -> str:
    """Counts the way the field writes them: 175B params, 300B tokens, 1.2T."""
    if not math.isfinite(value):
        return f"{value:g}"
    value = _round_sig(value, 3)
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{_sig(value / scale, 3)}{suffix}"
    return _sig(value, 3)


def format_duration(seconds: float) -> str:
    """Seconds -> the largest sensible unit: ``'1.1 s'``, ``'34.2 days'``, ``'2.1 years'``."""
    if seconds == 0 or not math.isfinite(seconds):
        return f"{seconds:g} s"
    for scale, name in ((SECONDS_PER_YEAR, "years"), (86_400, "days"), (3600, "h"), (60, "min"),
                        (1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        scaled = _round_sig(seconds / scale, 3)
        if abs(scaled) >= 1:
            return f"{_sig(scaled, 3)} {name}"
    return f"{_sig(seconds / 1e-6, 3)} µs"


def format_money(value: float, symbol: str = "$") -> str:
    """Money with a magnitude suffix, in any currency symbol: ``'$1.28M'``, ``'¥9.2M'``,
    ``'$37,000'``, ``'$2.50'``, ``'-$3.00'``. Millions and up keep 3 significant digits, and so
    does an amount under a dollar (``'$0.563'``, ``'$0.00123'``, ``'$0.50'``): never ``'$0.00'``
    for a non-zero amount.
    """
    if value < 0:
        return "-" + format_money(-value, symbol)
    if not math.isfinite(value):
        return f"{symbol}{value:g}"
    if value >= 1e6:
        return f"{symbol}{format_count(value)}"
    if value >= 100:
        return f"{symbol}{value:,.0f}"
    if 0 < value < 1:  # cents and below keep 3 significant digits: $0.563, $0.0512
        whole, _, frac = _sig(value, 3).partition(".")
        return f"{symbol}{whole}.{frac.ljust(2, '0')}"
    return f"{symbol}{value:,.2f}"


def format_usd(value: float) -> str:
    """Dollars with a magnitude suffix: ``'$4.6M'``, ``'$37,000'``, ``'$2.50'``, ``'-$3.00'``
    (``format_money`` with ``$``)."""
    return format_money(value, "$")


def format_number(value: float, digits: int = 3) -> str:
    """A plain number that never reads 0 when it is not: whole numbers of ``digits`` digits or
    more print in full with thousands separators (``3634 -> '3,634'``), smaller ones keep
    ``digits`` significant digits (``0.0123 -> '0.0123'``, ``12.345 -> '12.3'``)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    return _sig(value, digits)


def _round_sig(x: float, digits: int) -> float:
    """``x`` rounded to ``digits`` significant digits (0 and non-finite unchanged)."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def _sig(x: float, digits: int) -> str:
    """``digits`` significant digits, plain notation (no exponent), trailing zeros dropped:
    ``3.14159 -> '3.14'``, ``12.0 -> '12'``, ``1234.5 -> '1,230'``, ``1e-5 -> '0.00001'``."""
    x = _round_sig(x, digits)
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(x))), 0)
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
