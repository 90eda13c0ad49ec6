"""Data locality at the broker: a job's input dataset has a place; moving it costs the link's
time and the sender's egress (suanli.federation.locality), and placement counts both."""

from __future__ import annotations

from typing import Any

import numpy as np

from .conftest import FED, Broker


def _descriptor(name: str, lat: float, lon: float, egress: float) -> dict[str, Any]:
    return {"id": name, "name": f"{name} centre", "provider": "test", "kind": "ai_centre",
            "country": "China", "location": {"lat": lat, "lon": lon}, "pue": 1.3,
            "egress_usd_per_gb": egress,
            "inventory": [{"hardware": "H100", "count": 8,
                           "on_demand_usd_per_device_hour": 2.0}]}


def _join(b: Broker, name: str, lat: float, lon: float, egress: float, price: float) -> None:
    r = b.site(name, "/register", {"cpus": 4, "engine": "subprocess",
                                   "descriptor": _descriptor(name, lat, lon, egress)})
    assert r.status_code == 200, r.text
    assert b.beat(name, cpus=4, price=price).status_code == 200


def _site_of(b: Broker, job: str) -> str:
    j = b.wait("alpha", job, lambda j: j["state"] in ("queued", "running", "failed"))
    assert j["state"] == "queued", j
    return str(j["site"])


def test_data_locality_changes_the_chosen_site(broker: Broker) -> None:
    # east holds the data (Wuhan, $0.09/GB egress); west (Chengdu, ~1,000 km) is 10% cheaper
    # per CPU-hour; north is far away (Harbin) and dearer
    _join(broker, "east", 30.59, 114.31, egress=0.09, price=1.0)
    _join(broker, "west", 30.66, 104.07, egress=0.0, price=0.9)
    _join(broker, "north", 45.8, 126.5, egress=0.0, price=1.5)
    plain = broker.submit("alpha", predicted_duration_s=3600)
    assert _site_of(broker, plain) == "west"  # no data: the cheapest price wins

    # 2 TB at east: moving it costs $180 of egress and ~27 min at 10 Gb/s, far more than
    # the $0.10 saved on an hour of one CPU at west: the job stays with its data
    big = broker.submit("alpha", predicted_duration_s=3600,
                        input={"location": "east", "gb": 2000})
    assert _site_of(broker, big) == "east"
    # 1 MB at east: moving it costs a hundredth of a cent, so the cheaper site still wins
    small = broker.submit("alpha", predicted_duration_s=3600,
                          input={"location": "east", "gb": 0.001})
    assert _site_of(broker, small) == "west"
    # the input is stored with the job and shown to its tenant
    assert broker.job("alpha", big)["input"] == {"location": "east", "gb": 2000}
    assert broker.job("alpha", plain)["input"] is None


def test_equal_bills_go_to_the_site_that_holds_the_data_and_cities_are_places(
        broker: Broker) -> None:
    # no egress anywhere, equal prices: only the time to move the data differs
    _join(broker, "east", 30.59, 114.31, egress=0.0, price=0.0)
    _join(broker, "west", 30.66, 104.07, egress=0.0, price=0.0)
    job = broker.submit("alpha", input={"location": "west", "gb": 500})
    assert _site_of(broker, job) == "west"
    # data in a city: the nearer site is the faster one (Chengdu is west's city)
    job = broker.submit("alpha", input={"location": "chengdu", "gb": 500})
    assert _site_of(broker, job) == "west"


def test_a_bad_input_is_refused_with_the_field_and_nothing_is_stored(broker: Broker) -> None:
    _join(broker, "east", 30.59, 114.31, egress=0.09, price=1.0)
    h = broker.tenants["alpha"]
    base = {"name": "t", "kind": "command", "command": "true"}
    for bad, words in (({"location": "atlantis", "gb": 1}, "input.location: unknown place"),
                       ({"location": "east", "gb": -1}, "greater than or equal to 0"),
                       ({"location": "east"}, "gb"),
                       ({"location": "east", "gb": 1, "x": 1}, "x")):
        r = broker.client.post("/api/v1/jobs", json={**base, "input": bad}, headers=h)
        assert r.status_code == 422, r.text
        assert words in r.text, r.text
    assert broker.client.get("/api/v1/jobs", headers=h).json()["count"] == 0
    r = broker.client.post("/api/v1/jobs", json={**base, "input": {"location": "atlantis",
                                                                  "gb": 1}}, headers=h)
    assert "Federated sites: east" in r.json()["detail"]  # the names it would take
    assert broker.client.get(FED + "/sites", headers=h).status_code == 200


def test_bill_and_rank_follow_the_links_the_quotes_use() -> None:
    from suanli.federation.locality import bills, move_link, moves, rank
    from suanli.network.links import link
    from suanli.network.sites import load_network

    net = load_network()
    a, b = sorted(net.sites)[:2]
    lk = move_link(net, a, b)
    assert lk == link(net, a, b)  # the quotes' link, unchanged
    secs, usd = moves([lk, move_link(net, a, a)], 1e12)
    assert secs[0] == lk.transfer_s(1e12) > 0 and usd[0] == lk.transfer_usd(1e12)
    assert secs[1] == 0 and usd[1] == 0  # where the data is
    unknown = move_link(net, a, "no-such-site")
    assert unknown.basis.startswith("unknown") and unknown.transfer_s(1e12) > secs[0] * 0
    bill = bills(np.array([1.0, 2.0]), np.array([3600.0, 0.0]), np.array([5.0, 0.0]), 3600.0)
    assert np.allclose(bill, [1.0 * 2 + 5.0, 2.0])
    assert rank(np.array([2.0, 1.0, 1.0]), np.array([0.0, 5.0, 1.0])).tolist() == [2, 1, 0]
    assert rank(np.array([1.0, 1.0]), np.array([1.0, 1.0])).tolist() == [0, 0]
