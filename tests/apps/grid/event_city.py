"""A small grid city for the event workflow tests: the piece of 示例市 from `grid_city`
with its areas imported, the working calendar, two departments (城管 handles road
blocks, 公安 helps), one category with time limits on every stage, and the people:
a grid worker walking the first grid, the street's commander, the district's commander,
two 城管 handlers, a 公安 handler and a resident with an account."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tests.apps.grid.grid_city import collection, command_orgs, piece, user

from zhili.access import ANONYMOUS, Actor, system_actor
from zhili.apps.grid.areas import import_areas
from zhili.apps.grid.categories import import_categories
from zhili.apps.grid.events import Action, EventReport, act, report_event
from zhili.apps.grid.members import assign_workers
from zhili.calendar.seed import seed_from_package
from zhili.calendar.service import WorkCalendar
from zhili.clock import CITY_TZ
from zhili.db import Database
from zhili.identity.auth import actor_for
from zhili.identity.orgs import OrgSpec, upsert_org
from zhili.identity.users import get_user

CATEGORY = "road-block"
#: a Monday morning in a week without holidays (2025-03-10 09:30, Beijing time)
MONDAY = dt.datetime(2025, 3, 10, 9, 30, tzinfo=CITY_TZ)


def category(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "code": CATEGORY,
        "name": "乱堆物料",
        "name_en": "Materials blocking a road",
        "group": "市容环境",
        "department": "CGW",
        "level": "street",
        "time_limits": {
            "register": {"amount": 2, "unit": "hours"},
            "dispatch": {"amount": 2, "unit": "hours"},
            "acknowledge": {"amount": 1, "unit": "hours"},
            "handle": {"amount": 1, "unit": "days"},
            "verify": {"amount": 4, "unit": "hours"},
        },
        "attributes": [
            {"code": "lanes", "datatype": "number", "required": True, "order": 1,
             "description": "堵塞车道数"},
        ],
    }  # fmt: skip
    spec.update(changes)
    return spec


@dataclass
class EventCity:
    db: Database

    def actor(self, username: str) -> Actor:
        with self.db.session() as s:
            return actor_for(get_user(s, username))

    def calendar(self) -> WorkCalendar:
        with self.db.session() as s:
            return WorkCalendar.from_session(s)

    def spot(self, grid: int = 0) -> tuple[float, float]:
        return piece().grids[grid].centroid

    def report(self, who: str | None = "gw", *, grid: int = 0, at: dt.datetime = MONDAY, **kw: Any):
        lon, lat = kw.pop("spot", None) or self.spot(grid)
        spec = EventReport(
            category=kw.pop("category", CATEGORY),
            lon=lon,
            lat=lat,
            description=kw.pop("description", "建筑材料堆在路中间"),
            answers=kw.pop("answers", {"lanes": 1}),
            source=kw.pop("source", "grid_worker" if who == "gw" else "public"),
            **kw,
        )
        actor = self.actor(who) if who else ANONYMOUS
        with self.db.session() as s:
            reported = report_event(s, actor, spec, WorkCalendar.from_session(s), now=at)
            return reported.event.id, reported.follow_token, [e.id for e in reported.duplicates]

    def act(self, who: str, event_id: int, action: str, at: dt.datetime = MONDAY, **kw: Any):
        with self.db.session() as s:
            event = act(
                s, self.actor(who), event_id, Action(action, **kw),
                WorkCalendar.from_session(s), now=at,
            )  # fmt: skip
            return event.state


def build(db: Database) -> EventCity:
    command_orgs(db)
    p = piece()
    with db.session() as s:
        seed_from_package(s, loaded_by="test")
        upsert_org(s, OrgSpec("CGW", "城市管理委员会", "city", "department", p.city.code))
        upsert_org(s, OrgSpec("PSB", "公安局", "city", "department", p.city.code))
    user(db, "gw", p.street.code, "grid_worker")
    user(db, "gw2", p.street.code, "grid_worker")
    user(db, "cmd", p.street.code, "commander")
    user(db, "dcmd", p.district.code, "commander")
    user(db, "h1", "CGW", "handler")
    user(db, "h2", "CGW", "handler")
    user(db, "hp", "PSB", "handler")
    user(db, "resident", p.street.code, "analyst")
    admin = system_actor()
    with db.session() as s:
        import_areas(s, admin, collection(), by="test")
        import_categories(s, admin, [category()], by="test")
        assign_workers(s, admin, [{"username": "gw", "grid_code": p.grids[0].code}], by="test")
    return EventCity(db)
