"""Money: currencies, dated exchange rates and which price a plan is costed at.

Prices are typed the way people quote them: ``'$2.5/h'``, ``'¥15/h'``, ``'CNY 15/h'``,
``'€2/h'``, ``'15 yuan/h'``, ``'$60/day'``. Internally every cost is US dollars; the rates in
``catalog/data/fx.csv`` (US dollars per unit, dated, with a source) convert on the way in and
on the way out (``--currency CNY``). A user catalog file ``fx*.csv`` overrides a rate.

Which price a plan is costed at (:func:`price_for`), first found wins:

1. the user's ``--price``;
2. the system's price (``systems.csv``: a whole instance divided by its devices);
3. the accelerator's example price (``accelerators.csv``);
4. the cheapest on-demand row for that accelerator in ``prices.csv`` (provider, date, source).

>>> parse_money("¥15/h")
Money(amount=15.0, currency='CNY')
>>> round(to_usd(15.0, "CNY"), 2)
2.09
>>> format_money(9.2e6 * 0.1393, "CNY")
'¥9.2M'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from suanli.errors import InputError

if TYPE_CHECKING:
    from suanli.catalog.schema import Accelerator, ExchangeRate, System

_NUM = r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"
_PER_HOURS = {None: 1.0, "h": 1.0, "hr": 1.0, "hour": 1.0, "d": 24.0, "day": 24.0,
              "mo": 730.0, "month": 730.0}


@dataclass(frozen=True)
class Money:
    """An amount (per device-hour when it is a price) in an ISO currency."""

    amount: float
    currency: str


@dataclass(frozen=True)
class PriceChoice:
    """The price a plan is costed at, and where it came from (said next to every cost)."""

    usd_per_hour: float
    label: str  # e.g. "AutoDL ¥1.98/h (2024, recalled; prices.csv)"


def rates() -> dict[str, ExchangeRate]:
    from suanli.catalog.loader import load_rates

    return load_rates()


def currency_code(text: str) -> str:
    """``'cny'``, ``'RMB'``, ``'¥'``, ``'yuan'`` -> ``'CNY'``; raises with the known codes."""
    key = text.strip()
    for code, r in rates().items():
        names = {code, r.symbol, *filter(None, r.aliases.split("|"))}
        if key.upper() in {n.upper() for n in names if n}:
            return code
    raise InputError(f"unknown currency '{text}'; use one of {', '.join(rates())} "
                     "(add a row to an fx*.csv catalog file for another)")


def parse_money(text: str) -> Money:
    """A price per device-hour with an optional currency: ``'¥15/h'``, ``'CNY 15/h'``,
    ``'15 CNY/h'``, ``'€2/h'``, ``'$60/day'``, ``'2.5'`` (dollars). Returns per hour."""
    s = str(text).strip().replace(",", "")
    if s.startswith("-") or "$-" in s:
        raise InputError(f"a price must be positive, got '{text}'")
    m = re.fullmatch(r"([^\d\s.]*)\s*" + _NUM + r"\s*([^\d\s/]*)\s*(?:/\s*([a-zA-Z]+))?", s)
    if not m:
        raise InputError(f"cannot read '{text}' as a price; write it like '$2.5/h', "
                         "'¥15/h', 'CNY 15/h' or '€2/h'")
    pre, num, post, per = m.groups()
    if pre and post:
        raise InputError(f"price '{text}' names its currency twice; write '¥15/h' or "
                         "'15 CNY/h'")
    unit = (pre or post or "USD").strip()
    per_key = per.lower() if per else None
    if per_key not in _PER_HOURS:
        raise InputError(f"cannot read '{text}' as a price; write it like '$2.5/h', "
                         f"'¥15/h' or '$60/day' (the time unit '/{per}' is not /h, /day or "
                         "/month)")
    amount = float(num) / _PER_HOURS[per_key]
    if not math.isfinite(amount):
        raise InputError(f"a price must be a finite number, got '{text}'")
    return Money(amount=amount, currency=currency_code(unit))


def to_usd(amount: float, currency: str) -> float:
    return amount * rates()[currency_code(currency)].usd_per_unit


def from_usd(usd: float, currency: str) -> float:
    return usd / rates()[currency_code(currency)].usd_per_unit


def rate_note(currency: str) -> str:
    """``'1 CNY = $0.1393 (2025-06-30; PBOC ...)'``: said wherever a converted amount is."""
    r = rates()[currency_code(currency)]
    return f"1 {r.currency} = ${r.usd_per_unit:g} ({r.date or 'undated'}; {r.source})"


def format_money(usd: float, currency: str = "USD") -> str:
    """A US-dollar amount shown in ``currency``: ``'$1.28M'``, ``'¥9.2M'``, ``'€37,000'``
    (the digits of :func:`suanli.units.format_money`, in that currency's symbol)."""
    from suanli.units import format_money as units_format_money

    code = currency_code(currency)
    return units_format_money(from_usd(usd, code), rates()[code].symbol or code + " ")


def price_for(system: System, accelerator: Accelerator,
              user_usd: float | None = None, user_text: str | None = None) -> PriceChoice | None:
    """The price a plan on ``system`` is costed at (order in the module docstring), or None
    when no price is known anywhere."""
    if user_usd is not None:
        return PriceChoice(user_usd, f"your --price {user_text or format_money(user_usd)}")
    if system.price_usd_per_device_hour:
        return PriceChoice(system.price_usd_per_device_hour,
                           f"{system.id} catalog price (systems.csv)")
    if accelerator.price_usd_per_hour:
        return PriceChoice(accelerator.price_usd_per_hour,
                           f"{accelerator.price_source or accelerator.id} (accelerators.csv)")
    from suanli.catalog.loader import load_prices

    rows = [p for p in load_prices() if p.accelerator == accelerator.id and p.kind == "on-demand"]
    if not rows:
        return None
    best = min(rows, key=lambda p: to_usd(p.price, p.currency))
    sym = rates()[currency_code(best.currency)].symbol or best.currency + " "
    return PriceChoice(to_usd(best.price, best.currency),
                       f"{best.provider} {sym}{best.price:g}/h ({best.date}, {best.quality}; "
                       "prices.csv)")


def parse_amount(text: str, *, what: str = "--budget") -> float:
    """An amount of money in US dollars: ``'$1.5M'``, ``'¥10M'``, ``'CNY 2,000,000'``,
    ``'€500k'``, ``'250000'`` (dollars)."""
    from suanli.units import parse_count

    s = str(text).strip().replace(",", "")
    if "-" in s:
        raise InputError(f"{what} must be positive, got '{text}'")
    m = re.fullmatch(r"([^\d\s.]*)\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?\s*[kKmMbBtT]?)"
                     r"\s*([A-Za-z]{3}|[^\d\s\w]*)?", s)
    if not m:
        raise InputError(f"cannot read '{text}' as {what}; write it like '$1.5M', '¥10M' or "
                         "'EUR 500k'")
    pre, num, post = m.group(1), m.group(2), m.group(3) or ""
    if pre and post:
        raise InputError(f"{what} '{text}' names its currency twice; write '¥10M' or '10M CNY'")
    value = parse_count(num.replace(" ", ""), what=what)
    if value <= 0:
        raise InputError(f"{what} must be positive, got '{text}'")
    return to_usd(value, (pre or post or "USD").strip())
