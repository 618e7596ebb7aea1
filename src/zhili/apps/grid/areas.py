"""The grid tree (网格): look areas up, walk it up and down, find the area a point lies in,
and the organization commanding an area. Importing lives in ``area_import`` and is
re-exported here, so callers need one module."""

from __future__ import annotations

import datetime as dt

from shapely.geometry import Point, shape
from shapely.prepared import PreparedGeometry, prep
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.apps.grid.area_import import ImportReport, import_areas
from zhili.apps.grid.area_tree import AreaNode, AreaTree, area_tree
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
    "locate_node",
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


def command_org(session: Session, area: GridArea | AreaNode | int) -> Organization | None:
    """The organization commanding ``area`` (or the area of that id): its own, else the
    nearest ancestor's — read off the in-memory tree, so one primary-key get at most."""
    area_id = area if isinstance(area, int) else area.id
    org_id = area_tree(session).command_org_id(area_id)
    return None if org_id is None else session.get(Organization, org_id)


_cached: dict[tuple[int, dt.datetime], PreparedGeometry] = {}


def _polygons(session: Session, nodes: list[AreaNode]) -> list[PreparedGeometry]:
    """The prepared polygons of ``nodes``, cached by id and ``updated_at`` (a re-imported
    area is read again); the missing ones are read in one query. The oldest entry goes
    first when the cache is full."""
    missing = [n.id for n in nodes if (n.id, n.updated_at) not in _cached]
    if missing:
        rows = session.execute(
            select(GridArea.id, GridArea.geometry).where(GridArea.id.in_(missing))
        )
        stamps = {n.id: n.updated_at for n in nodes}
        for area_id, geometry in rows:
            while len(_cached) >= POLYGON_CACHE:
                _cached.pop(next(iter(_cached)))
            _cached[(area_id, stamps[area_id])] = prep(shape(geometry))
    return [_cached[(n.id, n.updated_at)] for n in nodes]


def _pick(session: Session, tree: AreaTree, point: Point, parent_id: int | None) -> int | None:
    """The child of ``parent_id`` (a root when None) whose polygon holds the point: the
    children whose bounding box holds it, then exact tests. Inside wins over on-the-edge;
    among edges the smallest code wins, so the answer is stable."""
    boxed = [n for n in tree.children.get(parent_id, ()) if n.holds_box(point.x, point.y)]
    covering = None
    for node, polygon in zip(boxed, _polygons(session, boxed), strict=True):
        if polygon.contains(point):
            return node.id
        if covering is None and polygon.covers(point):
            covering = node.id
    return covering


def locate_node(session: Session, lon: float, lat: float) -> AreaNode | None:
    """The deepest area containing the point — a grid, else the community, … — found by
    walking down the in-memory tree from the city: each step tests only the children
    whose bounding box holds the point. None when the point is outside every city."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(
            "grid.bad_point",
            "point ({lon}, {lat}) is outside lon -180..180 / lat -90..90",
            field="lon" if not -180 <= lon <= 180 else "lat",
            lon=lon,
            lat=lat,
        )
    tree = area_tree(session)
    point = Point(lon, lat)
    found = None
    for _level in AREA_LEVELS:
        below = _pick(session, tree, point, found)
        if below is None:
            break
        found = below
    return None if found is None else tree.nodes[found]


def locate(session: Session, lon: float, lat: float) -> GridArea | None:
    """:func:`locate_node` as the full row (with its polygon)."""
    node = locate_node(session, lon, lat)
    return None if node is None else session.get(GridArea, node.id)
