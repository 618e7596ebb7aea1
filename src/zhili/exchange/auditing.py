"""The exchange's audit records: every read through the door, allowed or refused, lands in
the hash-chained audit log, committed before the response (and its rows) leaves.

A read's record — and the grant's usage counters, which must move with it — go through
the database's shared appender (`zhili.audit.shared_log`): concurrent reads share one
commit, and the reading request's own transaction stays read-only, so readers never queue
for the write lock. A session that has already written holds that lock, so its record is
appended inside its own transaction instead (and committed there at once when the read
failed, because the failing request is rolled back).

A refusal is committed in the request's transaction at once, with whatever the check
itself changed (such as a grant found expired)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.audit import AuditEvent, append, log_of, session_wrote
from zhili.audit.log import Also
from zhili.audit.models import Outcome

if TYPE_CHECKING:
    from zhili.exchange.door import Access


def record_access(
    session: Session,
    actor: Actor,
    access: Access,
    *,
    action: str,
    version: int | None,
    rows: int | None,
    fingerprint: str,
    outcome: str,
    latency_ms: float,
    also: Also | None = None,
) -> None:
    """Record one read (``also``: writes that commit with the record, e.g. metering)."""
    grant = access.grant
    ok = outcome == "ok"
    event = AuditEvent.access(
        actor,
        action,
        grant_id=grant.id if grant else None,
        purpose=grant.purpose if grant else access.basis,
        resource_code=access.resource.code,
        provider_org_id=access.resource.provider_id,
        version=version,
        fields=list(access.fields),
        row_count=rows,
        query_fingerprint=fingerprint,
        outcome=Outcome.ok if ok else Outcome.error,
        error_code=None if ok else outcome.removeprefix("error:")[:64],
        latency_ms=round(latency_ms, 3),
    )
    shared = log_of(session)
    if shared is not None and not session_wrote(session):
        shared.record(event, also=also)
        return
    if also is not None:
        also(session.connection())
    append(session, [event])
    if not ok:
        session.commit()


def record_denial(
    session: Session,
    actor: Actor,
    *,
    action: str,
    resource_code: str,
    provider_org_id: int | None,
    code: str,
) -> None:
    """A refused read (no grant, expired, over quota …), kept although the request fails."""
    append(
        session,
        [
            AuditEvent.access(
                actor,
                action,
                resource_code=resource_code,
                provider_org_id=provider_org_id,
                outcome=Outcome.denied,
                error_code=code[:64],
                row_count=0,
            )
        ],
    )
    session.commit()
