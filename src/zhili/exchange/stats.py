"""Sharing statistics (数据共享应用量): what is connected, held and shared, and the review
backlog — sums over the grant usage counters and the catalog, never over data rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from zhili.catalog.models import LakeVersion, Resource
from zhili.clock import utcnow
from zhili.exchange.models import Grant, GrantUsage, RequestState, ShareRequest
from zhili.exchange.requests import today
from zhili.identity.models import Organization


@dataclass(frozen=True)
class Overview:
    departments_connected: int
    resources: int
    resources_with_data: int
    rows_held: int
    rows_shared: int
    calls: int
    grants_active: int
    requests_pending: int
    requests_overdue: int
    requests_escalated: int


def overview(session: Session) -> Overview:
    now = utcnow()
    providers = select(Resource.provider_id.label("org"))
    consumers = select(Grant.consumer_org_id.label("org"))
    connected = session.scalar(
        select(func.count()).select_from(providers.union(consumers).subquery())
    )
    latest = (
        select(LakeVersion.resource_id, func.max(LakeVersion.version).label("v"))
        .group_by(LakeVersion.resource_id)
        .subquery()
    )
    held = session.scalar(
        select(func.coalesce(func.sum(LakeVersion.total_rows), 0)).join(
            latest,
            and_(
                LakeVersion.resource_id == latest.c.resource_id, LakeVersion.version == latest.c.v
            ),
        )
    )
    shared, calls = session.execute(
        select(
            func.coalesce(func.sum(GrantUsage.rows), 0),
            func.coalesce(func.sum(GrantUsage.calls), 0),
        )
    ).one()
    pending = ShareRequest.state == RequestState.under_review
    return Overview(
        departments_connected=int(connected or 0),
        resources=int(session.scalar(select(func.count(Resource.id))) or 0),
        resources_with_data=int(
            session.scalar(
                select(func.count(Resource.id)).where(Resource.current_version.is_not(None))
            )
            or 0
        ),
        rows_held=int(held or 0),
        rows_shared=int(shared),
        calls=int(calls),
        grants_active=int(
            session.scalar(select(func.count(Grant.id)).where(Grant.state == RequestState.active))
            or 0
        ),
        requests_pending=int(session.scalar(select(func.count()).where(pending)) or 0),
        requests_overdue=int(
            session.scalar(select(func.count()).where(pending, ShareRequest.due_at < now)) or 0
        ),
        requests_escalated=int(
            session.scalar(select(func.count()).where(pending, ShareRequest.escalated)) or 0
        ),
    )


def by_day(session: Session, days: int = 30) -> list[dict[str, Any]]:
    """Rows and calls per day over the last ``days`` days (days without use included)."""
    start = today() - dt.timedelta(days=days - 1)
    found = dict(
        (day, (int(r), int(c)))
        for day, r, c in session.execute(
            select(GrantUsage.day, func.sum(GrantUsage.rows), func.sum(GrantUsage.calls))
            .where(GrantUsage.day >= start)
            .group_by(GrantUsage.day)
        )
    )
    out = []
    for i in range(days):
        day = start + dt.timedelta(days=i)
        rows, calls = found.get(day, (0, 0))
        out.append({"day": day.isoformat(), "rows": rows, "calls": calls})
    return out


def by_org(session: Session, side: str, limit: int = 15) -> list[dict[str, Any]]:
    """Rows and calls by provider or consumer organization, largest first."""
    org = aliased(Organization)
    key = Resource.provider_id if side == "provider" else Grant.consumer_org_id
    stmt = (
        select(org.code, org.name, func.sum(GrantUsage.rows), func.sum(GrantUsage.calls))
        .select_from(GrantUsage)
        .join(Grant, Grant.id == GrantUsage.grant_id)
        .join(Resource, Resource.id == Grant.resource_id)
        .join(org, org.id == key)
        .group_by(org.code, org.name)
        .order_by(func.sum(GrantUsage.rows).desc())
        .limit(limit)
    )
    return [
        {"code": c, "name": n, "rows": int(r), "calls": int(k)}
        for c, n, r, k in session.execute(stmt)
    ]


def by_resource(session: Session, limit: int = 15) -> list[dict[str, Any]]:
    stmt = (
        select(
            Resource.code,
            Resource.name,
            func.sum(GrantUsage.rows),
            func.sum(GrantUsage.calls),
            func.count(func.distinct(Grant.consumer_org_id)),
        )
        .select_from(GrantUsage)
        .join(Grant, Grant.id == GrantUsage.grant_id)
        .join(Resource, Resource.id == Grant.resource_id)
        .group_by(Resource.code, Resource.name)
        .order_by(func.sum(GrantUsage.rows).desc())
        .limit(limit)
    )
    return [
        {"code": c, "name": n, "rows": int(r), "calls": int(k), "consumers": int(m)}
        for c, n, r, k, m in session.execute(stmt)
    ]


def statistics(session: Session, days: int = 30) -> dict[str, Any]:
    return {
        "overview": asdict(overview(session)),
        "by_day": by_day(session, days),
        "by_provider": by_org(session, "provider"),
        "by_consumer": by_org(session, "consumer"),
        "by_resource": by_resource(session),
    }
