"""The grid tree (网格): look areas up, walk it up and down, find the area a point lies in,
and the organization commanding an area. Importing lives in ``area_import`` and is
re-exported here, so callers need one module."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shapely.geometry import Point, shape
from shapely.prepared import PreparedGeometry, prep
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.apps.grid.area_import import ImportReport, import_areas
from zhili.apps.grid.models import AREA_LEVELS, GridArea
from zhili.errors import InvalidInput, NotFound
from zhili.identity.models import Organization

__all__ = [
    "ImportReport",
    "ancestors",
    "chain",
    "children",
    "command_org",
    "descendant_counts",
    "get_area",
    "import_areas",
    "list_areas",
    "locate",
]

#: Prepared polygons kept for ``locate``; the demo city's grids are about 20,000.
POLYGON_CACHE = 50_000


def get_area(session: Session, code: str) -> GridArea:
    area = session.scalar(select(GridArea).where(GridArea.code == code))
    if area is None:
        raise NotFound("grid.area_not_found", "no grid area with code {code}", code=code)
    return area


def path_ids(area: GridArea) -> list[int]:
    """Ids from the root down to ``area`` itself, read off the materialised path."""
    return [int(part) for part in area.path.strip("/").split("/") if part]


def ancestors(session: Session, area: GridArea) -> list[GridArea]:
    """The areas above ``area``, city first."""
    above = path_ids(area)[:-1]
    if not above:
        return []
    found = {a.id: a for a in session.scalars(select(GridArea).where(GridArea.id.in_(above)))}
    return [found[i] for i in above if i in found]


def chain(session: Session, area: GridArea) -> list[GridArea]:
    """The area with its ancestors, city first: what a breadcrumb shows."""
    return [*ancestors(session, area), area]


def children(session: Session, area: GridArea) -> list[GridArea]:
    """The areas directly below ``area``, by code."""
    stmt = select(GridArea).where(GridArea.parent_id == area.id).order_by(GridArea.code)
    return list(session.scalars(stmt))


def child_counts(session: Session, areas: list[GridArea]) -> dict[int, int]:
    """How many children each of ``areas`` has (one grouped query)."""
    ids = [a.id for a in areas]
    if not ids:
        return {}
    stmt = (
        select(GridArea.parent_id, func.count())
        .where(GridArea.parent_id.in_(ids))
        .group_by(GridArea.parent_id)
    )
    counts = {int(pid): int(n) for pid, n in session.execute(stmt)}
    return {i: counts.get(i, 0) for i in ids}


def descendant_counts(session: Session, area: GridArea) -> dict[str, int]:
    """Areas below ``area`` per level (a district: its streets, communities and grids)."""
    stmt = (
        select(GridArea.level, func.count())
        .where(GridArea.path.startswith(area.path, autoescape=True), GridArea.id != area.id)
        .group_by(GridArea.level)
    )
    counts = {str(level): int(n) for level, n in session.execute(stmt)}
    return {level.value: counts[level] for level in AREA_LEVELS if level in counts}


def list_areas(
    session: Session, level: str | None = None, parent_code: str | None = None
) -> list[GridArea]:
    """Areas of one level and/or directly under one parent, by code."""
    stmt = select(GridArea)
    if level is not None:
        if level not in {lvl.value for lvl in AREA_LEVELS}:
            raise InvalidInput(
                "grid.bad_level",
                "level {value!r} is not one of {valid}",
                field="level",
                value=level,
                valid=", ".join(AREA_LEVELS),
            )
        stmt = stmt.where(GridArea.level == level)
    if parent_code is not None:
        stmt = stmt.where(GridArea.parent_id == get_area(session, parent_code).id)
    return list(session.scalars(stmt.order_by(GridArea.code)))


def command_org(session: Session, area: GridArea) -> Organization | None:
    """The organization commanding ``area``: its own, else the nearest ancestor's."""
    ids = path_ids(area) or [area.id]
    rows = session.execute(
        select(GridArea.id, GridArea.org_id).where(
            GridArea.id.in_(ids), GridArea.org_id.is_not(None)
        )
    )
    with_org = {i: o for i, o in rows}
    for area_id in reversed(ids):
        if area_id in with_org:
            return session.get(Organization, with_org[area_id])
    return None


_cached: dict[tuple[int, dt.datetime], PreparedGeometry] = {}


def _polygon(session: Session, area_id: int, stamp: dt.datetime) -> PreparedGeometry:
    """One area's prepared polygon, cached by id and ``updated_at`` so that a re-import
    of the area is picked up; the oldest entry goes first when the cache is full."""
    cached = _cached.get((area_id, stamp))
    if cached is not None:
        return cached
    geometry: Any = session.scalar(select(GridArea.geometry).where(GridArea.id == area_id))
    prepared = prep(shape(geometry))
    if len(_cached) >= POLYGON_CACHE:
        _cached.pop(next(iter(_cached)))
    _cached[(area_id, stamp)] = prepared
    return prepared


def _pick(session: Session, point: Point, parent_id: int | None) -> int | None:
    """The child of ``parent_id`` (a root when None) whose polygon holds the point: an
    indexed query for the children whose bounding box holds it, then exact tests. Inside
    wins over on-the-edge; among edges the smallest code wins, so the answer is stable."""
    lon, lat = point.x, point.y
    stmt = (
        select(GridArea.id, GridArea.updated_at)
        .where(
            GridArea.parent_id.is_(None) if parent_id is None else GridArea.parent_id == parent_id,
            GridArea.min_lon <= lon,
            GridArea.max_lon >= lon,
            GridArea.min_lat <= lat,
            GridArea.max_lat >= lat,
        )
        .order_by(GridArea.code)
    )
    covering = None
    for area_id, stamp in session.execute(stmt):
        polygon = _polygon(session, area_id, stamp)
        if polygon.contains(point):
            return int(area_id)
        if covering is None and polygon.covers(point):
            covering = int(area_id)
    return covering


def locate(session: Session, lon: float, lat: float) -> GridArea | None:
    """The deepest area containing the point — a grid, else the community, … — found by
    walking down from the city: each step looks only at one area's children (about 20)
    through the parent index. None when the point is outside every city."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(
            "grid.bad_point",
            "point ({lon}, {lat}) is outside lon -180..180 / lat -90..90",
            field="lon" if not -180 <= lon <= 180 else "lat",
            lon=lon,
            lat=lat,
        )
    point = Point(lon, lat)
    found = None
    for _level in AREA_LEVELS:
        below = _pick(session, point, found)
        if below is None:
            break
        found = below
    return None if found is None else session.get(GridArea, found)
