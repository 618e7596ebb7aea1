"""Events (事件): report a problem, then move it through the workflow one checked step at
a time — every step recorded with actor, time, note and data, every stage on the clock of
its category's time limit in working time.

A report from a grid worker or the 12345 hotline is registered and dispatched to the
responsible department at once (auto-dispatch, setting ``grid_auto_dispatch``); one from
a resident waits for a commander to register it. Two people acting on one event at the
same moment produce one step: the event row's ``seq`` is its version, and the loser gets
``grid.event_changed`` (409) with nothing of theirs written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from zhili.access import Actor, require
from zhili.apps.grid.event_models import (
    EventDepartment,
    EventFollower,
    EventState,
    EventStep,
    GridEvent,
)
from zhili.apps.grid.reporting import (
    MAX_DESCRIPTION,
    EventReport,
    Reported,
    auto_dispatch_sources,
    command_area_for,
    report_event,
)
from zhili.apps.grid.steps import TOLD, dispatch_to, notify, token_hash, user_key, write_step
from zhili.apps.grid.visibility import can_see_event, may
from zhili.apps.grid.workflow import TRANSITIONS
from zhili.calendar.service import WorkCalendar
from zhili.clock import utcnow
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhili.identity.models import Organization

MAX_NOTE = 2000
MAX_DEPARTMENTS = 8
#: final states whose followers are told


@dataclass(frozen=True, slots=True)
class Action:
    """One workflow action on an event, with what it needs."""

    action: str
    note: str = ""
    departments: Sequence[str] = ()
    lead: str | None = None
    merge_into: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def _departments(session: Session, codes: Sequence[str], lead: str | None) -> list[Organization]:
    wanted = [c.strip() for c in codes if c and c.strip()]
    if not wanted:
        raise InvalidInput(
            "grid.dispatch_no_department", "name at least one department", field="departments"
        )
    if len(set(wanted)) > MAX_DEPARTMENTS:
        raise InvalidInput(
            "grid.dispatch_too_many", "at most {max} departments", field="departments",
            max=MAX_DEPARTMENTS,
        )  # fmt: skip
    found = {
        o.code: o
        for o in session.scalars(select(Organization).where(Organization.code.in_(wanted)))
    }
    for code in wanted:
        if code not in found:
            raise InvalidInput(
                "grid.dispatch_unknown_department", "there is no organization {code}",
                field="departments", code=code,
            )  # fmt: skip
    lead_code = lead or wanted[0]
    if lead_code not in found:
        raise InvalidInput(
            "grid.dispatch_bad_lead", "the lead {code} is not among the departments",
            field="lead", code=lead_code,
        )  # fmt: skip
    ordered = [found[lead_code], *(found[c] for c in dict.fromkeys(wanted) if c != lead_code)]
    return ordered


def get_event(session: Session, actor: Actor, event_id: int) -> GridEvent:
    """The event, if ``actor`` may see it (404 otherwise: existence is not disclosed)."""
    require(actor, "grid.event.read")
    event = session.get(GridEvent, event_id)
    if event is None or not can_see_event(session, actor, event):
        raise NotFound("grid.event_not_found", "no event {id}", id=event_id)
    return event


def act(
    session: Session,
    actor: Actor,
    event_id: int,
    spec: Action,
    calendar: WorkCalendar,
    *,
    now: dt.datetime | None = None,
) -> GridEvent:
    """Take one workflow action; refused with the reason when it does not fit."""
    now = now or utcnow()
    transition = TRANSITIONS.get(spec.action)
    if transition is None:
        raise InvalidInput(
            "grid.unknown_action", "{value!r} is not a workflow action; valid: {valid}",
            field="action", value=spec.action, valid=", ".join(TRANSITIONS),
        )  # fmt: skip
    event = get_event(session, actor, event_id)
    if not may(session, actor, event, transition.role):
        raise Forbidden(
            "grid.not_yours", "you may not {action} event {id}", action=spec.action, id=event.id
        )
    if event.state not in transition.sources:
        raise Conflict(
            "grid.wrong_state", "event {id} is {state}; {action} needs {states}",
            id=event.id, state=event.state, action=spec.action,
            states=", ".join(sorted(transition.sources)),
        )  # fmt: skip
    note = (spec.note or "").strip()
    if transition.reason and not note:
        raise InvalidInput(
            "grid.reason_required", "{action} needs a reason", field="note", action=spec.action
        )
    if len(note) > MAX_NOTE:
        raise InvalidInput(
            "grid.report_too_long", "{field} is longer than {max} characters",
            field="note", max=MAX_NOTE,
        )  # fmt: skip
    try:
        with session.no_autoflush:
            _apply(session, actor, event, transition.target, spec, note, calendar, now)
        session.flush()
    except (StaleDataError, IntegrityError):  # the version check, or step seq + 1 taken
        session.rollback()
        raise Conflict(
            "grid.event_changed",
            "event {id} was changed by someone else at the same moment; reload it",
            id=event_id,
        ) from None
    return event


def _apply(
    session: Session,
    actor: Actor,
    event: GridEvent,
    target: str,
    spec: Action,
    note: str,
    calendar: WorkCalendar,
    now: dt.datetime,
) -> None:
    data: dict[str, Any] = dict(spec.data or {})
    if spec.action in ("dispatch", "transfer"):
        orgs = _departments(session, spec.departments, spec.lead)
        dispatch_to(session, event, orgs, orgs[0], now)
        data |= {"departments": [o.code for o in orgs], "lead": orgs[0].code}
    if spec.action == "acknowledge":
        target = _acknowledge(session, actor, event, now)
    if spec.action == "merge":
        into = _merge_target(session, actor, event, spec.merge_into)
        event.merged_into_id = into.id
        _move_followers(session, event, into)
        data["merged_into"] = into.id
    if spec.action == "reopen":
        event.reopened += 1
    write_step(session, event, actor, spec.action, target, calendar, now, note=note, data=data)
    if target in TOLD:
        notify(session, event, TOLD[EventState(target)], {"note": note, **data})


def _acknowledge(session: Session, actor: Actor, event: GridEvent, now: dt.datetime) -> str:
    """报到: the actor's department takes its part; the event moves when the lead does."""
    rows = session.scalars(
        select(EventDepartment).where(
            EventDepartment.event_id == event.id, EventDepartment.active.is_(True)
        )
    ).all()
    path = actor.org_path or "\x00"
    mine = [r for r in rows if r.department.path.startswith(path)]
    if not mine:
        raise Forbidden(
            "grid.not_yours", "you may not {action} event {id}", action="acknowledge", id=event.id
        )
    for row in mine:
        if row.acknowledged_at is None:
            row.acknowledged_at = now
            row.acknowledged_by = actor.username
    return EventState.acknowledged if any(r.lead for r in mine) else event.state


def _merge_target(
    session: Session, actor: Actor, event: GridEvent, into_id: int | None
) -> GridEvent:
    if into_id is None or into_id == event.id:
        raise InvalidInput(
            "grid.merge_bad_target", "name another open event to merge into", field="merge_into"
        )
    into = get_event(session, actor, into_id)
    if not into.open or into.category_id != event.category_id:
        raise InvalidInput(
            "grid.merge_bad_target", "name another open event to merge into", field="merge_into"
        )
    return into


def _move_followers(session: Session, event: GridEvent, into: GridEvent) -> None:
    """Everyone following the duplicate follows the event it repeats from now on."""
    have = {
        (f.user_id, f.token_hash)
        for f in session.scalars(select(EventFollower).where(EventFollower.event_id == into.id))
    }
    for f in session.scalars(select(EventFollower).where(EventFollower.event_id == event.id)):
        if (f.user_id, f.token_hash) not in have:
            session.add(
                EventFollower(
                    event_id=into.id, user_id=f.user_id, token_hash=f.token_hash,
                    contact=f.contact, via_event_id=event.id,
                )
            )  # fmt: skip


def timeline(session: Session, event: GridEvent) -> list[EventStep]:
    return list(
        session.scalars(
            select(EventStep).where(EventStep.event_id == event.id).order_by(EventStep.seq)
        )
    )


__all__ = [
    "MAX_DESCRIPTION", "Action", "EventReport", "Reported", "act", "auto_dispatch_sources",
    "command_area_for", "get_event", "notify", "report_event", "timeline", "token_hash",
    "user_key",
]  # fmt: skip
