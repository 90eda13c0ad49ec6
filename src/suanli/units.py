"""Parse and format quantities: counts, FLOPs, PF-days, bytes, dollars, durations.

Parsing accepts what people type: ``"300B"`` tokens, ``"2T"``, ``"1.5e23"``, ``"80GB"``,
``"$2.5/h"``, ``"30d"``. Decimal SI prefixes are used for counts and FLOPs (1 B = 1e9), and
both SI and binary for bytes (``GB`` = 1e9, ``GiB`` = 2**30).

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
                 "g": 1e9, "T": 1e12, "t": 1e12, "P": 1e15, "p": 1e15, "E": 1e18, "e": 1e18}
_NUM = r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"


def _fail(kind: str, text: str, example: str) -> InputError:
    return InputError(f"cannot read '{text}' as {kind}; write it like {example}")


def parse_count(text: str | float | int, *, what: str = "a count") -> float:
    """A plain number with an optional SI suffix: ``"300B"`` -> 3e11, ``"2k"`` -> 2e3."""
    if isinstance(text, int | float):
        return float(text)
    s = str(text).strip().replace(",", "").replace("_", "")
    m = re.fullmatch(_NUM + r"\s*([kKmMbBgGtTpPeE]?)(?:\s*(?:tokens?|params?|flops?|FLOPs?))?", s)
    if not m:
        raise _fail(what, str(text), "'300B', '2T', '1.5e23' or '4096'")
    return float(m.group(1)) * _COUNT_SUFFIX[m.group(2)]


def parse_int(text: str | int, *, what: str = "an integer") -> int:
    """A whole number, suffixes allowed (``"4k"`` -> 4000); rejects fractions."""
    value = parse_count(text, what=what)
    if value != int(value):
        raise InputError(f"{what} must be a whole number, got '{text}'")
    return int(value)


_BYTE_UNITS = {"b": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
               "kib": 2.0**10, "mib": 2.0**20, "gib": 2.0**30, "tib": 2.0**40, "pib": 2.0**50}


def parse_bytes(text: str | float | int) -> float:
    """``"80GB"`` -> 8e10, ``"32GiB"`` -> 34359738368; a bare number is bytes."""
    if isinstance(text, int | float):
        return float(text)
    m = re.fullmatch(_NUM + r"\s*([kKmMgGtTpP]?i?[bB])?", str(text).strip())
    if not m:
        raise _fail("a size", str(text), "'80GB', '32GiB' or '1.5TB'")
    unit = (m.group(2) or "b").lower()
    return float(m.group(1)) * _BYTE_UNITS[unit]


def parse_price(text: str | float | int) -> float:
    """A price per device-hour: ``"$2.5/h"``, ``"2.5"``, ``"$60/day"`` -> 2.5 USD per hour."""
    if isinstance(text, int | float):
        return float(text)
    s = str(text).strip().replace(" ", "").lower()
    m = re.fullmatch(r"\$?" + _NUM + r"(?:usd)?(?:/(h|hr|hour|d|day|mo|month))?", s)
    if not m:
        raise _fail("a price", str(text), "'$2.5/h', '2.5' or '$60/day'")
    per = {None: 1.0, "h": 1.0, "hr": 1.0, "hour": 1.0, "d": 24.0, "day": 24.0,
           "mo": 730.0, "month": 730.0}[m.group(2)]
    return float(m.group(1)) / per


_DURATION = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0,
             "d": 86_400.0, "day": 86_400.0, "days": 86_400.0, "w": 604_800.0}


def parse_duration(text: str | float | int) -> float:
    """``"30d"``, ``"12h"``, ``"90min"`` -> seconds; a bare number is seconds."""
    if isinstance(text, int | float):
        return float(text)
    m = re.fullmatch(_NUM + r"\s*([a-z]*)", str(text).strip().lower())
    if not m or (m.group(2) and m.group(2) not in _DURATION):
        raise _fail("a duration", str(text), "'30d', '12h', '90min' or '3600' (seconds)")
    return float(m.group(1)) * _DURATION.get(m.group(2) or "s", 1.0)


def flops_to_pf_days(flops: float) -> float:
    """FLOP -> PF-days (1 PF-day = 8.64e19 FLOP)."""
    return flops / PF_DAY


_PREFIXES = [(1e24, "Y"), (1e21, "Z"), (1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"),
             (1e6, "M"), (1e3, "k")]


def format_si(value: float, unit: str = "", digits: int = 3) -> str:
    """``3.14e23, "FLOP"`` -> ``'314 ZFLOP'``; keeps ``digits`` significant digits."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}".strip()
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{_sig(value / scale, digits)} {prefix}{unit}".strip()
    return f"{_sig(value, digits)} {unit}".strip()


def format_count(value: float) -> str:
    """Counts the way the field writes them: 175B params, 300B tokens, 1.2T."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{_sig(value / scale, 3)}{suffix}"
    return _sig(value, 3)


def format_duration(seconds: float) -> str:
    """Seconds -> the largest sensible unit: ``'1.1 s'``, ``'34.2 days'``, ``'2.1 years'``."""
    for scale, name in ((365.25 * 86_400, "years"), (86_400, "days"), (3600, "h"), (60, "min"),
                        (1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(seconds) >= scale:
            return f"{_sig(seconds / scale, 3)} {name}"
    return f"{seconds:.3g} s"


def format_usd(value: float) -> str:
    """Dollars with a magnitude suffix: ``'$4.6M'``, ``'$37,000'``, ``'$2.50'``."""
    if abs(value) >= 1e6:
        return f"${format_count(value)}"
    if abs(value) >= 100:
        return f"${value:,.0f}"
    return f"${value:,.2f}"


def _sig(x: float, digits: int) -> str:
    return f"{x:.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"
