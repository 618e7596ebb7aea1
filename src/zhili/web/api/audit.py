"""The audit log over HTTP: read entries (filtered, keyset pages) and verify the chain.
Read-only by design: no route writes the log; the services that act append to it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from zhili.audit import anchors
from zhili.audit.models import AuditEntry
from zhili.audit.queries import MAX_LIMIT, AuditQuery, list_entries
from zhili.audit.verify import verify
from zhili.identity.models import Organization
from zhili.web.deps import CurrentActor, DbSession, SettingsDep, authorize

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
READ = [Depends(authorize("audit.read"))]
VERIFY = [Depends(authorize("audit.verify"))]


class AuditEntryOut(BaseModel):
    seq: int
    at: dt.datetime
    kind: str
    action: str
    actor_id: int | None
    actor_username: str | None
    org_id: int | None
    org_code: str | None
    system: str | None
    grant_id: int | None
    purpose: str | None
    resource_code: str | None
    provider_org_id: int | None
    provider_code: str | None
    version: int | None
    fields: list[str]
    row_count: int | None
    query_fingerprint: str | None
    outcome: str
    error_code: str | None
    latency_ms: float | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: AuditEntry, orgs: dict[int, Organization]) -> AuditEntryOut:
        def code(org_id: int | None) -> str | None:
            org = orgs.get(org_id) if org_id is not None else None
            return org.code if org else None

        values = {name: getattr(e, name) for name in cls.model_fields if hasattr(e, name)}
        return cls(**values, org_code=code(e.org_id), provider_code=code(e.provider_org_id))


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    next_after: int | None


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    broken_seq: int | None
    reason: str | None
    message: str
    anchors_checked: int
    seconds: float


def query_of(
    resource: str | None = None,
    provider: str | None = None,
    consumer: str | None = None,
    grant: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    kind: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> AuditQuery:
    """Filters from query parameters (shared with the page)."""
    return AuditQuery(
        resource=resource or None,
        provider=provider or None,
        consumer=consumer or None,
        grant=grant,
        actor=actor or None,
        action=action or None,
        outcome=outcome or None,
        kind=kind or None,
        since=_aware(since),
        until=_aware(until),
    )


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """A time without a zone is the city's local time."""
    if value is None or value.tzinfo is not None:
        return value
    from zhili.clock import CITY_TZ

    return value.replace(tzinfo=CITY_TZ)


@router.get("", dependencies=READ)
def list_audit(
    actor: CurrentActor,
    session: DbSession,
    query: Annotated[AuditQuery, Depends(query_of)],
    after: Annotated[int | None, Query(ge=1, description="seq: entries older than this")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> AuditPageOut:
    """Entries the caller may see, newest first: auditors all, providers their own data's."""
    page = list_entries(session, actor, query, after=after, limit=limit)
    return AuditPageOut(
        items=[AuditEntryOut.of(e, page.orgs) for e in page.items], next_after=page.next_after
    )


@router.get("/verify", dependencies=VERIFY)
def verify_chain(request: Request, settings: SettingsDep) -> VerifyOut:
    """Recompute the whole chain and check the recorded heads; names the first broken entry."""
    known = anchors.load(anchors.anchors_path(settings.home))
    result = verify(request.app.state.db, anchors=known)
    return VerifyOut(**result.as_dict())
