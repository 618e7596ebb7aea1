"""The demo city's grid governance (津治通): the grid tree of 示例市 with every polygon, the
shipped event catalogue, and the demo grid worker's beat.

The tree comes from the same synthetic city as the organizations (`zhili.synth.city`), so
each district, street and community area is commanded by the government organization
with its code. ``gridworker`` walks the grids of the first community of the first street
— the street ``commander`` commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from zhili.access import system_actor
from zhili.apps.grid.areas import import_areas
from zhili.apps.grid.categories import import_categories, load_shipped
from zhili.apps.grid.members import assign_workers
from zhili.apps.grid.models import EventCategory, GridArea, GridMember
from zhili.clock import utcnow
from zhili.db import Database
from zhili.demo_events import load_events
from zhili.synth.city import LEVELS, City

GRID_WORKER = "gridworker"


#: events in the demo's year at most (one per five residents below that)
MAX_EVENTS = 50_000


@dataclass(frozen=True, slots=True)
class GridReport:
    areas: int
    categories: int
    worker_grids: int
    events: int = 0


def city_areas(city: City) -> dict[str, Any]:
    """Every level of the city as one FeatureCollection, parents first."""
    features = [f for level in LEVELS for f in city.to_geojson(level)["features"]]
    return {"type": "FeatureCollection", "features": features}


def beat(city: City) -> list[str]:
    """The grids the demo grid worker walks."""
    community = city.children(city.streets[0].code)[0]
    return [g.code for g in city.children(community.code)]


def build_grid(db: Database, city: City, *, events: int = 0, seed: int = 0) -> GridReport:
    """Load the tree, the catalogue and a year of ``events`` once (a later run keeps what
    is there)."""
    admin = system_actor()
    with db.session() as session:
        have = session.scalar(select(func.count()).select_from(GridArea)) or 0
        if have < len(city.grids):
            import_areas(session, admin, city_areas(city), by="demo")
        if not session.scalar(select(func.count()).select_from(EventCategory)):
            import_categories(session, admin, load_shipped(), by="shipped")
        if not session.scalar(select(func.count()).select_from(GridMember)):
            rows = [{"username": GRID_WORKER, "grid_code": code} for code in beat(city)]
            assign_workers(session, admin, rows, by="demo")
        counts = (
            session.scalar(select(func.count()).select_from(GridArea)) or 0,
            session.scalar(select(func.count()).select_from(EventCategory)) or 0,
            session.scalar(select(func.count()).select_from(GridMember)) or 0,
        )
    loaded = load_events(db, city, events, now=utcnow(), seed=seed)
    return GridReport(*counts, events=loaded)
