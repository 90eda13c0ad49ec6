"""Quotes that cannot mislead: fictional sites left out unless asked and marked when shown, spot
only for machine shapes the provider sells, serving on whole machines, and spot risk even when
a site declares no preemption rate."""

from __future__ import annotations

import csv
import math
import re

import numpy as np
import pytest
import yaml

from suanli.catalog import load_catalog
from suanli.network.descriptor import parse_descriptor
from suanli.network.jobs import Filters, parse_job
from suanli.network.option_terms import spot_waste
from suanli.network.options import build_table
from suanli.network.quote import quote
from suanli.network.resources import DEFAULT_PREEMPTIONS_PER_HOUR
from suanli.network.sites import DATA_DIR, Network, check_hardware

from .conftest import EXAMPLES
from .test_net_options_quote import _job, _runs

SKY = DATA_DIR.parents[4] / "shared" / "data" / "catalogs" / "skypilot"


def test_example_sites_are_left_out_unless_asked(net) -> None:
    fictional = {s.id for s in net.sites.values() if s.example}
    assert {s for s in fictional if s.startswith("ref-")} and all(
        s.startswith(("ref-", "edge-")) for s in fictional)
    job = _job(tokens="50B", deadline="30d")
    offers = quote(net, job, run_fn=_runs(), top=None)
    assert offers and not any(o.site in fictional or o.example_site for o in offers)
    everything = quote(net, job, run_fn=_runs(), top=None,
                       filters=Filters(include_examples=True))
    shown = [o for o in everything if o.site in fictional]
    assert shown and all(o.example_site for o in shown)
    # naming a fictional site explicitly is asking for it
    named = quote(net, job, run_fn=_runs(), filters=Filters(sites=("ref-us-east-1",)))
    assert named and all(o.example_site for o in named)


def test_text_tables_mark_example_sites() -> None:
    from typer.testing import CliRunner

    from suanli.cli.main import app

    res = CliRunner().invoke(app, ["net", "sites", "--kind", "enterprise"])
    assert res.exit_code == 0, res.output
    assert "(example)" in res.output and "fictional" in res.output


def _devices_per_instance() -> dict[str, int]:
    """Independent reading of the raw price files: accelerators per instance type (GCP host
    rows carry no count; their names end in -<n>g)."""
    out: dict[str, int] = {}
    for path in SKY.glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(line for line in fh if not line.startswith("#")):
                inst, count = r.get("InstanceType") or "", r.get("AcceleratorCount") or ""
                if inst and count:
                    out[inst] = int(float(count))
                elif inst and re.search(r"-(\d+)g$", inst):
                    out[inst] = int(re.search(r"-(\d+)g$", inst).group(1))  # type: ignore
    return out


@pytest.mark.skipif(not SKY.is_dir(), reason="needs ../shared/data/catalogs/skypilot")
def test_spot_only_for_shapes_the_catalog_sells(net) -> None:
    """Every built-in spot price comes from instances that are whole machines of its system
    (checked against the raw files, not the build script's logic)."""
    cat = load_catalog()
    sizes = _devices_per_instance()
    checked = 0
    for site in net.sites.values():
        for item in site.inventory:
            if item.spot_usd_per_device_hour is None or item.owned is not None:
                continue
            assert "whole-machine rows (" in item.source, (site.id, item.hardware)
            node = cat.system(item.hardware).devices_per_node
            insts = item.source.split("whole-machine rows (")[1].split(")")[0].split("|")
            for inst in insts:
                if item.hardware.startswith("tpu"):
                    continue  # TPU slices are named by chips, not instances
                assert sizes[inst] % node == 0, (site.id, item.hardware, inst, sizes[inst])
                checked += 1
    assert checked > 50
    # the case from the issue: spot B200 existed at Verda only as 1-4 GPU machines
    verda = {i.hardware: i for i in net.site("verda:fin-03").inventory}
    assert verda["hgx-b200"].spot_usd_per_device_hour is None


def test_serving_rents_whole_machines(net) -> None:
    job = parse_job({"id": "s", "kind": "infer", "model": "llama3-70b", "traffic": 300,
                     "ttft_slo": "2s", "tpot_slo": "80ms", "user_regions": ["frankfurt"]})
    t = build_table(net, [job])
    assert t.n_options > 0 and t.price is not None and t.plan is not None
    cat = load_catalog()
    rented = False
    for k in range(t.n_options):
        hw = t.resource_names[int(t.resource[k])].split("/", 1)[1]
        node = cat.system(hw).devices_per_node
        assert t.devices[k] % node == 0, (hw, t.devices[k], t.plan[k])  # whole machines held
        assert t.cost_usd[k] == pytest.approx(t.devices[k] * t.price[k] * job.hours)
        serving = int(t.plan[k].split("x", 1)[0])
        assert serving <= t.devices[k] < serving + node
        rented |= "whole machine" in t.plan[k]
    assert rented  # some shape needs a partial machine and is charged the whole of it


def test_spot_without_a_preemption_rate_is_not_risk_free() -> None:
    raw = yaml.safe_load((EXAMPLES / "site.yaml").read_text())
    raw["inventory"] = [{"hardware": "dgx-h100", "count": 64,
                         "on_demand_usd_per_device_hour": 3.0, "spot_usd_per_device_hour": 1.0}]
    site = check_hardware(parse_descriptor(raw))
    assert site.inventory[0].spot_preemptions_per_hour is None
    net = Network({site.id: site})
    job = _job(spot=True)
    t = build_table(net, [job], run_fn=_runs())
    assert t.spot is not None and t.run_s is not None and t.spot.any()
    od = t.run_s[~t.spot & (t.devices == 8)][0]
    sp = t.run_s[t.spot & (t.devices == 8)][0]
    nodes = math.ceil(8 / load_catalog().system("dgx-h100").devices_per_node)
    assert sp / od == pytest.approx(1 + spot_waste(DEFAULT_PREEMPTIONS_PER_HOUR * nodes))
    assert sp > od
    assert np.isfinite(t.cost_usd).all()
