"""The grid geography: a piece of the demo city imported (tree, paths, boxes, centres,
command organizations, one audit act), re-imported, every kind of bad feature refused
with nothing written; points located inside, outside and on shared edges; grid workers
assigned under the command rules, from the service and the CLI."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from grid_city import collection, command_orgs, piece, user
from shapely.geometry import Point, shape
from sqlalchemy import func, select
from typer.testing import CliRunner

from zhili.access import system_actor
from zhili.apps.grid import areas, members
from zhili.apps.grid.models import GridArea, GridMember
from zhili.audit.models import AuditEntry
from zhili.cli.grid_areas import areas_app
from zhili.db import Database
from zhili.errors import Forbidden, InvalidInput, NotFound
from zhili.identity.auth import actor_for
from zhili.identity.users import get_user

ADMIN = system_actor("grid.admin")


def _import(db: Database, fc: dict[str, Any] | None = None) -> areas.ImportReport:
    with db.session() as s:
        return areas.import_areas(s, ADMIN, fc or collection(), by="test")


def _count(db: Database, model: Any = GridArea) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture()
def tree(db: Database) -> Database:
    command_orgs(db)
    _import(db)
    return db


def test_import_builds_the_tree(db: Database) -> None:
    p = piece()
    command_orgs(db)
    report = _import(db)
    assert (report.created, report.updated) == (len(p.areas), 0)
    assert report.by_level == {
        "city": 1,
        "district": 1,
        "street": 1,
        "community": 4,
        "grid": len(p.grids),
    }
    assert report.linked_orgs == 3  # city, district, street
    with db.session() as s:
        grid = areas.get_area(s, p.grids[0].code)
        chain = areas.chain(s, grid)
        assert [a.code for a in chain] == [
            p.city.code,
            p.district.code,
            p.street.code,
            p.communities[0].code,
            grid.code,
        ]
        assert grid.path == "/" + "/".join(str(a.id) for a in chain) + "/"
        polygon = shape(grid.geometry)
        assert (grid.min_lon, grid.min_lat, grid.max_lon, grid.max_lat) == polygon.bounds
        assert polygon.contains(Point(grid.center_lon, grid.center_lat))
        assert grid.org_id is None and areas.command_org(s, grid).code == p.street.code
        community = areas.get_area(s, p.communities[0].code)
        assert [c.code for c in areas.children(s, community)] == [
            g.code for g in p.grids if g.parent_code == community.code
        ]
        assert areas.descendant_counts(s, areas.get_area(s, p.street.code)) == {
            "community": 4,
            "grid": len(p.grids),
        }
        assert [a.code for a in areas.list_areas(s, parent_code=p.street.code)] == [
            c.code for c in p.communities
        ]
        assert len(areas.list_areas(s, level="grid")) == len(p.grids)
        acts = s.scalars(select(AuditEntry).where(AuditEntry.action == "grid.areas_import")).all()
        assert len(acts) == 1 and acts[0].detail["created"] == len(p.areas)
        with pytest.raises(NotFound) as lost:
            areas.get_area(s, "999")
        assert lost.value.code == "grid.area_not_found"
        with pytest.raises(InvalidInput):
            areas.list_areas(s, level="province")


def test_reimport_is_idempotent_and_updates(tree: Database) -> None:
    p = piece()
    with tree.session() as s:
        before = {a.code: (a.id, a.path) for a in s.scalars(select(GridArea))}
    again = _import(tree)
    assert (again.created, again.updated) == (0, len(p.areas))
    fc = collection([p.communities[0]])
    props = fc["features"][0]["properties"]
    props["name"], props["name_en"] = "新名社区", "Renamed"
    small = [[[117.0, 39.0], [117.001, 39.0], [117.001, 39.001], [117.0, 39.001], [117.0, 39.0]]]
    fc["features"][0]["geometry"] = {"type": "Polygon", "coordinates": small}
    report = _import(tree, fc)  # its parent, the street, is found in the database
    assert (report.created, report.updated) == (0, 1)
    with tree.session() as s:
        after = {a.code: (a.id, a.path) for a in s.scalars(select(GridArea))}
        assert after == before and len(after) == len(p.areas)
        changed = areas.get_area(s, p.communities[0].code)
        assert (changed.name, changed.name_en) == ("新名社区", "Renamed")
        assert (changed.min_lon, changed.max_lat) == (117.0, 39.001)


def test_moving_an_area_moves_its_subtree(tree: Database) -> None:
    p = piece()
    box = [[[117.0, 39.0], [117.01, 39.0], [117.01, 39.01], [117.0, 39.01], [117.0, 39.0]]]
    fc = collection([p.communities[0]])
    fc["features"][0]["properties"]["parent_code"] = "120101099"
    fc["features"].insert(
        0,
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": box},
            "properties": {
                "code": "120101099",
                "name": "新街道",
                "level": "street",
                "parent_code": p.district.code,
            },
        },
    )
    assert _import(tree, fc).created == 1
    with tree.session() as s:
        street = areas.get_area(s, "120101099")
        grid = areas.get_area(s, p.grids[0].code)
        assert grid.path.startswith(street.path) and len(grid.path.split("/")) == 7
        assert areas.command_org(s, grid).code == p.district.code  # the new street has none


def _broken(change: Callable[[list[dict[str, Any]]], None]) -> dict[str, Any]:
    fc = collection()
    change(fc["features"])
    return fc


def _props(i: int, **values: Any) -> Callable[[list[dict[str, Any]]], None]:
    return lambda fs: fs[i]["properties"].update(values)


def _geometry(i: int, geometry: Any) -> Callable[[list[dict[str, Any]]], None]:
    return lambda fs: fs[i].update(geometry=geometry)


BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[117, 39], [117.01, 39.01], [117.01, 39], [117, 39.01], [117, 39]]],
}
FAR = {"type": "Polygon", "coordinates": [[[117, 39], [181, 39], [181, 40], [117, 39]]]}
BAD = [
    ("grid.feature_bad_code", 1, "code", _props(1, code=None)),
    ("grid.feature_bad_code", 2, "code", _props(2, code="12-01")),
    ("grid.feature_bad_name", 3, "name", _props(3, name=" ")),
    ("grid.feature_bad_level", 4, "level", _props(4, level="province")),
    ("grid.feature_unknown_parent", 5, "parent_code", _props(5, parent_code="120199999")),
    ("grid.feature_parent_level", 7, "parent_code", _props(7, parent_code="120101001")),
    ("grid.feature_city_parent", 0, "parent_code", _props(0, parent_code="110000")),
    ("grid.feature_parent_required", 1, "parent_code", _props(1, parent_code=None)),
    ("grid.feature_bad_geometry", 8, "geometry", _geometry(8, BOWTIE)),
    (
        "grid.feature_not_polygon",
        9,
        "geometry",
        _geometry(9, {"type": "Point", "coordinates": [117, 39]}),
    ),
    (
        "grid.feature_bad_geometry",
        9,
        "geometry",
        _geometry(9, {"type": "Polygon", "coordinates": [[[117, 39]]]}),
    ),
    ("grid.feature_out_of_range", 10, "geometry", _geometry(10, FAR)),
    ("grid.feature_duplicate_code", 11, "code", _props(11, code=piece().grids[0].code)),
    ("grid.feature_not_feature", 6, "properties", lambda fs: fs.__setitem__(6, [1, 2])),
]


@pytest.mark.parametrize(("code", "index", "field", "change"), BAD, ids=[b[0] for b in BAD])
def test_bad_feature_refuses_the_file(db: Database, code, index, field, change) -> None:
    with pytest.raises(InvalidInput) as refused:
        _import(db, _broken(change))
    err = refused.value
    assert (err.code, err.params["feature"], err.params["field"]) == (code, index, field)
    assert f"{index}" in err.message("en") and err.params["errors"][0]["problem"] == code
    assert _count(db) == 0


def test_every_bad_feature_is_listed_and_nothing_changes(tree: Database) -> None:
    def two(fs: list[dict[str, Any]]) -> None:
        fs[3]["properties"]["name"] = "改名"
        fs[4]["properties"]["level"] = "village"
        fs[12]["geometry"] = BOWTIE

    with pytest.raises(InvalidInput) as refused:
        _import(tree, _broken(two))
    assert refused.value.params["total_errors"] == 2
    assert [e["feature"] for e in refused.value.params["errors"]] == [4, 12]
    with tree.session() as s:
        assert areas.get_area(s, piece().communities[0].code).name != "改名"


def test_level_of_a_known_area_is_kept(tree: Database) -> None:
    p = piece()
    fc = collection([p.communities[3]])
    fc["features"][0]["properties"].update(level="grid")
    with pytest.raises(InvalidInput) as refused:
        _import(tree, fc)
    assert refused.value.code == "grid.feature_level_changed"


@pytest.mark.parametrize("body", [[], {"type": "Feature"}, {"type": "FeatureCollection"}])
def test_not_a_feature_collection(db: Database, body: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        _import(db, body or {"type": "FeatureCollection", "features": []})
    assert refused.value.code in ("grid.not_feature_collection", "grid.no_features")


def test_only_platform_admins_import(db: Database) -> None:
    command_orgs(db)
    user(db, "cmd", piece().city.code, "commander")
    with db.session() as s, pytest.raises(Forbidden):
        areas.import_areas(s, actor_for(get_user(s, "cmd")), collection(), by="test")


def test_locate(tree: Database) -> None:
    p = piece()
    with tree.session() as s:
        for grid in p.grids[:5]:
            lon, lat = shape(grid.geometry).representative_point().coords[0]
            assert areas.locate(s, lon, lat).code == grid.code
        spare = p.communities[3]  # imported without grids
        lon, lat = shape(spare.geometry).representative_point().coords[0]
        assert areas.locate(s, lon, lat).code == spare.code
        assert areas.locate(s, 0.0, 0.0) is None
        with pytest.raises(InvalidInput):
            areas.locate(s, 200.0, 39.0)


def test_locate_on_a_shared_edge_is_stable(tree: Database) -> None:
    p = piece()
    community = p.communities[0]
    inside = shape(community.geometry)
    grids = [g for g in p.grids if g.parent_code == community.code]
    corners: dict[tuple[float, float], set[str]] = {}
    for g in grids:
        for lon, lat in g.geometry["coordinates"][0]:
            corners.setdefault((lon, lat), set()).add(g.code)
    # a vertex shared by two grids, inside the community: on both grids' edges
    lon, lat = next(
        c for c, codes in sorted(corners.items()) if len(codes) == 2 and inside.contains(Point(c))
    )
    covering = sorted(g.code for g in grids if shape(g.geometry).covers(Point(lon, lat)))
    assert len(covering) == 2
    with tree.session() as s:
        found = {areas.locate(s, lon, lat).code for _ in range(3)}
    assert found == {covering[0]}  # on the edge of both: the smaller code, every time


# --- grid workers ----------------------------------------------------------------------


@pytest.fixture()
def staff(tree: Database) -> Database:
    p = piece()
    user(tree, "gw.one", p.street.code, "grid_worker")
    user(tree, "gw.two", p.street.code, "grid_worker")
    user(tree, "plain", p.street.code, "analyst")
    user(tree, "cmd.street", p.street.code, "commander")
    user(tree, "cmd.other", p.other_district.code, "commander")
    return tree


def _actor(db: Database, username: str):
    with db.session() as s:
        return actor_for(get_user(s, username))


def _assign(db: Database, actor, rows: list[dict[str, str]]) -> members.AssignReport:
    with db.session() as s:
        return members.assign_workers(s, actor, rows, by="test")


def test_assign_workers(staff: Database) -> None:
    g = [x.code for x in piece().grids]
    rows = [
        {"username": "gw.one", "grid_code": g[0]},
        {"username": "gw.one", "grid_code": g[1]},
        {"username": "gw.two", "grid_code": g[0]},
    ]
    report = _assign(staff, _actor(staff, "cmd.street"), rows)
    assert (report.assigned, report.unchanged) == (3, 0)
    again = _assign(staff, ADMIN, rows[:1])
    assert (again.assigned, again.unchanged) == (0, 1)
    with staff.session() as s:
        grid = areas.get_area(s, g[0])
        assert [m.user.username for m in members.workers_of(s, grid)] == ["gw.one", "gw.two"]
        assert [a.code for a in members.grids_of(s, get_user(s, "gw.one"))] == g[:2]
        assert members.may_assign(s, _actor(staff, "cmd.street"), grid)
        assert not members.may_assign(s, _actor(staff, "cmd.other"), grid)
        members.unassign(s, ADMIN, g[0], "gw.two")
    with staff.session() as s, pytest.raises(NotFound):
        members.unassign(s, ADMIN, g[0], "gw.two")


@pytest.mark.parametrize(
    ("row", "code", "column"),
    [
        ({"username": "nobody", "grid_code": "G"}, "grid.worker_unknown_user", "username"),
        ({"username": "plain", "grid_code": "G"}, "grid.worker_not_grid_worker", "username"),
        ({"username": "gw.one", "grid_code": "120101999"}, "grid.worker_unknown_grid", "grid_code"),
        ({"username": "gw.one", "grid_code": "C"}, "grid.worker_not_a_grid", "grid_code"),
        ({"username": "", "grid_code": "G"}, "grid.worker_missing_field", "username"),
    ],
)
def test_bad_row_assigns_nobody(staff: Database, row, code, column) -> None:
    p = piece()
    fill = {"G": p.grids[0].code, "C": p.communities[0].code}
    good = {"username": "gw.one", "grid_code": p.grids[1].code}
    bad = {k: fill.get(v, v) for k, v in row.items()}
    with pytest.raises(InvalidInput) as refused:
        _assign(staff, ADMIN, [good, bad])
    assert (refused.value.code, refused.value.params["line"]) == (code, 3)
    assert refused.value.params["column"] == column
    assert _count(staff, GridMember) == 0


def test_assignment_outside_ones_command_area_is_refused(staff: Database) -> None:
    rows = [{"username": "gw.one", "grid_code": piece().grids[0].code}]
    with pytest.raises(Forbidden) as refused:
        _assign(staff, _actor(staff, "cmd.other"), rows)
    assert refused.value.code == "grid.assign_denied" and refused.value.params["line"] == 2
    with pytest.raises(Forbidden):
        _assign(staff, _actor(staff, "gw.one"), rows)
    with staff.session() as s, pytest.raises(Forbidden):
        members.unassign(s, _actor(staff, "cmd.other"), piece().grids[0].code, "gw.one")
    assert _count(staff, GridMember) == 0


# --- command line ----------------------------------------------------------------------


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(areas_app, name="areas")
    return app


def test_cli_import_locate_assign(settings, db: Database, tmp_path: Path) -> None:
    p = piece()
    command_orgs(db)
    top = tmp_path / "top.geojson"
    top.write_text(json.dumps(collection([p.city, p.district, p.street])))
    low = tmp_path / "low.geojson"
    low.write_text(json.dumps(collection([*p.communities, *p.grids])))
    runner = CliRunner()
    r = runner.invoke(_cli(), ["areas", "import", str(low), str(top)])
    assert r.exit_code == 0, r.output
    assert f"created {len(p.areas)}, updated 0" in r.output
    lon, lat = shape(p.grids[0].geometry).representative_point().coords[0]
    r = runner.invoke(_cli(), ["areas", "locate", str(lon), str(lat)])
    assert r.exit_code == 0 and r.output.splitlines()[-1].split()[:2] == ["grid", p.grids[0].code]
    assert runner.invoke(_cli(), ["areas", "locate", "0", "0"]).exit_code == 1

    bad = collection([p.city])
    bad["features"][0]["properties"]["level"] = "planet"
    top.write_text(json.dumps(bad))
    r = runner.invoke(_cli(), ["areas", "import", str(top)])
    assert r.exit_code == 2 and "grid.feature_bad_level" in r.output and "Traceback" not in r.output

    user(db, "gw.one", p.city.code, "grid_worker")
    sheet = tmp_path / "workers.csv"
    with open(sheet, "w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows([["username", "grid_code"], ["gw.one", p.grids[0].code]])
    r = runner.invoke(_cli(), ["areas", "assign", str(sheet)])
    assert r.exit_code == 0 and "assigned 1" in r.output, r.output
    sheet.write_text("username,grid_code\ngw.one,NOPE\n")
    r = runner.invoke(_cli(), ["areas", "assign", str(sheet)])
    assert r.exit_code == 2 and "grid.worker_unknown_grid" in r.output
