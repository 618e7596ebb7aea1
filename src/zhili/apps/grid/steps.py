"""Writing an event's steps: the one place that appends step seq + 1, moves the state and
its stage clock, (re)assigns departments and leaves notices for followers — shared by the
report (`reporting`) and every later action (`events`)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.apps.grid.clock import enter_state
from zhili.apps.grid.event_models import (
    EventDepartment,
    EventFollower,
    EventNotice,
    EventState,
    EventStep,
    GridEvent,
)
from zhili.calendar.service import WorkCalendar
from zhili.identity.models import Organization

#: final states whose followers are told
TOLD = {EventState.closed: "closed", EventState.rejected: "rejected", EventState.merged: "merged"}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_key(user_id: int) -> str:
    """A user follower's ``token_hash``: (event, token_hash) is unique, so each user needs
    a key of their own (never a SHA-256 hex digest, so never a token's)."""
    return f"user:{user_id}"


# --- steps --------------------------------------------------------------------------------


def write_step(
    session: Session,
    event: GridEvent,
    actor: Actor,
    action: str,
    state: str,
    calendar: WorkCalendar,
    now: dt.datetime,
    *,
    note: str = "",
    data: Mapping[str, Any] | None = None,
) -> EventStep:
    """Append step seq + 1 and move the event (its clock too) to ``state``."""
    before = None if action == "report" else event.state
    left = enter_state(event, state, action, calendar, now)
    event.seq += 1
    event.state = state
    event.open = state not in TOLD
    if not event.open:
        event.closed_at = now
    step = EventStep(
        event=event,
        area_id=event.area_id,
        seq=event.seq,
        action=action,
        from_state=before,
        to_state=state,
        actor_id=actor.user_id,
        actor_name=actor.username or "system",
        org_id=actor.org_id,
        note=note,
        data={**(data or {}), **left},
        stage=left.get("stage"),
        late=left.get("late"),
        work_minutes=left.get("work_minutes"),
        at=now,
    )
    session.add(step)
    return step


def dispatch_to(
    session: Session,
    event: GridEvent,
    departments: Sequence[Organization],
    lead: Organization,
    now: dt.datetime,
) -> None:
    """吹哨: these departments (``lead`` first) take the event; any others step back. A
    department dispatched to again gets its row back, to report in afresh."""
    rows = {}
    if event.id is not None:
        rows = {
            r.department_id: r
            for r in session.scalars(
                select(EventDepartment).where(EventDepartment.event_id == event.id)
            )
        }
    wanted = {org.id for org in departments}
    for department_id, row in rows.items():
        if department_id not in wanted:
            row.active = False
    for org in departments:
        row = rows.get(org.id)
        if row is None:
            row = EventDepartment(event=event, department_id=org.id)
            session.add(row)
        row.active, row.lead, row.dispatched_at = True, org.id == lead.id, now
        row.acknowledged_at = row.acknowledged_by = None
    event.lead_department_id = lead.id


def notify(session: Session, event: GridEvent, kind: str, params: Mapping[str, Any]) -> int:
    """Leave a notice for every follower of ``event``; returns how many."""
    followers = session.scalars(
        select(EventFollower).where(EventFollower.event_id == event.id)
    ).all()
    for f in followers:
        session.add(
            EventNotice(follower_id=f.id, event_id=event.id, kind=kind, params=dict(params))
        )
    return len(followers)
