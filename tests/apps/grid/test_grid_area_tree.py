"""The in-memory grid tree behind ``locate`` and the command lookups: the importing
process sees a new tree at once; another process's import shows once ``MAX_AGE`` has
passed; in between, no query asks the database."""

from __future__ import annotations

import datetime as dt

import pytest
from grid_city import collection, command_orgs, piece
from shapely.geometry import shape
from sqlalchemy import event, update

from zhili.access import system_actor
from zhili.apps.grid import area_tree, areas
from zhili.apps.grid.models import GridArea
from zhili.db import Database

ADMIN = system_actor("grid.admin")


@pytest.fixture()
def tree(db: Database) -> Database:
    command_orgs(db)
    with db.session() as s:
        areas.import_areas(s, ADMIN, collection(), by="test")
    return db


def _spot(area) -> tuple[float, float]:
    return shape(area.geometry).representative_point().coords[0]


def _far_box() -> dict:
    ring = [[117.5, 39.5], [117.501, 39.5], [117.501, 39.501], [117.5, 39.501], [117.5, 39.5]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_an_import_is_seen_at_once_by_its_process(tree: Database) -> None:
    p = piece()
    grid = p.grids[0]
    with tree.session() as s:
        assert areas.locate_node(s, *_spot(grid)).code == grid.code
    fc = collection([grid])
    fc["features"][0]["geometry"] = _far_box()  # the grid moves away from its spot
    with tree.session() as s:
        areas.import_areas(s, ADMIN, fc, by="test")
    with tree.session() as s:
        # its old spot now lies in no grid: the community holding the spot is the answer
        moved = areas.locate_node(s, *_spot(grid))
        assert moved is not None and moved.level == "community"


def test_another_process_import_shows_after_max_age(
    tree: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = piece()
    grid = p.grids[0]
    with tree.session() as s:
        before = area_tree.area_tree(s)
        assert before.nodes[areas.get_area(s, grid.code).id].name == grid.name
    with tree.session() as s:  # as another process would: no forget_area_trees()
        s.execute(
            update(GridArea)
            .where(GridArea.code == grid.code)
            .values(name="改名网格", updated_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
        )
    queries: list[str] = []
    event.listen(tree.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    with tree.session() as s:
        assert area_tree.area_tree(s) is before  # trusted for MAX_AGE: no query at all
    assert not queries
    monkeypatch.setattr(area_tree, "MAX_AGE", 0.0)
    with tree.session() as s:
        fresh = area_tree.area_tree(s)
        assert fresh is not before
        assert fresh.nodes[areas.get_area(s, grid.code).id].name == "改名网格"
        assert area_tree.area_tree(s) is fresh  # same stamp: kept


def test_walks_up_the_tree(tree: Database) -> None:
    p = piece()
    with tree.session() as s:
        t = area_tree.area_tree(s)
        grid = t.nodes[areas.get_area(s, p.grids[0].code).id]
        assert [n.level for n in t.ancestors(grid.id)] == [
            "city",
            "district",
            "street",
            "community",
        ]
        assert t.at_level(grid.id, "street").level == "street"
        assert t.at_level(grid.id, "grid") is grid
        district = t.ancestors(grid.id)[1]
        assert t.at_level(district.id, "street") is district  # already above: itself
        org = areas.command_org(s, grid.id)
        assert (
            org is not None and org.code == areas.command_org(s, areas.get_area(s, grid.code)).code
        )
