"""Data locality at the broker: what moving a job's input dataset to a site costs.

A job may name its input dataset (``"input": {"location": PLACE, "gb": G}`` at submission,
N = G x 1e9 bytes;
PLACE is a federated site's name, a network site id or a city / provider region of
``suanli net``'s locations). Moving it from PLACE to site ``s`` costs, over the link the quotes
use (:func:`suanli.network.links.link`: a known link, or the default by distance):

    move_s(s)  = latency + N x 8 / bandwidth        (Link.transfer_s; 0 where the data is)
    egress(s)  = N / 1e9 x the sender's egress price (Link.transfer_usd, USD/GB; 0 likewise)

and the broker places the job where its whole bill is lowest,

    usd(s)  = rate(s) x (run_s + move_s(s)) / 3600 + egress(s)
    rate(s) = cpus x CPU-hour price(s) + gpus x GPU-hour price(s)   (the site's, in USD)
    run_s   = the job's predicted_duration_s, or 3600 s when it gives none (as the scheduler)

(the site is held while the data arrives, so the staging time is paid at its rate, as the
settlement bills the attempt from its start). Equal bills go to the earlier finish,
``move_s + run_s``, then to the scheduler's placer. So a job stays with its data unless another
site is cheaper overall, egress and staging included.

A site whose descriptor gives no location (none sent at registration) cannot be measured: the
link to or from it is ASSUMED intercontinental (:data:`FAR_GBPS`, the latency of
:data:`UNKNOWN_KM` of fibre), so moving data there is never free and never cheaper than to a
known site of the same price.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.errors import InputError
from suanli.federation.models import FedSite
from suanli.network.links import FAR_GBPS, Link, default_latency_ms, link
from suanli.network.sites import Network

UNKNOWN_KM = 20_000.0  # ASSUMED distance to a site of unknown location: half the Earth around
DEFAULT_RUN_S = 3600.0  # a job with no predicted duration (as the scheduler's placement)


def check_place(s: Session, place: str) -> None:
    """:class:`InputError` unless ``place`` is a federated site, a network site (built-in,
    registered or joined) or a known location; the message names close matches."""
    from suanli.network.links import locations, place_coords
    from suanli.service.netview import network_with_joined

    if place in locations() or s.get(FedSite, place) is not None:
        return  # a city, or a federated site: no need to build the network

    try:
        place_coords(network_with_joined(s), place)
    except InputError as exc:
        names = ", ".join(s.scalars(select(FedSite.id).where(FedSite.revoked_at.is_(None))
                                    .order_by(FedSite.id).limit(10)))
        raise InputError(f"{exc} Federated sites: {names or 'none'}.") from None


def site_network(s: Session) -> Network:
    """Built-in, registered and joined sites plus every federated site whose registration
    carried a valid descriptor (keyed by the federated site's name); a bad one is left out (its
    links are then the ASSUMED unknown ones)."""
    from suanli.network.descriptor import parse_descriptor
    from suanli.service.netview import network_with_joined

    sites = dict(network_with_joined(s).sites)
    for sid, raw in s.execute(select(FedSite.id, FedSite.descriptor_json)
                              .where(FedSite.descriptor_json.isnot(None))):
        try:
            doc = json.loads(raw or "{}")
            if doc:
                sites[sid] = parse_descriptor(doc, file=f"site {sid}")
        except Exception:  # checked at registration; a row that no longer parses is unknown
            continue
    return Network(sites)


def move_link(net: Network, source: str, dest: str) -> Link:
    """The link the data crosses from ``source`` to site ``dest`` (module doc; an ASSUMED
    intercontinental one where either end has no location)."""
    try:
        return link(net, source, dest)
    except InputError:
        egress = net.sites[source].egress_usd_per_gb if source in net.sites else 0.0
        return Link(source, dest, UNKNOWN_KM, FAR_GBPS, default_latency_ms(UNKNOWN_KM), egress,
                    "unknown location: assumed intercontinental")


def moves(links: list[Link], nbytes: float) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, USD) to move ``nbytes`` over each of ``links``."""
    return (np.array([lk.transfer_s(nbytes) for lk in links]),
            np.array([lk.transfer_usd(nbytes) for lk in links]))


def bills(rate_usd_h: np.ndarray, move_s: np.ndarray, egress_usd: np.ndarray,
          run_s: float) -> np.ndarray:
    """The job's whole bill at each site (module doc): compute over the run and the staging
    time, plus egress."""
    return rate_usd_h * (run_s + move_s) / 3600.0 + egress_usd


def rank(usd: np.ndarray, secs: np.ndarray) -> np.ndarray:
    """Lower is better: by bill (to a nano-dollar, so float noise is no difference), then by
    time; equal pairs share a rank (the placer then breaks the tie)."""
    key = np.round(usd, 9)
    order = np.lexsort((secs, key))
    out = np.empty(len(usd))
    pos = 0
    for k, i in enumerate(order):
        if k and (key[i], secs[i]) != (key[order[k - 1]], secs[order[k - 1]]):
            pos = k
        out[i] = pos
    return out


def input_of(job: Any) -> tuple[str, float] | None:
    """(location, bytes) of ``job``'s input dataset (submitted in GB), or None when it names
    none."""
    raw = getattr(job, "input_json", None)
    if not raw:
        return None
    doc = json.loads(raw)
    return str(doc["location"]), float(doc["gb"]) * 1e9
