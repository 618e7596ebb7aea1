"""A small piece of the demo city 示例市 for the grid geography tests: the city, its first
district and that district's first street, four of the street's communities and the grids
of the first three (the fourth has none, so a point there is located at the community).
Organizations with the areas' codes stand for their command centres (none for the
communities, so a grid is commanded by its street)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from zhili.access import system_actor
from zhili.db import Database
from zhili.identity.orgs import OrgSpec, upsert_org
from zhili.identity.users import UserSpec, create_user
from zhili.synth.city import Area, build_city

PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class Piece:
    city: Area
    district: Area
    other_district: Area
    street: Area
    communities: list[Area]
    grids: list[Area]

    @property
    def areas(self) -> list[Area]:
        return [self.city, self.district, self.street, *self.communities, *self.grids]


@lru_cache(maxsize=1)
def piece() -> Piece:
    city = build_city()
    district, other = city.districts[0], city.districts[1]
    street = city.children(district.code)[0]
    communities = city.children(street.code)[:4]
    grids = [g for c in communities[:3] for g in city.children(c.code)]
    return Piece(city.root, district, other, street, communities, grids)


def feature(area: Area) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": copy.deepcopy(area.geometry),
        "properties": {
            "code": area.code,
            "name": area.name,
            "name_en": area.name_en,
            "level": area.level,
            "parent_code": area.parent_code,
        },
    }


def collection(areas: list[Area] | None = None) -> dict[str, Any]:
    """A fresh FeatureCollection (tests may change it) of ``areas`` (default: all)."""
    return {"type": "FeatureCollection", "features": [feature(a) for a in areas or piece().areas]}


def command_orgs(db: Database) -> None:
    """Government organizations for the city, both districts and the street."""
    p = piece()
    with db.session() as s:
        upsert_org(s, OrgSpec(p.city.code, p.city.name, "city", "government"))
        for area in (p.district, p.other_district):
            upsert_org(s, OrgSpec(area.code, area.name, "district", "government", p.city.code))
        upsert_org(
            s, OrgSpec(p.street.code, p.street.name, "street", "government", p.district.code)
        )


def user(db: Database, username: str, org: str, *roles: str) -> None:
    with db.session() as s:
        create_user(s, system_actor(), UserSpec(username, username, org, tuple(roles), PASSWORD))
