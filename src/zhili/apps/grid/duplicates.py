"""Duplicates (重复上报): a report within 50 m of an open event of the same category is most
likely the same problem — offered as such, so the reporter can follow that event instead
and a commander can merge the two (everyone following either is told when it closes)."""

from __future__ import annotations

import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.apps.grid.event_models import GridEvent

RADIUS_M = 50.0
EARTH_M = 6_371_008.8
_M_PER_DEG_LAT = math.pi * EARTH_M / 180
LIMIT = 10


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine; exact enough at 50 m)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def nearby_open(
    session: Session,
    category_id: int,
    lon: float,
    lat: float,
    *,
    radius_m: float = RADIUS_M,
    exclude: int | None = None,
) -> list[GridEvent]:
    """Open events of the category within ``radius_m`` of the spot, nearest first: a box
    query on the (category, open) index, then the exact distance."""
    dlat = radius_m / _M_PER_DEG_LAT
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    stmt = select(GridEvent.id, GridEvent.lon, GridEvent.lat).where(
        GridEvent.category_id == category_id,
        GridEvent.open.is_(True),
        GridEvent.lat.between(lat - dlat, lat + dlat),
        GridEvent.lon.between(lon - dlon, lon + dlon),
    )
    if exclude is not None:
        stmt = stmt.where(GridEvent.id != exclude)
    near = sorted(
        (d, i)
        for i, x, y in session.execute(stmt.limit(500))
        if (d := distance_m(lon, lat, x, y)) <= radius_m
    )[:LIMIT]
    if not near:
        return []
    found = {
        e.id: e
        for e in session.scalars(select(GridEvent).where(GridEvent.id.in_([i for _, i in near])))
    }
    return [found[i] for _, i in near if i in found]
