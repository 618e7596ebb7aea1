"""Lists of events for boards, inboxes, maps and APIs — always narrowed to what the
actor may see (`visibility.visible_filter`), then by the caller's filters.

* a commander's dispatch board: ``box="command"`` — open events whose current command
  area is run from inside the actor's organization (escalated ones reach the level above);
* a department's inbox: ``box="department"`` — events dispatched to it, not yet handled;
* a grid worker's list: ``box="grid"`` — events of the grids they walk;
* ``box="mine"``: what the actor reported or follows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from zhili.access import Actor, require
from zhili.apps.grid.event_models import (
    OPEN_STATES,
    EventDepartment,
    EventFollower,
    EventState,
    GridEvent,
)
from zhili.apps.grid.models import EventCategory, GridArea, GridMember
from zhili.apps.grid.visibility import org_subtree, visible_filter
from zhili.errors import InvalidInput

BOXES = ("all", "command", "department", "grid", "mine")
ORDERS = {"due": "due_at", "newest": "reported_at", "oldest": "reported_at"}
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class EventFilter:
    box: str = "all"
    state: str | None = None  #: a state, or "open" / "closed"
    category: str | None = None
    area: str | None = None  #: an area code: events located inside its subtree
    overdue: bool = False
    supervised: bool = False
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    order: str = "due"
    limit: int = 50
    offset: int = 0


def _bad(field: str, value: Any, valid: str) -> InvalidInput:
    return InvalidInput(
        "grid.bad_filter", "{field}: {value!r} is not one of {valid}",
        field=field, value=value, valid=valid,
    )  # fmt: skip


def _box(stmt: Select[Any], actor: Actor, box: str) -> Select[Any]:
    if box == "command":
        runs = select(GridArea.id).where(GridArea.org_id.in_(org_subtree(actor)))
        return stmt.where(GridEvent.command_area_id.in_(runs), GridEvent.open.is_(True))
    if box == "department":
        waiting = select(EventDepartment.event_id).where(
            EventDepartment.active.is_(True), EventDepartment.department_id.in_(org_subtree(actor))
        )
        states = (EventState.dispatched, EventState.acknowledged, EventState.in_progress)
        return stmt.where(GridEvent.id.in_(waiting), GridEvent.state.in_(states))
    if box == "grid":
        walked = select(GridMember.area_id).where(GridMember.user_id == (actor.user_id or -1))
        return stmt.where(GridEvent.area_id.in_(walked))
    if box == "mine":
        followed = select(EventFollower.event_id).where(
            EventFollower.user_id == (actor.user_id or -1)
        )
        return stmt.where(GridEvent.id.in_(followed))
    return stmt


def _filtered(session: Session, actor: Actor, f: EventFilter, now: dt.datetime) -> Select[Any]:
    if f.box not in BOXES:
        raise _bad("box", f.box, ", ".join(BOXES))
    stmt = select(GridEvent).where(visible_filter(session, actor))
    stmt = _box(stmt, actor, f.box)
    if f.state == "open":
        stmt = stmt.where(GridEvent.open.is_(True))
    elif f.state == "closed":
        stmt = stmt.where(GridEvent.open.is_(False))
    elif f.state:
        if f.state not in EventState.__members__:
            raise _bad("state", f.state, ", ".join(["open", "closed", *EventState]))
        stmt = stmt.where(GridEvent.state == f.state)
    if f.category:
        stmt = stmt.where(
            GridEvent.category_id.in_(
                select(EventCategory.id).where(EventCategory.code == f.category)
            )
        )
    if f.area:
        root = session.scalar(select(GridArea.path).where(GridArea.code == f.area))
        if root is None:
            raise InvalidInput(
                "grid.area_not_found", "No grid area with code {code}.", code=f.area,
                field="area",
            )  # fmt: skip
        stmt = stmt.where(
            GridEvent.area_id.in_(select(GridArea.id).where(GridArea.path.startswith(root)))
        )
    if f.overdue:
        stmt = stmt.where(
            GridEvent.open.is_(True), GridEvent.stage_due_at.is_not(None),
            GridEvent.stage_due_at < now,
        )  # fmt: skip
    if f.supervised:
        stmt = stmt.where(GridEvent.supervised.is_(True))
    if f.since is not None:
        stmt = stmt.where(GridEvent.reported_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(GridEvent.reported_at < f.until)
    return stmt


def list_events(
    session: Session, actor: Actor, f: EventFilter, *, now: dt.datetime | None = None
) -> tuple[list[GridEvent], int]:
    """One page of the events ``actor`` may see that match ``f``, and how many match."""
    require(actor, "grid.event.read")
    if f.order not in ORDERS:
        raise _bad("order", f.order, ", ".join(ORDERS))
    if not 1 <= f.limit <= MAX_LIMIT or f.offset < 0:
        raise InvalidInput(
            "grid.bad_page", "limit must be 1–{max} and offset ≥ 0", field="limit",
            max=MAX_LIMIT,
        )  # fmt: skip
    now = now or dt.datetime.now(dt.UTC)
    stmt = _filtered(session, actor, f, now)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    if f.order == "due":
        order = [GridEvent.due_at.is_(None), GridEvent.due_at, GridEvent.id]
    elif f.order == "newest":
        order = [GridEvent.reported_at.desc(), GridEvent.id.desc()]
    else:
        order = [GridEvent.reported_at, GridEvent.id]
    rows = session.scalars(stmt.order_by(*order).limit(f.limit).offset(f.offset)).all()
    return list(rows), total


def open_points(
    session: Session, actor: Actor, f: EventFilter, *, limit: int = 20_000
) -> list[tuple[int, float, float, str, str]]:
    """(id, lon, lat, state, category code) of matching events, for maps and heat maps."""
    require(actor, "grid.event.read")
    now = dt.datetime.now(dt.UTC)
    stmt = _filtered(session, actor, f, now).subquery()
    rows = session.execute(
        select(stmt.c.id, stmt.c.lon, stmt.c.lat, stmt.c.state, EventCategory.code)
        .join(EventCategory, and_(EventCategory.id == stmt.c.category_id))
        .limit(limit)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


__all__ = ["BOXES", "OPEN_STATES", "EventFilter", "list_events", "open_points"]
