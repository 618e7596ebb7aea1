"""Work lists of grid events: the commander's dispatch board (指挥调度台), a department's
inbox (待办) and the map of open events with its heat map — and ``/grid``, which sends
each person to the page they work from.

The lists are ``queries.list_events`` boxes (always narrowed to what the viewer may see);
each row carries the quick actions the viewer may take on it now (``actions_from`` its
state, filtered by ``visibility.may``), posted to the event page's action route, which
comes back here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor, Role, can
from zhili.apps.grid.categories import list_categories, responsible_department
from zhili.apps.grid.duplicates import nearby_open
from zhili.apps.grid.event_models import OPEN_STATES, EventDepartment, GridEvent
from zhili.apps.grid.queries import EventFilter, list_events, open_points
from zhili.apps.grid.visibility import can_see_event, may
from zhili.apps.grid.workflow import Transition, actions_from
from zhili.identity.models import Organization
from zhili.web.deps import CurrentActor, DbSession, Locale, authorize
from zhili.web.pages.grid_events import departments, page, state_labels

router = APIRouter(include_in_schema=False)
READ = [Depends(authorize("grid.read"))]
EVENT_READ = [Depends(authorize("grid.event.read"))]
COMMAND = [Depends(authorize("grid.command"))]
HANDLE = [Depends(authorize("grid.handle"))]

#: rows a board or inbox shows (the most urgent first)
LIST_LIMIT = 200
#: points the map draws at most
MAP_LIMIT = 20_000


def _filter(state: str, category: str, overdue: str) -> dict[str, Any]:
    """The list filters as typed, with the unknown ones dropped (no error for a stale link)."""
    return {
        "state": state if state in OPEN_STATES else "",
        "category": category[:32],
        "overdue": overdue in ("1", "on", "true"),
    }


def _rows(
    session: Session, actor: Actor, events: list[GridEvent], role: str
) -> list[tuple[GridEvent, list[Transition]]]:
    """Each event with the actions of ``role`` the actor may take on it now."""
    out = []
    for e in events:
        actions = [t for t in actions_from(e.state) if t.role == role]
        if actions and not may(session, actor, e, role):
            actions = []
        out.append((e, actions))
    return out


@router.get("/grid", dependencies=READ)
def grid_home(actor: CurrentActor) -> Response:
    """The page one works from: commanders the board, handlers the inbox, grid workers
    the report form, everyone else the map of events."""
    if can(actor, "grid.command") and Role.commander in actor.roles:
        target = "/grid/board"
    elif can(actor, "grid.handle"):
        target = "/grid/inbox"
    elif Role.grid_worker in actor.roles:
        target = "/grid/report"
    elif can(actor, "grid.event.read"):
        target = "/grid/map"
    else:
        target = "/grid/areas"
    return RedirectResponse(target, status_code=303)


@router.get("/grid/board", dependencies=COMMAND)
def board_page(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    locale: Locale,
    state: str = "",
    category: str = "",
    overdue: str = "",
) -> Response:
    """Open events of the commander's area by due time, with their quick actions."""
    f = _filter(state, category, overdue)
    events, total = list_events(
        session, actor,
        EventFilter(box="command", state=f["state"] or None, category=f["category"] or None,
                    overdue=f["overdue"], order="due", limit=LIST_LIMIT),
    )  # fmt: skip
    rows = _rows(session, actor, events, "command")
    suggested: dict[int, Organization] = {}
    merges: dict[int, list[GridEvent]] = {}
    for e, actions in rows:
        names = {t.action for t in actions}
        if names & {"dispatch", "transfer"}:
            suggested[e.id] = responsible_department(session, e.category, e.area)
        if "merge" in names:
            merges[e.id] = [
                d
                for d in nearby_open(session, e.category_id, e.lon, e.lat, exclude=e.id)
                if can_see_event(session, actor, d)
            ]
    query = request.url.query
    context = {
        "rows": rows,
        "total": total,
        "filters": f,
        "states": OPEN_STATES,
        "categories": list_categories(session),
        "departments": departments(session) if suggested else [],
        "suggested": suggested,
        "merges": merges,
        "back": "/grid/board" + (f"?{query}" if query else ""),
        "now": dt.datetime.now(dt.UTC),
        "lang": locale,
    }
    return page(request, "grid_board.html", context)


@router.get("/grid/inbox", dependencies=HANDLE)
def inbox_page(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    locale: Locale,
    overdue: str = "",
) -> Response:
    """Events dispatched to the handler's department and not yet handled, most urgent
    first; 报到 is offered until the department has reported in."""
    f = _filter("", "", overdue)
    events, total = list_events(
        session, actor,
        EventFilter(box="department", overdue=f["overdue"], order="due", limit=LIST_LIMIT),
    )  # fmt: skip
    rows = _rows(session, actor, events, "handle")
    mine = _my_departments(session, actor, [e.id for e in events])
    shown = []
    for e, actions in rows:
        reported_in = bool(mine.get(e.id)) and all(r.acknowledged_at for r in mine[e.id])
        keep = [t for t in actions if not (t.action == "acknowledge" and reported_in)]
        shown.append((e, keep, mine.get(e.id, [])))
    context = {
        "rows": shown,
        "total": total,
        "filters": f,
        "back": "/grid/inbox" + (f"?{request.url.query}" if request.url.query else ""),
        "now": dt.datetime.now(dt.UTC),
        "lang": locale,
    }
    return page(request, "grid_inbox.html", context)


def _my_departments(
    session: Session, actor: Actor, event_ids: list[int]
) -> dict[int, list[EventDepartment]]:
    """The active dispatch rows of the actor's own department (subtree) per event."""
    out: dict[int, list[EventDepartment]] = defaultdict(list)
    if not event_ids:
        return out
    stmt = (
        select(EventDepartment)
        .join(Organization, Organization.id == EventDepartment.department_id)
        .where(
            EventDepartment.event_id.in_(event_ids),
            EventDepartment.active.is_(True),
            Organization.path.startswith(actor.org_path or "\x00"),
        )
    )
    for row in session.scalars(stmt):
        out[row.event_id].append(row)
    return out


def _points(
    session: Session, actor: Actor, f: dict[str, Any]
) -> tuple[list[tuple[int, float, float, str, str]], dict[str, int]]:
    points = open_points(
        session, actor,
        EventFilter(state=f["state"] or "open", category=f["category"] or None),
        limit=MAP_LIMIT,
    )  # fmt: skip
    counts: dict[str, int] = defaultdict(int)
    for p in points:
        counts[p[3]] += 1
    return points, dict(counts)


@router.get("/grid/map", dependencies=EVENT_READ)
def map_page(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    locale: Locale,
    category: str = "",
    state: str = "",
) -> Response:
    """Open events the viewer may see as points coloured by state over the districts,
    with a heat-map toggle; the table of counts per state is the map's fallback."""
    f = _filter(state, category, "")
    _, counts = _points(session, actor, f)
    context = {
        "filters": f,
        "states": OPEN_STATES,
        "counts": counts,
        "states_json": state_labels(locale),
        "categories": list_categories(session),
        "lang": locale,
        "points_url": "/grid/map/points?" + request.url.query,
    }
    return page(request, "grid_map.html", context)


@router.get("/grid/map/points", dependencies=EVENT_READ)
def map_points(
    session: DbSession, actor: CurrentActor, category: str = "", state: str = ""
) -> dict[str, Any]:
    """The map's data: ``[id, lon, lat, state, category]`` per open event the viewer may
    see (at most :data:`MAP_LIMIT`), and the counts per state."""
    points, counts = _points(session, actor, _filter(state, category, ""))
    return {
        "points": [[i, round(x, 6), round(y, 6), s, c] for i, x, y, s, c in points],
        "counts": counts,
        "truncated": len(points) >= MAP_LIMIT,
    }
