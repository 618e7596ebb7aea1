"""The open-data portal's view of the catalog: only what is published (open, or open on
conditions), readable without logging in. Closed resources are not found here, so the
portal does not even reveal that they exist."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.access import Actor, require
from zhili.catalog import search
from zhili.catalog.models import OpenType, Resource
from zhili.errors import NotFound

PUBLISHED = (OpenType.open, OpenType.conditional)


def list_published(
    session: Session, actor: Actor, *, q: str | None = None, limit: int = 30, offset: int = 0
) -> tuple[list[Resource], int]:
    require(actor, "portal.read")
    stmt = select(Resource).where(Resource.open_type.in_(PUBLISHED))
    order = [Resource.code]
    if q:
        scores = search.matching(q)
        if scores is None:
            return [], 0
        ranked = scores.subquery()
        stmt = stmt.join(ranked, ranked.c.resource_id == Resource.id)
        order = [ranked.c.score.desc(), Resource.code]
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(*order).limit(limit).offset(offset))
    return list(rows), total


def get_published(session: Session, actor: Actor, code: str) -> Resource:
    require(actor, "portal.read")
    resource = session.scalar(
        select(Resource).where(Resource.code == code, Resource.open_type.in_(PUBLISHED))
    )
    if resource is None:
        raise NotFound("catalog.not_published", "no published resource {code}", code=code)
    return resource
