"""Administrative acts on the record: who changed who may do or see what.

Services call :func:`record_act` inside their own transaction, after their writes, so the
act and its audit entry commit together or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from zhili.access.actor import Actor
from zhili.audit.events import AuditEvent
from zhili.audit.log import append


def record_act(session: Session, actor: Actor, action: str, **values: Any) -> None:
    """Append one ``admin`` entry (``values``: resource_code, grant_id, detail, …)."""
    session.flush()
    append(session, [AuditEvent.admin(actor, action, **values)])
