"""Subscriptions (订阅) over HTTP: webhooks under a grant, their deliveries, redelivery of
a dead-lettered one, and the changes feed (rows added or changed since a version, read
through the one door). Thin: each route calls :mod:`zhili.exchange.subscriptions` or
:mod:`zhili.exchange.changes`.

Registered before ``web/api/exchange.py``: ``POST /grants/{id}/subscriptions`` would
otherwise be taken for the grant action route ``POST /grants/{id}/{action}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel

from zhili.exchange import changes as changes_service
from zhili.exchange import grants as grant_service
from zhili.exchange import subscriptions as service
from zhili.exchange.subscription_models import Delivery, Subscription
from zhili.web.deps import CurrentActor, DbSession, SettingsDep, authorize

router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"])
READ = [Depends(authorize("exchange.read"))]
APPLY = [Depends(authorize("exchange.apply"))]


class SubscriptionBody(BaseModel):
    """Where to send notices: an http(s) URL reachable on a public address."""

    url: str


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def delivery_out(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "subscription_id": d.subscription_id,
        "version": d.version,
        "previous_version": d.previous_version,
        "rows_added": d.rows_added,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": _iso(d.next_attempt_at),
        "last_attempt_at": _iso(d.last_attempt_at),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": _iso(d.created_at),
        "delivered_at": _iso(d.delivered_at),
    }


def subscription_out(s: Subscription) -> dict[str, Any]:
    return {
        "id": s.id,
        "grant_id": s.grant_id,
        "resource_code": s.grant.resource.code,
        "url": s.url,
        "secret_hint": s.secret_hint + "…",
        "active": s.active,
        "created_by": s.created_by,
        "created_at": _iso(s.created_at),
        "removed_at": _iso(s.removed_at),
        "last_version": s.last_version,
        "last_delivered_at": _iso(s.last_delivered_at),
    }


@router.post("/grants/{grant_id}/subscriptions", dependencies=APPLY, status_code=201)
def subscribe(
    grant_id: int,
    body: SubscriptionBody,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Subscribe a callback URL under one of your organization's active grants. The answer
    holds the signing ``secret`` — shown this once only."""
    grant = grant_service.get_grant(session, actor, grant_id)
    sub, secret = service.create_subscription(session, actor, grant, body.url, settings)
    session.commit()
    return {**subscription_out(sub), "secret": secret}


@router.get("/grants/{grant_id}/subscriptions", dependencies=READ)
def list_subscriptions(
    grant_id: int, actor: CurrentActor, session: DbSession, include_removed: bool = False
) -> dict[str, Any]:
    grant = grant_service.get_grant(session, actor, grant_id)
    items = service.list_subscriptions(session, grant, include_removed=include_removed)
    return {"items": [subscription_out(s) for s in items]}


@router.delete("/subscriptions/{subscription_id}", dependencies=APPLY, status_code=204)
def unsubscribe(subscription_id: int, actor: CurrentActor, session: DbSession) -> Response:
    """Stop a subscription; deliveries not yet sent are cancelled (history is kept)."""
    sub = service.get_subscription(session, actor, subscription_id)
    service.remove_subscription(session, actor, sub)
    session.commit()
    return Response(status_code=204)


@router.get("/subscriptions/{subscription_id}/deliveries", dependencies=READ)
def deliveries(
    subscription_id: int,
    actor: CurrentActor,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The subscription's deliveries, newest first, with their attempts and last answer."""
    sub = service.get_subscription(session, actor, subscription_id)
    return {"items": [delivery_out(d) for d in service.list_deliveries(session, sub, limit=limit)]}


@router.post("/deliveries/{delivery_id}/redeliver", dependencies=APPLY)
def redeliver(delivery_id: int, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    """Queue a dead-lettered (or finished) delivery again, from its first attempt."""
    delivery = service.get_delivery(session, actor, delivery_id)
    service.redeliver(session, actor, delivery)
    session.commit()
    return delivery_out(delivery)


@router.get("/grants/{grant_id}/changes", dependencies=READ)
def changes(
    grant_id: int,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    since: Annotated[int, Query(ge=0)],
    until: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=changes_service.MAX_ROWS)] = 1000,
    after: str | None = None,
) -> dict[str, Any]:
    """Rows of version ``until`` (default: current) not in version ``since`` — added or
    changed — under the grant's fields, row filter and masks; ``removed`` counts rows
    gone. Metered and audited like every read; ``next`` continues a truncated answer."""
    found = changes_service.read_changes(
        session,
        actor,
        home=settings.home,
        grant_id=grant_id,
        since=since,
        until=until,
        limit=limit,
        after=after,
    )
    return {
        "resource": found.code,
        "grant": found.grant_id,
        "since": found.since,
        "until": found.until,
        "key": list(found.key),
        "fields": [c.name for c in found.columns],
        "rows": jsonable_encoder(found.rows),
        "count": len(found.rows),
        "removed": found.removed,
        "truncated": found.truncated,
        "next": found.next_cursor,
    }
