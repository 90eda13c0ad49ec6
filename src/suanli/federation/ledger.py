"""Settlement: what each completed job costs its tenant and earns its site.

Per accepted result (one per job: only the live lease's result is accepted, and the ledger row
is unique per job), with ``t`` the run's duration as the broker bounds it (the site's start and
end times, clamped to when the broker assigned the attempt and when the result arrived):

    cpu_hours     = t x cpus / 3600           device_hours = t x gpus / 3600
    site_earning  = cpu_hours x cpu_price + device_hours x gpu_price   (site's currency)
    earning_usd   = site_earning x usd_per_unit(currency)              (catalog fx.csv)
    broker_fee    = earning_usd x fee_rate
    tenant_charge = earning_usd + broker_fee                           (USD)

so sum(tenant_charge) = sum(earning_usd) + sum(broker_fee) by construction, per tenant, per
site and in total. The price is the one the site advertised when the attempt was assigned (a
later price change does not reprice running work). Attempts lost with a lease are not charged.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.federation.models import FedAssignment, FedLedger
from suanli.service.models import Job


def usd_per_unit(currency: str) -> float:
    """US dollars per unit of ``currency`` (the catalog's dated fx table)."""
    from suanli.money import to_usd

    return to_usd(1.0, currency)


def settle(s: Session, a: FedAssignment, fee_rate: float, now: float) -> FedLedger:
    """The ledger row of ``a``'s job (written once; an existing one is returned), committed
    with whatever the session holds (the accepted result: :func:`~.leases.post_result`)."""
    old = s.scalar(select(FedLedger).where(FedLedger.job_id == a.job_id))
    if old is not None:
        s.commit()
        return old
    job = s.get(Job, a.job_id)
    assert job is not None
    price = json.loads(a.price_json)
    t = max(0.0, (a.finished_at or now) - (a.started_at or now))  # seconds
    cpu_h, dev_h = t * job.cpus / 3600.0, t * job.gpus / 3600.0
    earning = cpu_h * float(price["cpu_hour"]) + dev_h * float(price["gpu_hour"])
    rate = usd_per_unit(price["currency"])
    earning_usd = earning * rate
    fee = earning_usd * fee_rate
    row = FedLedger(job_id=a.job_id, assignment_id=a.id, tenant_id=job.tenant_id,
                    site_id=a.site_id, duration_s=t, cpu_hours=cpu_h, device_hours=dev_h,
                    currency=price["currency"], site_earning=earning, usd_per_unit=rate,
                    site_earning_usd=earning_usd, broker_fee_usd=fee,
                    tenant_charge_usd=earning_usd + fee, created_at=now)
    s.add(row)
    s.commit()
    return row


def _rows(s: Session, where: Any) -> list[dict[str, Any]]:
    return [{"job_id": r.job_id, "site": r.site_id, "tenant_id": r.tenant_id,
             "duration_s": r.duration_s, "cpu_hours": r.cpu_hours,
             "device_hours": r.device_hours, "currency": r.currency,
             "site_earning": r.site_earning, "site_earning_usd": r.site_earning_usd,
             "broker_fee_usd": r.broker_fee_usd, "tenant_charge_usd": r.tenant_charge_usd,
             "created_at": r.created_at}
            for r in s.scalars(select(FedLedger).where(where).order_by(FedLedger.id))]


def tenant_ledger(s: Session, tenant_id: str) -> dict[str, Any]:
    rows = _rows(s, FedLedger.tenant_id == tenant_id)
    return {"entries": rows, "jobs": len(rows),
            "total_charge_usd": sum(r["tenant_charge_usd"] for r in rows)}


def site_ledger(s: Session, site_id: str) -> dict[str, Any]:
    rows = _rows(s, FedLedger.site_id == site_id)
    by_cur: dict[str, float] = {}
    for r in rows:
        by_cur[r["currency"]] = by_cur.get(r["currency"], 0.0) + r["site_earning"]
    return {"entries": rows, "jobs": len(rows), "earnings": by_cur,
            "total_earning_usd": sum(r["site_earning_usd"] for r in rows)}


def totals(s: Session) -> dict[str, float]:
    """Whole-ledger sums (USD): charges, site earnings, broker fees, and the imbalance."""
    c, e, f, n = s.execute(select(func.coalesce(func.sum(FedLedger.tenant_charge_usd), 0.0),
                                  func.coalesce(func.sum(FedLedger.site_earning_usd), 0.0),
                                  func.coalesce(func.sum(FedLedger.broker_fee_usd), 0.0),
                                  func.count())).one()
    return {"jobs": int(n), "tenant_charges_usd": float(c), "site_earnings_usd": float(e),
            "broker_fees_usd": float(f), "imbalance_usd": float(c) - float(e) - float(f)}
