"""Escalation of overdue work: requests and objections not answered within their working-day
deadline go to the bureau once, with a transition saying so (run by periodic housekeeping)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.clock import utcnow

T = TypeVar("T")
REASON = "overdue: escalated to the bureau"


def escalate(
    session: Session,
    model: type[T],
    waiting: Collection[str],
    transition: Callable[[T], Any],
    now: dt.datetime | None = None,
) -> list[T]:
    """Mark every ``model`` row in a ``waiting`` state past its ``due_at`` as escalated and
    add its ``transition(row)`` record; rows escalated before are left alone."""
    now = now or utcnow()
    table: Any = model
    overdue = session.scalars(
        select(model).where(
            table.state.in_(list(waiting)),
            table.due_at < now,
            table.escalated.is_(False),
        )
    ).all()
    for row in overdue:
        row.escalated = True  # type: ignore[attr-defined]
        session.add(transition(row))
    return list(overdue)
