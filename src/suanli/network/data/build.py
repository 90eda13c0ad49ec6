"""Regenerate the built-in network files (sites, inventory, links) from the shared catalogs.

Run from the repository root (the shared data folder sits beside it)::

    .venv/bin/python src/suanli/network/data/build.py [--shared ../shared]

Inputs (read only):
  - ``shared/data/catalogs/skypilot/*.csv``: real instance prices, on-demand and spot (SkyPilot
    catalog v8 snapshot); one site per (provider, region) that offers a GPU/TPU the Suanli catalog
    knows. Price per device-hour = row price / devices in the row; the minimum over rows and zones
    is the on-demand price, the median over zones the spot price (spot/on-demand outside
    (0.1, 1.0) is dropped as a source quirk, see the catalog README).
  - ``shared/data/reference/sites.csv``: China's "East Data, West Compute" hub clusters
    (electricity, PUE, carbon) and US/EU reference regions (electricity, PUE).
  - ``shared/data/catalogs/google_region_carbon/2024.csv``: grid carbon intensity per region.
  - ``locations.csv`` (this folder, hand written): coordinates and carbon proxies.

Hub and edge inventories and owned-cost parameters are EXAMPLES (nobody publishes them); every
such row says so in ``count_basis`` and ``source``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SKY = "data/catalogs/skypilot"
SKY_NOTE = "skypilot catalog v8 snapshot (shared/data/catalogs/skypilot)"

# (provider, accelerator name in the catalog row) -> Suanli system id; None = skip (not in catalog)
GENERIC = {"A100": "dgx-a100-40gb", "A100-40GB": "dgx-a100-40gb", "A100-80GB": "dgx-a100-80gb",
           "H100": "dgx-h100", "H100-MEGA": "dgx-h100", "H200": "hgx-h200", "B200": "hgx-b200",
           "L40S": "l40s-server", "A10": "a10-server", "V100-32GB": "v100-dgx1"}
AWS = {"p3dn.24xlarge": "v100-dgx1", "p4d.24xlarge": "aws-p4d", "p4de.24xlarge": "aws-p4de",
       "p5.48xlarge": "aws-p5", "p5e.48xlarge": "hgx-h200", "p5en.48xlarge": "hgx-h200",
       "p6-b200.48xlarge": "hgx-b200"}
GCP_HOST = {("A100", n): f"a2-highgpu-{n}g" for n in (1, 2, 4, 8)} | {
    ("A100", 16): "a2-megagpu-16g", ("H100", 8): "a3-highgpu-8g",
    ("H100-MEGA", 8): "a3-megagpu-8g", ("H200", 8): "a3-ultragpu-8g",
    ("B200", 8): "a4-highgpu-8g"} | {("A100-80GB", n): f"a2-ultragpu-{n}g" for n in (1, 2, 4, 8)}

# Provider-level defaults. PUE and egress values are labelled with how sure we are.
PROVIDERS: dict[str, dict[str, Any]] = {
    "aws": {"name": "Amazon Web Services", "pue": 1.15,
            "pue_basis": "AWS global PUE 2023 (DCD, re:Invent 2024; "
                         "shared/data/reference/sites.md)",
            "egress": 0.09, "egress_basis": "AWS internet egress first 10 TB/month, $0.09/GB "
            "(AWS EC2 pricing page; from memory, unverified)"},
    "gcp": {"name": "Google Cloud", "pue": 1.1,
            "pue_basis": "Google fleet ~1.1 (DCD; shared/data/reference/sites.md)",
            "egress": 0.12, "egress_basis": "GCP premium-tier internet egress 0-1 TiB, ~$0.12/GB "
            "(GCP network pricing page; from memory, unverified)"},
    "lambda": {"name": "Lambda", "pue": 1.3, "pue_basis": "ASSUMED (no published PUE found)",
               "egress": 0.0, "egress_basis": "Lambda advertises no egress fees (from memory)"},
    "nebius": {"name": "Nebius", "pue": 1.3, "pue_basis": "ASSUMED (no published PUE found)",
               "egress": 0.0, "egress_basis": "ASSUMED free egress (not verified)"},
    "verda": {"name": "Verda (DataCrunch)", "pue": 1.3,
              "pue_basis": "ASSUMED (no published PUE found)", "egress": 0.0,
              "egress_basis": "ASSUMED free egress (not verified)"},
}
TRACE_DIR = "data/traces/skypilot-spot-traces/preemption/1-node/aws-04-22-2023"
TRACE_NOTE = ("preemptions per node-hour MEASURED on AWS p3.2xlarge (V100) spot, Apr 2023 "
              "(Wu et al., NSDI'24 spot traces, shared/data/traces/skypilot-spot-traces): "
              "drops from >=1 to 0 alive per hour alive, median of the region's zones")
ASSUMED_NOTE = ("ASSUMED per node-hour: the median of every measured AWS V100 zone (same "
                "traces); no preemption data for this provider/region")
CLOUD_COUNT = 256  # devices: an example quota, clouds do not publish capacity

# Example owned-cost parameters (USD per device, years, USD per device-hour). NOT sourced prices:
# orders of magnitude from press reports; users replace them in their own site descriptor.
OWNED = {"atlas-800t-a2": 20000.0, "hgx-h20": 15000.0, "hgx-a800": 20000.0,
         "hgx-h800": 35000.0, "dgx-h100": 35000.0, "l40s-server": 12000.0, "l4-server": 4000.0}
OWNED_NOTE = ("EXAMPLE owned cost: capex per device is an order-of-magnitude assumption, 4-year "
              "life, 70% utilisation (the hubs' >=65% target), $0.10/device-h operations")
HUB_INVENTORY = {  # EXAMPLE inventories: role -> [(system, count)]
    "east": [("hgx-h20", 512), ("atlas-800t-a2", 512)],
    "west": [("atlas-800t-a2", 2048), ("hgx-h20", 1024), ("hgx-h800", 256)],
}
WEST = {"cn-horinger", "cn-guian", "cn-qingyang", "cn-zhongwei"}
# US/EU owned reference sites (enterprise/colo) priced with the same TCO formula as the hubs.
REFERENCE_US_EU = {"us-east-1 / us-east4": "gcp:us-east4", "us-central1": "gcp:us-central1",
                   "us-west-2 / us-west1": "gcp:us-west1", "us-south1": "gcp:us-south1",
                   "europe-north1": "gcp:europe-north1", "europe-west3": "gcp:europe-west3"}
EDGE = {"edge-beijing": ("beijing", "cn-zhangjiakou"), "edge-shanghai": ("shanghai",
        "cn-yrd-demo-zone"), "edge-guangzhou": ("guangzhou", "cn-shaoguan")}

SITE_COLS = ["id", "name", "provider", "operator", "kind", "example", "region", "country",
             "lat", "lon",
             "electricity_usd_per_kwh", "electricity_basis", "pue", "pue_basis",
             "carbon_g_per_kwh", "carbon_basis", "egress_usd_per_gb", "egress_basis", "role",
             "hub", "source"]
LINK_COLS = ["a", "b", "bandwidth_gbps", "latency_ms", "egress_usd_per_gb", "source"]
HUB_LINK_NOTE = ("latency: the <=20 ms backbone latency between national hubs reported in 2025 "
                 "(MIIT briefing via reportify.cn; shared/data/reference/sites.md section 3); "
                 "bandwidth: ASSUMED 100 Gb/s available to one job on the inter-hub "
                 "direct-connect network (no published figure); egress: ASSUMED example")
CITY_LINK_NOTE = ("latency: cluster to surrounding cities <=5 ms (same source, sites.md section "
                  "3); bandwidth: ASSUMED 100 Gb/s")
CITY_HUBS = {"beijing": "cn-zhangjiakou", "shanghai": "cn-yrd-demo-zone",
             "hangzhou": "cn-yrd-demo-zone", "guangzhou": "cn-shaoguan",
             "shenzhen": "cn-shaoguan", "chengdu": "cn-tianfu"}
INV_COLS = ["site", "hardware", "count", "count_basis", "example",
            "on_demand_usd_per_device_hour", "spot_usd_per_device_hour", "capex_usd_per_device",
            "lifetime_years", "utilization", "ops_usd_per_device_hour",
            "spot_preemptions_per_hour", "source"]


def node_size(system: str) -> int:
    """Devices per machine of a catalog system (the shape spot prices must come from)."""
    from suanli.catalog import load_catalog

    return int(load_catalog().system(system).devices_per_node)


def preemption_rates(shared: Path) -> tuple[dict[str, float], float]:
    """Per AWS region: preemptions per node-hour from the 1-node traces; and their median."""
    import json

    per_zone: dict[str, list[float]] = defaultdict(list)
    for f in sorted((shared / TRACE_DIR).glob("*.json")):
        d = json.loads(f.read_text())
        x, gap = d["data"], float(d["metadata"]["gap_seconds"])
        drops = sum(1 for a, b in itertools.pairwise(x) if a >= 1 and b == 0)
        alive_h = sum(1 for v in x if v >= 1) * gap / 3600.0
        if alive_h > 0:
            per_zone[f.name.split("_")[0][:-1]].append(drops / alive_h)  # 'us-east-1c' -> region
    rates = {r: statistics.median(v) for r, v in per_zone.items()}
    every = [v for vs in per_zone.values() for v in vs]
    return rates, (statistics.median(every) if every else 0.5)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def _f(x: str | None) -> float | None:
    try:
        return float(x) if x not in (None, "") else None
    except ValueError:
        return None


def _cloud_offers(shared: Path) -> dict[tuple[str, str], dict[str, list[Any]]]:
    """(site id, system) -> {'od': [per-device prices], 'spot': [...], 'inst': [names]}."""
    offers: dict[tuple[str, str], dict[str, list[Any]]] = defaultdict(
        lambda: {"od": [], "spot": [], "inst": [], "spot_inst": []})

    def add(site: str, system: str | None, n: float, price: float | None, spot: float | None,
            inst: str) -> None:
        if system is None or not n or price is None or price <= 0:
            return
        o = offers[(site, system)]  # lists of floats ('od', 'spot') and str ('inst')
        o["od"].append(price / n)
        # spot only from rows that rent whole machines of the system's shape: a training plan
        # runs on whole nodes, and a 1-4 GPU spot VM says nothing about an 8-GPU one
        whole = n >= node_size(system) and n % node_size(system) == 0
        if spot is not None and 0.1 < spot / price < 1.0 and whole:
            o["spot"].append(spot / n)
            o["spot_inst"].append(inst)
        o["inst"].append(inst)

    for r in _read(shared / SKY / "aws_vms_gpu_subset.csv"):
        add(f"aws:{r['Region']}", AWS.get(r["InstanceType"]), float(r["AcceleratorCount"]),
            _f(r["Price"]), _f(r["SpotPrice"]), r["InstanceType"])
    gcp = _read(shared / SKY / "gcp_vms_gpu_subset.csv")
    hosts = {(r["InstanceType"], r["AvailabilityZone"]): r for r in gcp if r["InstanceType"]}
    for r in gcp:
        name, zone = r["AcceleratorName"], r["AvailabilityZone"]
        if r["InstanceType"] or not name:
            continue
        price, spot = _f(r["Price"]), _f(r["SpotPrice"])
        if name.startswith("tpu-v6e-"):
            if price == 700.0:  # GCP placeholder for "not offered here" (catalog README)
                continue
            add(f"gcp:{r['Region']}", "tpu-v6e-pod", float(name.split("-")[-1]), price, spot, name)
            continue
        n = int(r["AcceleratorCount"])
        host = hosts.get((GCP_HOST.get((name, n), ""), zone))
        if host is None or price is None:
            continue
        hp, hs = _f(host["Price"]) or 0.0, _f(host["SpotPrice"]) or 0.0
        add(f"gcp:{r['Region']}", GENERIC.get(name), n, price + hp,
            None if spot is None else spot + hs, host["InstanceType"])
    for prov, fname in (("lambda", "lambda_vms_gpu_subset.csv"),
                        ("nebius", "nebius_vms_gpu_subset.csv"), ("verda", "verda_vms.csv")):
        for r in _read(shared / SKY / fname):
            acc, inst = r["AcceleratorName"], r["InstanceType"]
            if prov == "verda" and acc.startswith("A100-"):
                acc = acc[:9]  # 'A100-80GB-640GB' -> 'A100-80GB'
            system = GENERIC.get(acc)
            if prov == "lambda" and "pcie" in inst:
                system = "h100-pcie-server" if acc == "H100" else None
            if prov == "lambda" and acc == "V100":
                system = None  # Lambda V100 rows are 16 GB parts; the catalog has V100-32GB
            add(f"{prov}:{r['Region']}", system, float(r["AcceleratorCount"]), _f(r["Price"]),
                _f(r["SpotPrice"]), inst)
    return offers


def build(shared: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    data = shared / "data"
    locs = {r["name"]: r for r in _read(HERE / "locations.csv")}
    carbon = {r["Google Cloud Region"]: float(r["Grid carbon intensity (gCO2eq / kWh)"])
              for r in _read(data / "catalogs/google_region_carbon/2024.csv")}
    ref = {r["region"]: r for r in _read(data / "reference/sites.csv")}
    ref_by_gcp = {}
    for key, r in ref.items():
        for part in key.split(" / "):
            ref_by_gcp[part.strip()] = r
    ref_by_gcp["us-west-1"] = ref["us-west2"]  # AWS N. California: sites.csv notes it with CA
    ref_by_gcp["eu-central-1"] = ref["europe-west3"]

    sites: list[dict[str, Any]] = []
    inv: list[dict[str, Any]] = []
    offers = _cloud_offers(shared)
    measured, fallback = preemption_rates(shared)
    for site_id in sorted({s for s, _ in offers}):
        prov, region = site_id.split(":", 1)
        loc, p = locs[site_id], PROVIDERS[prov]
        proxy = loc["carbon_proxy"]
        elec = ref_by_gcp.get(region) or (ref_by_gcp.get(proxy) if prov != "gcp" else None)
        sites.append({
            "id": site_id.lower(), "name": f"{p['name']} {region}", "provider": prov,
            "operator": p["name"], "kind": "cloud_region", "example": "", "region": region,
            "country": loc["country"], "lat": loc["lat"], "lon": loc["lon"],
            "electricity_usd_per_kwh": elec["electricity_usd_per_kwh"] if elec else "",
            "electricity_basis": (f"shared/data/reference/sites.csv row '{elec['region']}': "
                                  f"{elec['electricity_basis']}") if elec else "",
            "pue": p["pue"], "pue_basis": p["pue_basis"],
            "carbon_g_per_kwh": carbon.get(proxy, ""),
            "carbon_basis": ("" if proxy not in carbon else
                             f"Google region-carbon-info 2024 grid intensity of {proxy}"
                             + ("" if prov == "gcp" else " (proxy for this region's grid)")),
            "egress_usd_per_gb": p["egress"], "egress_basis": p["egress_basis"], "role": "",
            "hub": "", "source": f"{SKY_NOTE}; coordinates: {loc['source']}"})
        for (s, system), o in sorted(offers.items()):
            if s != site_id:
                continue
            spot: float | str = statistics.median(o["spot"]) if o["spot"] else ""
            known = prov == "aws" and region in measured
            rate = round(measured[region] if known else fallback, 3)
            inv.append({
                "site": site_id.lower(), "hardware": system, "count": CLOUD_COUNT,
                "count_basis": "EXAMPLE quota (cloud capacity is not published)",
                "example": "true", "on_demand_usd_per_device_hour": round(min(o["od"]), 4),
                "spot_usd_per_device_hour": round(spot, 4) if isinstance(spot, float) else "",
                "spot_preemptions_per_hour": rate if spot != "" else "",
                "source": f"{SKY_NOTE}: {'|'.join(sorted(set(o['inst'])))}; per device = row "
                          "price / devices; on-demand min over rows, spot median over zones"
                          + (f" of whole-machine rows ({'|'.join(sorted(set(o['spot_inst'])))})"
                             if spot != "" else "")
                          + (f"; spot preemption: {TRACE_NOTE if known else ASSUMED_NOTE}"
                             if spot != "" else "")})

    def owned_rows(site_id: str, items: list[tuple[str, int]], what: str) -> None:
        for system, count in items:
            inv.append({"site": site_id, "hardware": system, "count": count,
                        "count_basis": f"EXAMPLE inventory ({what})", "example": "true",
                        "capex_usd_per_device": OWNED[system], "lifetime_years": 4,
                        "utilization": 0.7, "ops_usd_per_device_hour": 0.10,
                        "source": OWNED_NOTE})

    for key, r in ref.items():
        if key.startswith("cn-"):
            loc = locs[key]
            role = "west" if key in WEST else "east"
            sites.append({
                "id": key, "name": r["site"], "provider": "cn-hub", "operator": "example operator",
                "kind": "ai_centre", "example": "", "region": r["province_or_state"],
                "country": "China",
                "lat": loc["lat"], "lon": loc["lon"],
                "electricity_usd_per_kwh": r["electricity_usd_per_kwh"],
                "electricity_basis": r["electricity_basis"], "pue": r["pue"],
                "pue_basis": r["pue_basis"], "carbon_g_per_kwh": r["carbon_g_per_kwh"],
                "carbon_basis": r["carbon_basis"], "egress_usd_per_gb": 0.01,
                "egress_basis": "ASSUMED example transit price", "role": role, "hub": r["hub"],
                "source": "shared/data/reference/sites.csv (" + r["confidence"] + "): "
                          + r["source"]})
            owned_rows(key, HUB_INVENTORY[role], f"{role}ern hub; the real mix is not published")
        elif key in REFERENCE_US_EU:
            loc = locs[REFERENCE_US_EU[key]]
            sid = "ref-" + key.split(" / ")[0]
            sites.append({
                "id": sid, "name": f"Owned reference site near {r['hub']}", "provider": "owned",
                "operator": "example enterprise", "kind": "enterprise", "example": "true",
                "region": key,
                "country": r["country"], "lat": loc["lat"], "lon": loc["lon"],
                "electricity_usd_per_kwh": r["electricity_usd_per_kwh"],
                "electricity_basis": r["electricity_basis"], "pue": r["pue"],
                "pue_basis": r["pue_basis"], "carbon_g_per_kwh": r["carbon_g_per_kwh"],
                "carbon_basis": r["carbon_basis"], "egress_usd_per_gb": 0.05,
                "egress_basis": "ASSUMED example transit price", "role": "", "hub": "",
                "source": "shared/data/reference/sites.csv: " + r["source"]})
            owned_rows(sid, [("dgx-h100", 256)], "owned reference cluster")
    for sid, (city, grid) in EDGE.items():
        loc, g = locs[city], ref[grid]
        sites.append({
            "id": sid, "name": f"Edge site, {city.title()} (example)", "provider": "edge",
            "operator": "example operator", "kind": "edge", "example": "true", "region": city,
            "country": "China",
            "lat": loc["lat"], "lon": loc["lon"],
            "electricity_usd_per_kwh": g["electricity_usd_per_kwh"],
            "electricity_basis": f"as {grid}: " + g["electricity_basis"], "pue": 1.5,
            "pue_basis": "ASSUMED for a small edge room (industry average 1.56, Uptime 2024)",
            "carbon_g_per_kwh": g["carbon_g_per_kwh"], "carbon_basis": f"as {grid}: "
            + g["carbon_basis"], "egress_usd_per_gb": 0.0, "egress_basis": "ASSUMED",
            "role": "edge", "hub": "", "source": "EXAMPLE edge site (not a real facility)"})
        owned_rows(sid, [("l40s-server", 32), ("l4-server", 64)], "edge room")
    return sites, inv


def hub_links(sites: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Known links: every eastern hub to every western hub, and big cities to their hub."""
    east = [s["id"] for s in sites if s["role"] == "east"]
    west = [s["id"] for s in sites if s["role"] == "west"]
    rows = [{"a": a, "b": b, "bandwidth_gbps": 100, "latency_ms": 20, "egress_usd_per_gb": 0.01,
             "source": HUB_LINK_NOTE} for a in east for b in west]
    rows += [{"a": c, "b": h, "bandwidth_gbps": 100, "latency_ms": 5, "egress_usd_per_gb": 0.0,
              "source": CITY_LINK_NOTE} for c, h in CITY_HUBS.items()]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(HERE.parents[3].parent / "shared"))
    args = ap.parse_args()
    sites, inv = build(Path(args.shared))
    files = (("sites.csv", sites, SITE_COLS), ("inventory.csv", inv, INV_COLS),
             ("links.csv", hub_links(sites), LINK_COLS))
    for name, rows, cols in files:
        with (HERE / name).open("w", newline="", encoding="utf-8") as fh:
            fh.write("# GENERATED by src/suanli/network/data/build.py from ../shared; do not edit "
                     "by hand. See README.md in this folder.\n")
            w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {len(rows)} rows to {HERE / name}")


if __name__ == "__main__":
    main()
