"""Option building and quotes: with a duration table passed in (the seam), and end to end
with the real perf and serving models."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from suanli.errors import InfeasibleError, NotFoundError
from suanli.network.jobs import Filters, parse_job
from suanli.network.links import link
from suanli.network.option_terms import spot_waste
from suanli.network.options import build_table, table_run
from suanli.network.quote import quote

DAY = 86400.0


def _job(**kw: object):
    raw = {"id": "j", "model": "llama3-8b", "tokens": "100B", **kw}
    return parse_job(raw)


def _runs(seconds_at_64: float = 10 * DAY) -> table_run:
    """Perfect scaling from 64 devices, for every system: an input table, not a model."""
    from suanli.network.sites import load_network

    systems = {i.hardware for s in load_network().sites.values() for i in s.inventory}
    return table_run({("j", hw, n): seconds_at_64 * 64 / n for hw in systems
                      for n in (8, 16, 32, 64, 128, 256, 512, 1024, 2048)})


def test_time_includes_transfer_and_cost_is_price_times_device_hours(net) -> None:
    job = _job(data_size="50TB", data_location="shanghai")
    t = build_table(net, [job], run_fn=_runs(), filters=Filters(countries=("China",)))
    assert t.n_options > 0 and t.transfer_s is not None and t.price is not None
    assert t.run_s is not None and t.transfer_usd is not None
    assert np.allclose(t.time_s, t.transfer_s + t.run_s)
    assert np.allclose(t.cost_usd, t.devices * t.run_s / 3600 * t.price + t.transfer_usd)
    k = int(np.flatnonzero(np.array(t.resource_names)[t.resource] == "cn-zhongwei/hgx-h20")[0])
    assert t.transfer_s[k] == pytest.approx(link(net, "shanghai", "cn-zhongwei")
                                            .transfer_s(50e12))


def test_deadline_and_budget_filter_and_explain(net) -> None:
    runs = _runs()
    t = build_table(net, [_job(deadline="3d")], run_fn=runs)
    assert t.n_options > 0 and (t.time_s <= 3 * DAY).all()
    t = build_table(net, [_job(deadline="6h")], run_fn=runs)
    assert t.n_options == 0
    assert "infeasible deadline" in t.unplaceable["j"][0]
    t = build_table(net, [_job(budget=1)], run_fn=runs)
    assert t.n_options == 0 and "budget" in t.unplaceable["j"][0]


def test_spot_offers_are_cheaper_but_slower(net) -> None:
    t = build_table(net, [_job(spot=True)], run_fn=_runs(),
                    filters=Filters(sites=("aws:us-east-1",), hardware=("aws-p5",)))
    assert t.spot is not None and t.spot.any() and (~t.spot).any()
    rate = next(i for i in net.site("aws:us-east-1").inventory
                if i.hardware == "aws-p5").spot_preemptions_per_hour
    on, sp = ~t.spot & (t.devices == 8), t.spot & (t.devices == 8)
    assert t.cost_usd[sp][0] < t.cost_usd[on][0]
    assert t.time_s[sp][0] == pytest.approx(t.time_s[on][0] * (1 + spot_waste(rate)))
    # a job on m nodes is preempted m times as often; past doubling the run, no spot offer
    multi = [n for n in (16, 32, 64, 128) if spot_waste(rate * n / 8) >= 1.0]
    assert multi and not (t.spot & np.isin(t.devices, multi)).any()
    none = build_table(net, [_job(spot=True)], run_fn=_runs(),
                       filters=Filters(sites=("aws:us-east-1",), spot=False))
    assert none.spot is not None and not none.spot.any()


def test_filters_and_carbon_cap(net) -> None:
    t = build_table(net, [_job()], run_fn=_runs(), filters=Filters(providers=("gcp",),
                                                                   hardware=("H100",)))
    names = {t.resource_names[r] for r in t.resource}
    assert names and all(n.startswith("gcp:") and n.endswith("/dgx-h100") for n in names)
    capped = build_table(net, [_job()], run_fn=_runs(), filters=Filters(carbon_cap_kg=200))
    assert capped.n_options > 0 and (capped.co2_kg <= 200).all()  # unknown (NaN) excluded
    tight = build_table(net, [_job()], run_fn=_runs(), filters=Filters(carbon_cap_kg=1))
    assert tight.n_options == 0 and "carbon cap" in tight.unplaceable["j"][0]
    with pytest.raises(NotFoundError, match="unknown hardware"):
        build_table(net, [_job()], run_fn=_runs(), filters=Filters(hardware=("H900",)))


def test_quote_ranks_and_says_why_when_empty(net) -> None:
    offers = quote(net, _job(), run_fn=_runs(), top=30)
    costs = [o.cost_usd for o in offers]
    assert costs == sorted(costs)
    fast = quote(net, _job(), run_fn=_runs(), rank="time", top=5)
    assert fast[0].total_s <= offers[0].total_s
    with pytest.raises(InfeasibleError, match=r"fastest offer takes .* > deadline 1 h"):
        quote(net, _job(deadline="1h"), run_fn=_runs())


# --- end to end with the real models ------------------------------------------------------


def test_training_quote_with_the_perf_model(net) -> None:
    job = _job(tokens="50B", deadline="20d", data_size="10TB", data_location="beijing")
    offers = quote(net, job, filters=Filters(countries=("China",)), top=50)
    assert offers
    for o in offers:
        assert o.country == "China" and o.total_s <= 20 * DAY
        compute = o.devices * o.run_s / 3600 * o.usd_per_device_hour
        assert compute <= o.cost_usd <= compute + 10e3 * 0.12 + 1e-6  # 10 TB at <= $0.12/GB
        assert o.energy_kwh > 0 and "tp=" in o.plan
    # more devices of the same hardware at the same site finish sooner
    same = sorted((o for o in offers if (o.site, o.hardware) == (offers[0].site,
                                                                  offers[0].hardware)),
                  key=lambda o: o.devices)
    assert all(a.run_s > b.run_s for a, b in itertools.pairwise(same))


def test_inference_quote_respects_the_latency_slo(net) -> None:
    job = parse_job({"id": "s", "kind": "infer", "model": "llama3-8b", "traffic": 2000,
                     "ttft_slo": "60ms", "tpot_slo": "60ms", "user_regions": ["beijing"]})
    offers = quote(net, job, top=None)
    assert offers
    for o in offers:
        rtt = link(net, o.site, "beijing").rtt_s
        assert rtt < 0.060
        assert o.transfer_s == pytest.approx(rtt)
    # a far site cannot serve Beijing users within 60 ms
    assert all(not o.site.startswith(("aws:us", "gcp:us", "lambda:us")) for o in offers)
    relaxed = quote(net, job.model_copy(update={"ttft_slo_s": 2.0}), top=None)
    assert len(relaxed) > len(offers)
    assert not math.isnan(relaxed[0].cost_usd)
