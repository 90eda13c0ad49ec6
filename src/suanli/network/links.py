"""WAN links between sites, data sources and user regions: bandwidth, latency, egress price.

A *place* is a site id or a location name from ``data/locations.csv`` (cities such as
``beijing`` or ``new-york`` and provider regions such as ``aws:us-east-1``).

Known links come from ``data/links.csv`` (e.g. the <= 20 ms target between China's national
hubs). Everywhere else a default by great-circle distance is used and labelled ``default``:

    distance d (km)   = haversine(lat1, lon1, lat2, lon2), R = 6371 km
    one-way latency   = 0.5 ms + d x ROUTE_INFLATION x 0.005 ms/km
        (light in fibre ~2e5 km/s = 5 us/km; ROUTE_INFLATION = 1.5 is an ASSUMED ratio of fibre
         path to great-circle length; 0.5 ms of equipment/queueing ASSUMED)
    bandwidth per job = 400 Gb/s same site, 100 metro (< 100 km), 10 (< 2,000 km),
                        5 (< 5,000 km), 2 otherwise (ASSUMED achievable bulk throughput)
    transfer time (s) = latency + bytes x 8 / (bandwidth x 1e9)
    transfer cost     = bytes / 1e9 x egress price of the source site (USD/GB; 0 for a city)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from suanli.catalog.loader import read_csv_rows
from suanli.errors import InputError
from suanli.network.sites import DATA_DIR, Network

EARTH_RADIUS_KM = 6371.0
FIBRE_MS_PER_KM = 0.005  # one way, light in silica fibre ~2e5 km/s
ROUTE_INFLATION = 1.5  # ASSUMED fibre path / great-circle distance
EQUIPMENT_MS = 0.5  # ASSUMED
SAME_SITE_GBPS = 400.0  # ASSUMED
_BANDS = ((100.0, 100.0), (2000.0, 10.0), (5000.0, 5.0))  # (below this many km, Gb/s) ASSUMED
FAR_GBPS = 2.0  # ASSUMED, intercontinental


@dataclass(frozen=True)
class Link:
    a: str
    b: str
    distance_km: float
    bandwidth_gbps: float  # achievable by one job, one direction
    latency_ms: float  # one way
    egress_usd_per_gb: float  # paid by the sender
    basis: str  # "known: <source>" or "default by distance (assumed)"

    @property
    def rtt_s(self) -> float:
        return 2.0 * self.latency_ms / 1000.0

    def transfer_s(self, nbytes: float) -> float:
        """Seconds to move ``nbytes`` one way (0 bytes costs nothing)."""
        if nbytes <= 0 or self.a == self.b:
            return 0.0
        return self.latency_ms / 1000.0 + nbytes * 8.0 / (self.bandwidth_gbps * 1e9)

    def transfer_usd(self, nbytes: float) -> float:
        if self.a == self.b:
            return 0.0
        return max(nbytes, 0.0) / 1e9 * self.egress_usd_per_gb


@cache
def locations() -> dict[str, tuple[float, float, str]]:
    """name -> (lat, lon, country) for non-site places."""
    return {r["name"]: (float(r["lat"]), float(r["lon"]), r["country"])
            for _, r in read_csv_rows(DATA_DIR / "locations.csv")}


@cache
def known_links(path: Path = DATA_DIR / "links.csv") -> dict[frozenset[str], tuple[float, float,
                                                                                  float, str]]:
    return {frozenset((r["a"], r["b"])): (float(r["bandwidth_gbps"]), float(r["latency_ms"]),
                                          float(r["egress_usd_per_gb"]), r["source"])
            for _, r in read_csv_rows(path)}


def place_coords(net: Network, place: str) -> tuple[float, float]:
    if place in net.sites:
        loc = net.sites[place].location
        return loc.lat, loc.lon
    locs = locations()
    if place in locs:
        return locs[place][0], locs[place][1]
    import difflib

    close = difflib.get_close_matches(place, [*net.sites, *locs], n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise InputError(f"unknown place '{place}': give a site id (`suanli net sites`) or a city "
                     f"such as beijing, shanghai, new-york, london.{hint}")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def default_latency_ms(distance_km: float) -> float:
    return EQUIPMENT_MS + distance_km * ROUTE_INFLATION * FIBRE_MS_PER_KM


def default_bandwidth_gbps(distance_km: float) -> float:
    for limit, gbps in _BANDS:
        if distance_km < limit:
            return gbps
    return FAR_GBPS


def _two_hops(a: str, b: str) -> tuple[float, float, str, str] | None:
    """a -> m -> b over two known links (a city to its hub, then the hub backbone); used only
    when one end is a city. Latencies add, the narrower bandwidth wins, the fastest m is used."""
    known = known_links()
    best: tuple[float, float, str, str] | None = None
    for pair, (bw1, lat1, _, src1) in known.items():
        if a not in pair or len(pair) != 2:
            continue
        (m,) = pair - {a}
        second = known.get(frozenset((m, b)))
        if second is None:
            continue
        lat = lat1 + second[1]
        if best is None or lat < best[1]:
            best = (min(bw1, second[0]), lat, m, f"{src1[:40]}... + {second[3][:40]}...")
    return best


def link(net: Network, a: str, b: str) -> Link:
    """The link from place ``a`` (sender) to place ``b``."""
    lat1, lon1 = place_coords(net, a)
    lat2, lon2 = place_coords(net, b)
    d = haversine_km(lat1, lon1, lat2, lon2)
    egress = net.sites[a].egress_usd_per_gb if a in net.sites else 0.0
    if a == b:
        return Link(a, b, 0.0, SAME_SITE_GBPS, 0.0, 0.0, "same place")
    known = known_links().get(frozenset((a, b)))
    if known is not None:
        bw, lat, eg, src = known
        return Link(a, b, d, bw, lat, eg if a in net.sites else 0.0, f"known: {src}")
    hop = _two_hops(a, b) if (a not in net.sites or b not in net.sites) else None
    if hop is not None:
        bw, lat, via, src = hop
        return Link(a, b, d, bw, lat, egress, f"known, 2 hops via {via}: {src}")
    if d < 1.0 and a in net.sites and b in net.sites:
        d = 1.0  # co-located sites (e.g. two providers in one metro) still cross a WAN hop
    return Link(a, b, d, default_bandwidth_gbps(d), default_latency_ms(d), egress,
                "default by distance (assumed)")
