"""Reading the log: who may see which entries, filters, and keyset pages (newest first).

Auditors and platform admins see everything. A provider's stewards and approvers see the
entries about their own organization's (subtree's) resources — who used their data, under
which grant, for what purpose — through ``provider_org_id``, recorded with each entry so
the answer does not change when the catalog does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from zhili.access import RULES, Actor, require
from zhili.audit.models import AuditEntry
from zhili.identity.models import Organization

MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters; each one given narrows the result (codes and usernames, not ids)."""

    resource: str | None = None  # resource code
    provider: str | None = None  # provider org code
    consumer: str | None = None  # the acting user's org code
    grant: int | None = None
    actor: str | None = None  # username
    action: str | None = None
    outcome: str | None = None
    kind: str | None = None
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of entries, newest first; pass ``next_after`` as ``after`` for older ones."""

    items: list[AuditEntry]
    next_after: int | None
    orgs: dict[int, Organization] = field(default_factory=dict)  # orgs the entries name


def sees_everything(actor: Actor) -> bool:
    return bool(actor.roles & RULES["audit.read"].global_roles)


def _org_ids(code: str) -> Select[tuple[int]]:
    return select(Organization.id).where(Organization.code == code)


def _filtered(actor: Actor, q: AuditQuery) -> Select[tuple[AuditEntry]]:
    stmt = select(AuditEntry)
    if not sees_everything(actor):
        subtree = select(Organization.id).where(
            Organization.path.startswith(actor.org_path or "\x00", autoescape=True)
        )
        stmt = stmt.where(AuditEntry.provider_org_id.in_(subtree))
    if q.resource:
        stmt = stmt.where(AuditEntry.resource_code == q.resource)
    if q.provider:
        stmt = stmt.where(AuditEntry.provider_org_id.in_(_org_ids(q.provider)))
    if q.consumer:
        stmt = stmt.where(AuditEntry.org_id.in_(_org_ids(q.consumer)))
    if q.grant is not None:
        stmt = stmt.where(AuditEntry.grant_id == q.grant)
    if q.actor:
        stmt = stmt.where(AuditEntry.actor_username == q.actor)
    if q.action:
        stmt = stmt.where(AuditEntry.action == q.action)
    if q.outcome:
        stmt = stmt.where(AuditEntry.outcome == q.outcome)
    if q.kind:
        stmt = stmt.where(AuditEntry.kind == q.kind)
    if q.since:
        stmt = stmt.where(AuditEntry.at >= q.since)
    if q.until:
        stmt = stmt.where(AuditEntry.at < q.until)
    return stmt


def list_entries(
    session: Session,
    actor: Actor,
    query: AuditQuery | None = None,
    *,
    after: int | None = None,
    limit: int = 50,
) -> AuditPage:
    """Entries the actor may see matching ``query``, newest first, older than ``after``."""
    require(actor, "audit.read")
    limit = max(1, min(limit, MAX_LIMIT))
    stmt = _filtered(actor, query or AuditQuery())
    if after is not None:
        stmt = stmt.where(AuditEntry.seq < after)
    rows = list(session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit + 1)))
    more = len(rows) > limit
    items = rows[:limit]
    ids = {i for e in items for i in (e.org_id, e.provider_org_id) if i is not None}
    orgs = (
        {o.id: o for o in session.scalars(select(Organization).where(Organization.id.in_(ids)))}
        if ids
        else {}
    )
    return AuditPage(items, items[-1].seq if more else None, orgs)


def tail(session: Session, n: int = 20) -> list[AuditEntry]:
    """The newest ``n`` entries, oldest first (the CLI's ``zhili audit tail``; no actor:
    whoever can read the database file sees them anyway)."""
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(n))
    return list(reversed(list(rows)))
