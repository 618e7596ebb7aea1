"""Reports (上报): check what a reporter says, locate it, offer duplicates, record it —
and, for trusted sources (setting ``grid_auto_dispatch``: grid workers on site, screened
12345 tickets), register and dispatch it to the responsible department at once."""

from __future__ import annotations

import datetime as dt
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor, require
from zhili.apps.grid.answers import validate_answers
from zhili.apps.grid.area_tree import AreaNode, area_tree
from zhili.apps.grid.areas import locate_node
from zhili.apps.grid.categories import get_category, responsible_department
from zhili.apps.grid.duplicates import nearby_open
from zhili.apps.grid.event_models import (
    EventFollower,
    EventState,
    GridEvent,
    Source,
)
from zhili.apps.grid.models import GridArea
from zhili.apps.grid.steps import dispatch_to, token_hash, user_key, write_step
from zhili.calendar.service import WorkCalendar
from zhili.clock import utcnow
from zhili.errors import Conflict, Forbidden, InvalidInput

MAX_DESCRIPTION = 2000
#: final states whose followers are told


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


def command_area_for(session: Session, area: GridArea | AreaNode, level: str) -> AreaNode:
    """The area at ``level`` above (or at) ``area``: whose command centre takes it."""
    return area_tree(session).at_level(area.id, level)


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
    area = locate_node(session, lon, lat)
    if area is None:
        raise InvalidInput(
            "grid.report_outside", "the spot ({lon}, {lat}) is outside every area of the city",
            field="lat", lon=lon, lat=lat,
        )  # fmt: skip
    if spec.external_id:
        twin = session.scalar(
            select(GridEvent.id).where(
                GridEvent.source == spec.source, GridEvent.external_id == spec.external_id
            )
        )
        if twin is not None:
            raise Conflict(
                "grid.report_known", "{source} ticket {external_id} is event {id} already",
                source=spec.source, external_id=spec.external_id, id=twin,
            )  # fmt: skip
    command = command_area_for(session, area, category.level)
    # every read first: nothing is flushed until the event and its steps are complete,
    # so one flush inserts the event, then its steps, follower and department
    duplicates = nearby_open(session, category.id, lon, lat)
    auto = spec.source in auto_dispatch_sources()
    department = responsible_department(session, category, area) if auto else None
    event = GridEvent(
        category=category, area_id=area.id, command_area_id=command.id, level=command.level,
        lon=lon, lat=lat, address=spec.address or "", description=text, answers=answers,
        source=spec.source, external_id=spec.external_id or None,
        reporter_id=actor.user_id, reporter_name=spec.reporter_name,
        reporter_contact=spec.reporter_contact, state=EventState.reported, open=True, seq=0,
        reported_at=now,
    )  # fmt: skip
    session.add(event)
    write_step(session, event, actor, "report", EventState.reported, calendar, now)
    token = None
    if actor.user_id is not None:
        key = user_key(actor.user_id)
        session.add(EventFollower(event=event, user_id=actor.user_id, token_hash=key))
    else:
        token = secrets.token_urlsafe(18)
        session.add(
            EventFollower(event=event, token_hash=token_hash(token), contact=spec.reporter_contact)
        )
    if department is not None:
        system = _system_actor()
        write_step(session, event, system, "register", EventState.registered, calendar, now)
        dispatch_to(session, event, [department], department, now)
        write_step(
            session, event, system, "dispatch", EventState.dispatched, calendar, now,
            data={"departments": [department.code], "lead": department.code, "auto": True},
        )  # fmt: skip
    session.flush()
    return Reported(event, duplicates, token)


def _system_actor() -> Actor:
    from zhili.access import system_actor

    return system_actor()
