"""Grants (授权) after approval: listing, suspending, resuming, revoking, expiry, and the
check every read makes — valid today, active, under quota — with per-day usage counters.

A refusal says which condition failed (``exchange.grant_expired``, ``…_revoked``,
``…_suspended``, ``…_not_started``, ``…_over_calls``, ``…_over_rows``), as a 403.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from zhili.access import Actor, Role, can, system_actor
from zhili.audit.acts import record_act
from zhili.catalog.models import Resource
from zhili.clock import utcnow
from zhili.errors import Conflict, Forbidden, NotFound
from zhili.exchange.models import Grant, GrantUsage, RequestState, RequestTransition
from zhili.exchange.requests import _text, today

S = RequestState


def get_grant(session: Session, actor: Actor, grant_id: int) -> Grant:
    """A grant the actor may see: the consumer's and provider's members, the bureau and
    auditors (404 for anyone else)."""
    grant = session.get(Grant, grant_id)
    if grant is None or not _visible(actor, grant):
        raise NotFound("exchange.no_grant", "no grant {id}", id=grant_id)
    return grant


def _visible(actor: Actor, grant: Grant) -> bool:
    if actor.roles & {Role.platform_admin, Role.auditor}:
        return True
    return actor.org_id in (grant.consumer_org_id, grant.resource.provider_id)


def list_grants(
    session: Session, actor: Actor, *, side: str = "all", resource_code: str | None = None
) -> list[Grant]:
    stmt = select(Grant).join(Resource, Grant.resource_id == Resource.id).order_by(Grant.id.desc())
    if side == "consumer":
        stmt = stmt.where(Grant.consumer_org_id == actor.org_id)
    elif side == "provider":
        stmt = stmt.where(Resource.provider_id == actor.org_id)
    elif not actor.roles & {Role.platform_admin, Role.auditor}:
        stmt = stmt.where(
            (Grant.consumer_org_id == actor.org_id) | (Resource.provider_id == actor.org_id)
        )
    if resource_code:
        stmt = stmt.where(Resource.code == resource_code)
    return [_expire_if_due(session, g) for g in session.scalars(stmt).unique()]


def _expire_if_due(session: Session, grant: Grant) -> Grant:
    if grant.state in (S.active, S.suspended) and grant.valid_until < today():
        _set_state(session, grant, S.expired, "system:expiry", "validity period ended")
    return grant


def _set_state(session: Session, grant: Grant, to: RequestState, by: str, reason: str) -> None:
    record_act(
        session,
        system_actor(by),
        f"grant.{to}",
        grant_id=grant.id,
        resource_code=grant.resource.code,
        provider_org_id=grant.resource.provider_id,
        detail={"from": grant.state, "reason": reason},
    )
    session.add(
        RequestTransition(
            request_id=grant.request_id,
            from_state=grant.state,
            to_state=to,
            actor=by,
            reason=reason,
        )
    )
    grant.state = to
    grant.state_reason = reason
    grant.request.state = to
    grant.request.updated_at = utcnow()


def may_manage(actor: Actor, grant: Grant) -> bool:
    return can(actor, "grant.manage", grant.resource)


def change_state(session: Session, actor: Actor, grant: Grant, action: str, reason: str) -> Grant:
    """``suspend``, ``resume`` or ``revoke`` (the provider's approvers and admins, or the
    bureau); a reason is required and recorded. Revocation is final."""
    if not may_manage(actor, grant):
        raise Forbidden("exchange.not_grant_manager", "you cannot change grant {id}", id=grant.id)
    reason = _text(reason, "reason")
    moves = {
        "suspend": (S.active, S.suspended),
        "resume": (S.suspended, S.active),
        "revoke": (None, S.revoked),
    }
    if action not in moves:
        raise NotFound("exchange.no_action", "no grant action {action}", action=action)
    source, target = moves[action]
    _expire_if_due(session, grant)
    allowed = (S.active, S.suspended) if source is None else (source,)
    if grant.state not in allowed:
        raise Conflict(
            "exchange.bad_state",
            "request {id} is {state}; this needs {expected}",
            id=grant.id,
            state=grant.state,
            expected=" / ".join(allowed),
        )
    _set_state(session, grant, target, actor.username or actor.kind, reason)
    return grant


def usage_today(session: Session, grant: Grant, day: dt.date) -> tuple[int, int]:
    row = session.scalar(
        select(GrantUsage).where(GrantUsage.grant_id == grant.id, GrantUsage.day == day)
    )
    return (row.calls, row.rows) if row else (0, 0)


def check_grant(session: Session, grant: Grant, day: dt.date | None = None) -> None:
    """Refuse (403, naming the reason) unless the grant can serve a call right now."""
    day = day or today()
    _expire_if_due(session, grant)
    reasons = {
        S.expired: "grant_expired",
        S.revoked: "grant_revoked",
        S.suspended: "grant_suspended",
    }
    if grant.state in reasons:
        raise Forbidden(
            f"exchange.{reasons[grant.state]}",
            "grant {id} is {state}",
            id=grant.id,
            state=grant.state,
            reason=grant.state_reason or "",
            until=grant.valid_until.isoformat(),
        )
    if grant.valid_from > day:
        raise Forbidden(
            "exchange.grant_not_started",
            "grant {id} starts on {start}",
            id=grant.id,
            start=grant.valid_from.isoformat(),
        )
    calls, rows = usage_today(session, grant, day)
    if grant.calls_per_day is not None and calls >= grant.calls_per_day:
        raise Forbidden(
            "exchange.grant_over_calls",
            "grant {id} used its {max} calls today",
            id=grant.id,
            max=grant.calls_per_day,
        )
    if grant.rows_per_day is not None and rows >= grant.rows_per_day:
        raise Forbidden(
            "exchange.grant_over_rows",
            "grant {id} delivered its {max} rows today",
            id=grant.id,
            max=grant.rows_per_day,
        )


def rows_left(session: Session, grant: Grant, day: dt.date | None = None) -> int | None:
    """How many more rows the grant may deliver today (None: no row quota)."""
    if grant.rows_per_day is None:
        return None
    return max(grant.rows_per_day - usage_today(session, grant, day or today())[1], 0)


def meter(session: Session, grant_id: int, rows: int, day: dt.date | None = None) -> None:
    """Count one call and ``rows`` rows against the grant today, in ``session``'s
    transaction (`metering` is the same count for the shared audit appender)."""
    metering(grant_id, rows, day)(session.connection())


def metering(grant_id: int, rows: int, day: dt.date | None = None) -> Callable[[Connection], None]:
    """The write that counts one call and ``rows`` rows against the grant on ``day``
    (default today), as one atomic upsert of the day's counters, for any connection."""
    day = day or today()

    def count(conn: Connection) -> None:
        insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
        table = GrantUsage.__table__
        stmt = insert(table).values(grant_id=grant_id, day=day, calls=1, rows=rows)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[table.c.grant_id, table.c.day],
                set_={"calls": table.c.calls + 1, "rows": table.c.rows + rows},
            )
        )

    return count
