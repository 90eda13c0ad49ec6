"""Site prices for placed jobs: the network's device-hour prices, chosen by hardware."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.network.sites import load_network
from suanli.service.models import Job
from suanli.service.netview import job_price, site_gpu_price


@pytest.fixture(scope="module")
def net():
    return load_network(registry=Path("/nonexistent-suanli-registry"))


def test_prices_by_hardware_and_unknowns(net):
    multi = [s for s in net.sites.values() if len({i.hardware for i in s.inventory}) > 1]
    assert multi, "the built-in network has sites with several hardware types"
    for site in multi[:10]:
        cheapest = site_gpu_price(net, site.id, None)
        assert cheapest is not None and cheapest > 0
        for item in site.inventory:
            # a hardware filter picks from a subset, so it is never cheaper than any line
            assert site_gpu_price(net, site.id, item.hardware) >= cheapest
    assert site_gpu_price(net, "no-such-site", None) is None
    assert site_gpu_price(net, multi[0].id, "no-such-accelerator-xyz") is None


def test_job_price_is_linear_in_resources():
    job = Job(cpus=4.0, gpus=8.0)
    assert job_price(job, 3.0, 0.05, 2.5) == pytest.approx(4 * 0.05 + 8 * 3.0)
    assert job_price(job, None, 0.05, 2.5) == pytest.approx(4 * 0.05 + 8 * 2.5)
