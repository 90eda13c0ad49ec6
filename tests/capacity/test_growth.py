"""suanli.capacity.growth: the doubling arithmetic, devices per quarter, costs and run-out."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.capacity.growth import (
    HOURS_PER_QUARTER,
    Unit,
    parse_doubling,
    parse_factor,
    project,
    runout_months,
    yearly_factor,
)
from suanli.errors import InputError

UNIT = Unit("X", throughput=100.0, power_w=1000.0, rent_per_hour=2.0, buy_price=20_000.0)


def test_doubling_every_3_4_months_is_about_11_6_a_year() -> None:
    g = yearly_factor(parse_doubling("3.4mo"))
    assert g == pytest.approx(2 ** (12 / 3.4))
    assert 11.4 < g < 11.7  # the "x11.6 per year"
    assert yearly_factor(parse_doubling("1y")) == pytest.approx(2.0)
    assert parse_doubling("6 months") == 6.0 and parse_doubling("26w") == pytest.approx(
        6.0, rel=0.01)


@pytest.mark.parametrize("text", ["", "fast", "-3mo", "3.4 parsecs"])
def test_bad_doubling_says_how(text: str) -> None:
    with pytest.raises(InputError, match=r"3\.4mo"):
        parse_doubling(text)


def test_parse_factor() -> None:
    assert parse_factor("11.6x") == 11.6 and parse_factor("2") == 2.0
    assert parse_factor("+150%") == 2.5
    with pytest.raises(InputError, match=r"11\.6x"):
        parse_factor("lots")


def test_quarters_follow_the_growth_and_cost_terms_add_up() -> None:
    g = yearly_factor(3.4)
    qs = project(1000.0, g, UNIT, years=1, rho=1.0, pue=1.5, usd_per_kwh=0.1, life_years=1)
    assert [q.quarter for q in qs] == [0, 1, 2, 3, 4]
    assert qs[-1].growth == pytest.approx(g)
    for q in qs:
        assert q.devices == math.ceil(q.demand / 100.0 - 1e-9)
        assert q.megawatts == pytest.approx(q.devices * 1000.0 * 1.5 / 1e6)
        assert q.rent_usd == pytest.approx(q.devices * 2.0 * HOURS_PER_QUARTER)
        assert q.buy_usd == pytest.approx(q.depreciation_usd + q.power_usd)
    # every device is bought once; capex sums to the fleet at the end
    assert sum(q.capex_usd for q in qs) == pytest.approx(qs[-1].devices * 20_000.0)
    # life of one year = 4 quarters: the devices bought today are fully written off by q3
    assert qs[0].depreciation_usd == pytest.approx(qs[0].devices * 20_000.0 / 4)


def test_runout_solves_the_exponential() -> None:
    g = yearly_factor(3.4)
    m = runout_months(100.0, g, 100.0 * g)  # a fleet 11.5x today's demand lasts one year
    assert m == pytest.approx(12.0)
    assert runout_months(100.0, g, 50.0) < 0
    assert runout_months(100.0, 1.0, 200.0) == math.inf


@given(st.floats(1.01, 100.0), st.floats(1.0, 1e6))
def test_devices_never_shrink_when_demand_grows(g: float, d0: float) -> None:
    qs = project(d0, g, UNIT, years=2)
    assert all(b.devices >= a.devices for a, b in itertools.pairwise(qs))
    assert all(q.new_devices >= 0 for q in qs)


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="--years"):
        project(1.0, 2.0, UNIT, years=0)
    with pytest.raises(InputError, match="--pue"):
        project(1.0, 2.0, UNIT, pue=0.9)
