"""Links (distance defaults, known hub links) and device-hour prices (owned TCO)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.errors import InputError
from suanli.network.links import (
    default_bandwidth_gbps,
    default_latency_ms,
    haversine_km,
    link,
)
from suanli.network.pricing import HOURS_PER_YEAR, device_hour_price, device_power_w, owned_price


def test_haversine_known_distance() -> None:
    # Beijing - Shanghai great-circle distance is about 1,070 km
    assert haversine_km(39.90, 116.41, 31.23, 121.47) == pytest.approx(1068, rel=0.02)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * 6371.0, rel=1e-9)


@given(st.floats(0, 20000), st.floats(0, 20000))
def test_defaults_are_monotone_in_distance(d1: float, d2: float) -> None:
    lo, hi = sorted((d1, d2))
    assert default_latency_ms(lo) <= default_latency_ms(hi)
    assert default_bandwidth_gbps(lo) >= default_bandwidth_gbps(hi)


def test_known_hub_link_and_transfer_time(net) -> None:
    lk = link(net, "cn-yrd-demo-zone", "cn-zhongwei")
    assert lk.latency_ms == 20.0 and lk.basis.startswith("known")
    # 1 TB at 100 Gb/s = 80 s, plus one latency
    assert lk.transfer_s(1e12) == pytest.approx(80.0 + 0.020)
    assert lk.transfer_usd(1e12) == pytest.approx(1000 * lk.egress_usd_per_gb)
    back = link(net, "cn-zhongwei", "cn-yrd-demo-zone")
    assert back.latency_ms == lk.latency_ms and back.distance_km == pytest.approx(lk.distance_km)


def test_city_reaches_a_west_hub_through_its_hub(net) -> None:
    lk = link(net, "shanghai", "cn-zhongwei")
    assert lk.latency_ms == pytest.approx(5.0 + 20.0)
    assert "2 hops" in lk.basis


def test_default_link_is_labelled_and_unknown_place_errors(net) -> None:
    lk = link(net, "new-york", "aws:eu-west-1")
    assert "default" in lk.basis and lk.bandwidth_gbps == 2.0
    assert link(net, "beijing", "beijing").transfer_s(1e15) == 0.0
    with pytest.raises(InputError, match="unknown place 'pekingg'"):
        link(net, "pekingg", "cn-zhongwei")


def test_owned_price_terms_follow_their_inputs(net) -> None:
    site = net.site("cn-zhongwei")
    item = next(i for i in site.inventory if i.owned is not None)
    base = owned_price(item, site)
    assert base.usd_per_device_hour == pytest.approx(base.capex + base.energy + base.ops)
    assert item.owned is not None
    assert base.capex * item.owned.lifetime_years * HOURS_PER_YEAR * item.owned.utilization \
        == pytest.approx(item.owned.capex_usd_per_device)
    # one more cent per kWh adds exactly power x PUE x 0.01 dollars per device-hour
    dearer = site.model_copy(update={"electricity_usd_per_kwh":
                                     site.electricity_usd_per_kwh + 0.01})
    power = device_power_w(item.hardware)
    assert power is not None
    assert owned_price(item, dearer).usd_per_device_hour - base.usd_per_device_hour == \
        pytest.approx(power / 1000 * site.pue * 0.01)
    # halving utilization doubles the capital term
    half = item.model_copy(update={"owned": item.owned.model_copy(
        update={"utilization": item.owned.utilization / 2})})
    assert owned_price(half, site).capex == pytest.approx(2 * base.capex)


def test_rented_and_spot_prices(net) -> None:
    site = net.site("aws:us-east-1")
    item = next(i for i in site.inventory if i.hardware == "aws-p5")
    assert device_hour_price(item, site).usd_per_device_hour == item.on_demand_usd_per_device_hour
    assert device_hour_price(item, site, spot=True).usd_per_device_hour == \
        item.spot_usd_per_device_hour
    lam = next(s for s in net.sites.values() if s.provider == "lambda")
    with pytest.raises(InputError, match="no spot price"):
        device_hour_price(lam.inventory[0], lam, spot=True)
