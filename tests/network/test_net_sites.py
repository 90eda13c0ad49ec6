"""The built-in network against the shared source files it was generated from."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from suanli.network.data.build import build
from suanli.network.sites import DATA_DIR, UnknownSiteError, builtin_sites


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def test_network_has_every_kind_and_validates(net) -> None:
    kinds = {s.kind for s in net.sites.values()}
    assert {"cloud_region", "ai_centre", "enterprise", "edge"} <= kinds
    assert all(s.inventory for s in net.sites.values())
    assert len(net) >= 60


def test_generated_files_are_up_to_date(shared_dir: Path) -> None:
    """Re-running the documented build gives exactly the packaged rows."""
    sites, inv = build(shared_dir)
    assert [s["id"] for s in sites] == [r["id"] for r in _rows(DATA_DIR / "sites.csv")]
    packaged = _rows(DATA_DIR / "inventory.csv")
    assert len(inv) == len(packaged)
    for new, old in zip(inv, packaged, strict=True):
        assert (new["site"], new["hardware"]) == (old["site"], old["hardware"])
        assert str(new.get("on_demand_usd_per_device_hour", "")) == \
            old["on_demand_usd_per_device_hour"]


def test_cloud_prices_come_from_the_skypilot_rows(net, shared_dir: Path) -> None:
    aws = _rows(shared_dir / "data/catalogs/skypilot/aws_vms_gpu_subset.csv")
    p5 = [float(r["Price"]) / 8 for r in aws
          if r["InstanceType"] == "p5.48xlarge" and r["Region"] == "us-east-1"]
    item = next(i for i in net.site("aws:us-east-1").inventory if i.hardware == "aws-p5")
    assert item.on_demand_usd_per_device_hour == pytest.approx(min(p5), rel=1e-4)
    assert item.spot_usd_per_device_hour is not None
    assert item.spot_usd_per_device_hour < item.on_demand_usd_per_device_hour
    # GCP: host VM + accelerator rows of one zone, divided by 8 devices
    gcp = _rows(shared_dir / "data/catalogs/skypilot/gcp_vms_gpu_subset.csv")
    zone = "us-central1-a"
    host = [float(r["Price"]) for r in gcp if r["InstanceType"] == "a3-highgpu-8g"
            and r["AvailabilityZone"].startswith("us-central1")]
    acc = [float(r["Price"]) for r in gcp if r["AcceleratorName"] == "H100"
           and r["AcceleratorCount"] == "8" and r["AvailabilityZone"].startswith("us-central1")]
    assert host and acc, zone
    item = next(i for i in net.site("gcp:us-central1").inventory if i.hardware == "dgx-h100")
    assert item.on_demand_usd_per_device_hour == pytest.approx((min(host) + min(acc)) / 8,
                                                               rel=1e-3)


def test_every_gpu_region_of_the_catalog_is_a_site(net, shared_dir: Path) -> None:
    sky = shared_dir / "data/catalogs/skypilot"
    for prov, fname in (("aws", "aws_vms_gpu_subset.csv"), ("lambda", "lambda_vms_gpu_subset.csv"),
                        ("nebius", "nebius_vms_gpu_subset.csv"), ("verda", "verda_vms.csv")):
        regions = {r["Region"].lower() for r in _rows(sky / fname)}
        missing = {r for r in regions if f"{prov}:{r}" not in net.sites}
        assert not missing, (prov, missing)


def test_hub_numbers_match_the_reference_file(net, shared_dir: Path) -> None:
    ref = {r["region"]: r for r in _rows(shared_dir / "data/reference/sites.csv")}
    hubs = [s for s in net.sites.values() if s.kind == "ai_centre"]
    assert len(hubs) == 10
    assert {s.role for s in hubs} == {"east", "west"}
    for s in hubs:
        r = ref[s.id]
        assert s.pue == float(r["pue"])
        assert s.carbon_g_per_kwh == float(r["carbon_g_per_kwh"])
        assert s.electricity_usd_per_kwh == float(r["electricity_usd_per_kwh"])
        assert all(i.example and "EXAMPLE" in i.count_basis for i in s.inventory)


def test_carbon_of_cloud_regions_is_google_data(net, shared_dir: Path) -> None:
    google = {r["Google Cloud Region"]: float(r["Grid carbon intensity (gCO2eq / kWh)"])
              for r in _rows(shared_dir / "data/catalogs/google_region_carbon/2024.csv")}
    for s in net.sites.values():
        if s.provider == "gcp":
            assert s.carbon_g_per_kwh == google[s.region]
    assert net.site("aws:eu-west-1").carbon_g_per_kwh is None  # unknown stays unknown


def test_unknown_site_suggests(net) -> None:
    with pytest.raises(UnknownSiteError, match="Did you mean: cn-zhongwei"):
        net.site("cn-zhongwie")
    assert builtin_sites() is builtin_sites()  # parsed once
