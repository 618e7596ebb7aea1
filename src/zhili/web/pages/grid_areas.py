"""Grid geography pages (网格): a map of one area's children that drills down on click
(district → streets → communities → grids) with a table of them, and one area's page —
its chain, children and grid workers, with the assign form for those allowed.

Same services as ``web/api/grid_areas.py``; a refused assignment is shown on the page
with the error's message and status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.apps.grid import areas as service
from zhili.apps.grid import members
from zhili.apps.grid.models import AreaLevel, GridArea
from zhili.errors import ZhiliError
from zhili.web.deps import CurrentActor, DbSession, Locale, authorize
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
READ = [Depends(authorize("grid.read"))]
ASSIGN = [Depends(authorize("grid.assign"))]


def _root(session: Session) -> GridArea | None:
    """The first city: where the map starts."""
    stmt = select(GridArea).where(GridArea.parent_id.is_(None)).order_by(GridArea.code)
    return session.scalars(stmt.limit(1)).first()


def _tree(session: Session, area: GridArea | None) -> dict[str, Any]:
    """What both pages show of an area: its chain, children and their counts."""
    if area is None:
        return {"area": None, "chain": [], "children": [], "child_counts": {}, "counts": {}}
    below = service.children(session, area)
    return {
        "area": area,
        "chain": service.chain(session, area),
        "children": below,
        "child_counts": service.child_counts(session, below),
        "counts": service.descendant_counts(session, area),
    }


@router.get("/grid/areas", dependencies=READ)
def areas_page(request: Request, session: DbSession, parent: str | None = None) -> Response:
    """The map and table of ``parent``'s children (default: the city's districts)."""
    area = service.get_area(session, parent) if parent else _root(session)
    return render(request, "grid_areas.html", {**_tree(session, area), "levels": AreaLevel})


def _area_page(
    request: Request,
    session: Session,
    actor: Actor,
    code: str,
    *,
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
) -> Response:
    area = service.get_area(session, code)
    org = service.command_org(session, area)
    context = {
        **_tree(session, area),
        "levels": AreaLevel,
        "command_org": org,
        "workers": members.workers_of(session, area),
        "may_assign": members.may_assign(session, actor, area),
        "error": error,
        "username": username,
    }
    return render(request, "grid_area.html", context, status_code=status_code)


@router.get("/grid/areas/{code}", dependencies=READ)
def area_page(request: Request, code: str, actor: CurrentActor, session: DbSession) -> Response:
    return _area_page(request, session, actor, code)


def _act(
    request: Request,
    session: Session,
    actor: Actor,
    locale: str,
    code: str,
    action: Callable[[], object],
    username: str = "",
) -> Response:
    """Run a change; on refusal show the area's page again with the message."""
    try:
        action()
    except ZhiliError as exc:
        session.rollback()
        return _area_page(
            request,
            session,
            actor,
            code,
            error=exc.message(locale),
            username=username,
            status_code=exc.status,
        )
    session.commit()
    return RedirectResponse(f"/grid/areas/{code}", status_code=303)


@router.post("/grid/areas/{code}/workers", dependencies=ASSIGN)
def assign(
    request: Request,
    code: str,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    username: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Put a grid worker on this grid (the form of the area's page)."""
    by = f"{actor.username} (page)"

    def act() -> object:
        return members.assign_worker(session, actor, code, username.strip(), by=by)

    return _act(request, session, actor, locale, code, act, username)


@router.post("/grid/areas/{code}/workers/{username}/remove", dependencies=ASSIGN)
def unassign(
    request: Request,
    code: str,
    username: str,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
) -> Response:
    """Take a grid worker off this grid."""

    def act() -> None:
        members.unassign(session, actor, code, username)

    return _act(request, session, actor, locale, code, act)
