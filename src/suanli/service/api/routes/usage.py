"""Usage and billing: one record per finished job that ran (reserved CPU- and GPU-seconds,
duration, cost = duration x the job's hourly price), for the caller's tenant only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from suanli.service.api.deps import CurrentTenant, SessionDep
from suanli.service.models import UsageRecord
from suanli.service.schemas import UsageSummary

router = APIRouter(prefix="/api/v1/usage", tags=["usage"])


@router.get("", response_model=UsageSummary)
def usage(session: SessionDep, tenant: CurrentTenant) -> Any:
    recs = list(session.scalars(select(UsageRecord).where(UsageRecord.tenant_id == tenant.id)
                                .order_by(UsageRecord.created_at)))
    return {"records": recs, "jobs": len(recs),
            "total_cost_usd": sum(r.cost_usd for r in recs),
            "total_gpu_seconds": sum(r.gpu_seconds for r in recs),
            "total_cpu_seconds": sum(r.cpu_seconds for r in recs)}
