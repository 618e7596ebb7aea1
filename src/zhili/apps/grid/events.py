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
import hashlib
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from zhili.access import Actor, require
from zhili.apps.grid.answers import validate_answers
from zhili.apps.grid.areas import ancestors, locate
from zhili.apps.grid.categories import get_category, responsible_department
from zhili.apps.grid.clock import enter_state
from zhili.apps.grid.duplicates import nearby_open
from zhili.apps.grid.event_models import (
    EventDepartment,
    EventFollower,
    EventNotice,
    EventState,
    EventStep,
    GridEvent,
    Source,
)
from zhili.apps.grid.models import AREA_DEPTH, AreaLevel, GridArea
from zhili.apps.grid.visibility import can_see_event, may
from zhili.apps.grid.workflow import TRANSITIONS
from zhili.calendar.service import WorkCalendar
from zhili.clock import utcnow
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhili.identity.models import Organization

MAX_DESCRIPTION = 2000
MAX_NOTE = 2000
MAX_DEPARTMENTS = 8
#: final states whose followers are told
TOLD = {EventState.closed: "closed", EventState.rejected: "rejected", EventState.merged: "merged"}


@dataclass(frozen=True, slots=True)
class EventReport:
    """What a reporter says: the category (service code), the spot, what is wrong."""

    category: str
    lon: float
    lat: float
    description: str
    answers: Mapping[str, Any] = field(default_factory=dict)
    address: str = ""
    source: str = Source.api
    external_id: str | None = None
    reporter_name: str | None = None
    reporter_contact: str | None = None
    #: when it happened, for imports of earlier tickets (never in the future)
    reported_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Reported:
    event: GridEvent
    #: open events of the same category within 50 m, offered as the same problem
    duplicates: list[GridEvent]
    #: the anonymous reporter's secret to follow and rate the event (shown once)
    follow_token: str | None


@dataclass(frozen=True, slots=True)
class Action:
    """One workflow action on an event, with what it needs."""

    action: str
    note: str = ""
    departments: Sequence[str] = ()
    lead: str | None = None
    merge_into: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_key(user_id: int) -> str:
    """A user follower's ``token_hash``: (event, token_hash) is unique, so each user needs
    a key of their own (never a SHA-256 hex digest, so never a token's)."""
    return f"user:{user_id}"


# --- report -------------------------------------------------------------------------------


def _check_spot(lon: Any, lat: Any) -> tuple[float, float]:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        x = y = math.nan
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidInput(
            "grid.report_bad_spot",
            "the spot ({lon}, {lat}) is not a longitude and latitude",
            field="lat",
            lon=lon,
            lat=lat,
        )
    return x, y


def _check_text(spec: EventReport) -> str:
    text = (spec.description or "").strip()
    if not text:
        raise InvalidInput("grid.report_no_description", "say what is wrong", field="description")
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(
            "grid.report_too_long",
            "{field} is longer than {max} characters",
            field="description",
            max=MAX_DESCRIPTION,
        )
    for name, value, limit in (
        ("address", spec.address, 300),
        ("external_id", spec.external_id, 64),
        ("reporter_name", spec.reporter_name, 100),
        ("reporter_contact", spec.reporter_contact, 200),
    ):
        if value is not None and len(value) > limit:
            raise InvalidInput(
                "grid.report_too_long", "{field} is longer than {max} characters",
                field=name, max=limit,
            )  # fmt: skip
    return text


def _command_area(session: Session, area: GridArea, level: str) -> GridArea:
    """The area at ``level`` above (or at) ``area``: whose command centre takes it."""
    for candidate in [area, *reversed(ancestors(session, area))]:
        if AREA_DEPTH[AreaLevel(candidate.level)] <= AREA_DEPTH[AreaLevel(level)]:
            return candidate
    return area


def auto_dispatch_sources() -> frozenset[str]:
    from zhili.settings import get_settings

    return frozenset(s.strip() for s in get_settings().grid_auto_dispatch.split(",") if s.strip())


def report_event(
    session: Session,
    actor: Actor,
    spec: EventReport,
    calendar: WorkCalendar,
    *,
    now: dt.datetime | None = None,
) -> Reported:
    """Record a report (上报); auto-dispatched when its source is trusted (see module)."""
    require(actor, "grid.report")
    now = now or utcnow()
    if spec.source not in Source.__members__:
        raise InvalidInput(
            "grid.report_bad_source", "source {value!r} is not one of {valid}",
            field="source", value=spec.source, valid=", ".join(Source),
        )  # fmt: skip
    if spec.source == Source.grid_worker and "grid_worker" not in actor.roles:
        raise Forbidden("grid.not_grid_worker", "only grid workers report as grid workers")
    if spec.reported_at is not None:
        if spec.reported_at > now:
            raise InvalidInput(
                "grid.report_in_future", "{field} is in the future", field="reported_at"
            )
        now = spec.reported_at
    category = get_category(session, spec.category)
    if not category.active:
        raise InvalidInput(
            "grid.category_retired", "category {code} is no longer used",
            field="category", code=category.code,
        )  # fmt: skip
    lon, lat = _check_spot(spec.lon, spec.lat)
    text = _check_text(spec)
    answers = validate_answers(category, dict(spec.answers or {}))
    area = locate(session, lon, lat)
    if area is None:
        raise InvalidInput(
            "grid.report_outside", "the spot ({lon}, {lat}) is outside every area of the city",
            field="lat", lon=lon, lat=lat,
        )  # fmt: skip
    if spec.external_id:
        twin = session.scalar(
            select(GridEvent).where(
                GridEvent.source == spec.source, GridEvent.external_id == spec.external_id
            )
        )
        if twin is not None:
            raise Conflict(
                "grid.report_known", "{source} ticket {external_id} is event {id} already",
                source=spec.source, external_id=spec.external_id, id=twin.id,
            )  # fmt: skip
    command = _command_area(session, area, category.level)
    event = GridEvent(
        category=category, area=area, command_area=command, level=command.level,
        lon=lon, lat=lat, address=spec.address or "", description=text, answers=answers,
        source=spec.source, external_id=spec.external_id or None,
        reporter_id=actor.user_id, reporter_name=spec.reporter_name,
        reporter_contact=spec.reporter_contact, state=EventState.reported, open=True, seq=0,
        reported_at=now,
    )  # fmt: skip
    duplicates = nearby_open(session, category.id, lon, lat)
    session.add(event)
    session.flush()  # its id, for the steps
    _step(session, event, actor, "report", EventState.reported, calendar, now)
    token = None
    if actor.user_id is not None:
        session.add(
            EventFollower(
                event_id=event.id, user_id=actor.user_id, token_hash=user_key(actor.user_id)
            )
        )
    else:
        token = secrets.token_urlsafe(18)
        session.add(
            EventFollower(
                event_id=event.id, token_hash=token_hash(token), contact=spec.reporter_contact
            )
        )
    if spec.source in auto_dispatch_sources():
        system = _system_actor()
        _step(session, event, system, "register", EventState.registered, calendar, now)
        department = responsible_department(session, category, area)
        _dispatch(session, event, [department], department, now)
        _step(
            session, event, system, "dispatch", EventState.dispatched, calendar, now,
            data={"departments": [department.code], "lead": department.code, "auto": True},
        )  # fmt: skip
    session.flush()
    return Reported(event, duplicates, token)


def _system_actor() -> Actor:
    from zhili.access import system_actor

    return system_actor()


# --- steps --------------------------------------------------------------------------------


def _step(
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
        event_id=event.id,
        seq=event.seq,
        action=action,
        from_state=before,
        to_state=state,
        actor_id=actor.user_id,
        actor_name=actor.username or "system",
        org_id=actor.org_id,
        note=note,
        data={**(data or {}), **left},
        at=now,
    )
    session.add(step)
    return step


def _dispatch(
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
            row = EventDepartment(event_id=event.id, department_id=org.id)
            session.add(row)
        row.active, row.lead, row.dispatched_at = True, org.id == lead.id, now
        row.acknowledged_at = row.acknowledged_by = None
    event.lead_department_id = lead.id


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
        _dispatch(session, event, orgs, orgs[0], now)
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
    _step(session, event, actor, spec.action, target, calendar, now, note=note, data=data)
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


def timeline(session: Session, event: GridEvent) -> list[EventStep]:
    return list(
        session.scalars(
            select(EventStep).where(EventStep.event_id == event.id).order_by(EventStep.seq)
        )
    )
