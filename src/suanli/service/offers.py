"""Jobs submitted from a quote's offer: the offer is honoured or refused, never silently moved.

A job created with ``quote_id`` + ``offer`` runs on that offer's site, with its hardware and
its device count (``gpus = devices`` for accelerators): the scheduler pins it to the site
(``site_request``, :mod:`suanli.service.scheduler`) and the executor enforces the pin (Ray:
custom resource ``site:<id>``, ``num_gpus`` = devices, and ``hw:<system>`` per device where the
site's nodes declare their hardware). A network site is runnable when the
executor serves a site of the same id (``GET /api/v1/sites``: ``runnable``).

At submission :func:`can_take` checks that the site can take the job *now*: the executor
serves it, and its free capacity (total minus what placed and running jobs hold, as the
scheduler counts it, :func:`suanli.service.placing.cluster_of`) covers the job's CPUs and
devices. If not, the answer is 409 with the reason and the next offer of the same quote that
can (:func:`next_offer`), or none. The check is not a reservation: two jobs accepted at
once for the last free devices both stay pinned, and the later one waits for them. Tenant
quotas are not a refusal here: they are nominal
(fair share with borrowing, :mod:`suanli.service.placing`), so a job beyond its tenant's quota
waits its turn on the offer's site, or borrows, and may be preempted like any borrowed job.

The job keeps the offer it came from (:func:`offer_record`): quote, index, site, hardware,
devices, plan, the quoted time and cost and whether the offer used measured or declared
capability. The quoted time is for the *quoted workload* (the model on its tokens or
traffic); a command or Python job submitted against the offer is not that workload, so the
job's own ``predicted_duration_s`` is left empty and the view says so instead of comparing
the two (:func:`offer_view`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from suanli.service.models import Job

__all__ = ["can_take", "devices_of", "next_offer", "offer_record", "offer_view"]


def devices_of(offer: dict[str, Any]) -> float:
    """The GPUs a job from ``offer`` asks for: the offer's devices for an accelerator, 0 for a
    CPU part (its devices are sockets, not Ray GPUs; the job's ``cpus`` then apply)."""
    from suanli.catalog import load_catalog
    from suanli.errors import NotFoundError

    try:
        cat = load_catalog()
        family = cat.accelerator(cat.system(offer["hardware"]).accelerator).family
    except NotFoundError:
        family = ""
    if family == "cpu":
        return 0.0
    return float(offer["devices"])


def _free(session: Session, res: dict[str, dict[str, float]]) -> dict[str, tuple[float, int]]:
    """site -> (free CPUs, free whole devices) after placed and running jobs."""
    from suanli.service.placing import cluster_of

    cl, index, _ = cluster_of(session, res)
    return {site: (float(cl.cpu_free[i]) / 1000.0, int((cl.gpu_free[i] >= 1000).sum()))
            for site, i in index.items()}


def can_take(offer: dict[str, Any], cpus: float, gpus: float,
             res: dict[str, dict[str, float]], free: dict[str, tuple[float, int]]) -> str | None:
    """Why the offer's site cannot take a job of ``cpus`` CPUs and ``gpus`` devices now (None
    when it can). ``res``: the executor's sites; ``free``: their free capacity."""
    site = offer["site"]
    if site not in res:
        return (f"site '{site}' is not run by this service's executor (it runs: "
                f"{', '.join(sorted(res)) or 'none'}); the offer can only be priced, not run "
                "here")
    total = res[site]
    if cpus > total.get("CPU", 0.0) or gpus > total.get("GPU", 0.0):
        return (f"site '{site}' has {total.get('CPU', 0.0):g} CPUs and "
                f"{total.get('GPU', 0.0):g} GPUs in all; the offer needs {gpus:g} devices "
                f"({offer['hardware']}) and {cpus:g} CPUs")
    hw = [k for k in total if k.startswith("hw:")]
    if hw and total.get(f"hw:{offer['hardware']}", 0.0) < max(gpus, 1e-3):
        return (f"site '{site}' runs {', '.join(f'{k[3:]} x {total[k]:g}' for k in hw)}; "
                f"the offer needs {gpus:g} x {offer['hardware']}")
    cpu_free, gpu_free = free.get(site, (0.0, 0))
    if cpus > cpu_free + 1e-9 or gpus > gpu_free:
        return (f"site '{site}' is full now: {cpu_free:g} CPUs and {gpu_free} devices free, "
                f"the offer needs {cpus:g} CPUs and {gpus:g} devices")
    return None


def next_offer(offers: list[dict[str, Any]], skip: int, cpus: float,
               res: dict[str, dict[str, float]], free: dict[str, tuple[float, int]]
               ) -> dict[str, Any] | None:
    """The best-ranked other offer of the quote whose site can take the job now, as
    ``{"offer": index, **offer}``; None when no offer can."""
    for i, o in enumerate(offers):
        if i != skip and can_take(o, cpus, devices_of(o), res, free) is None:
            return {"offer": i, **o}
    return None


def check_offer(session: Session, executor: Any, offers: list[dict[str, Any]], idx: int,
                cpus: float) -> tuple[str, dict[str, Any] | None] | None:
    """None when offer ``idx`` can run now; else (reason, next offer that can or None)."""
    res = executor.resources()
    free = _free(session, res)
    offer = offers[idx]
    why = can_take(offer, cpus, devices_of(offer), res, free)
    if why is None:
        return None
    return why, next_offer(offers, idx, cpus, res, free)


def offer_record(quote_id: str, idx: int, offer: dict[str, Any],
                 request: dict[str, Any]) -> dict[str, Any]:
    """What the job keeps of its offer (stored as ``jobs.offer_json``)."""
    keep = ("site", "hardware", "devices", "plan", "spot", "usd_per_device_hour", "total_s",
            "run_s", "cost_usd", "capability")
    what = {k: request[k] for k in ("model", "tokens", "traffic") if request.get(k) is not None}
    return {"quote_id": quote_id, "offer": idx, **{k: offer.get(k) for k in keep},
            "workload": what}


def offer_view(job: Job) -> dict[str, Any] | None:
    """The API's ``offer`` of a job made from a quote: the stored offer, the quoted figures
    as ``predicted_for_quoted_workload``, and a note on what the job's actual time means."""
    if job.offer_json is None:
        return None
    o = json.loads(job.offer_json)
    w = o.get("workload") or {}
    what = " ".join(f"{k} {v}" for k, v in w.items())
    note = (f"the quoted time and cost are for the quoted workload ({what}) on "
            f"{o.get('devices')} x {o.get('hardware')} at {o.get('site')}; this {job.kind} job "
            "runs its own command, not that workload, so its actual time is not compared "
            "with the quote")
    return {**o, "on_quoted_site": job.site == o.get("site") if job.site else None,
            "note": note}
