"""The exchange's audit records: every read through the door, allowed or refused, lands in
the hash-chained audit log inside the reading request's own transaction — so the record
commits before the response (and its rows) leaves, or not at all. A refusal or a failed
query is committed at once (with whatever the check itself changed, such as a grant found
expired), because the request's transaction is rolled back when the error propagates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.audit import AuditEvent, append
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
) -> None:
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
