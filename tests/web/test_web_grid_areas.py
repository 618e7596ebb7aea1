"""The grid geography over HTTP and on its pages: import (JSON body and upload), bad
features answered with problem details naming the feature, lists, GeoJSON for the map,
one area with its chain, locate, grid workers assigned and removed by whom may; the map
page and an area's page render, with the assign form only for those allowed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from shapely.geometry import shape

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps" / "grid"))
from grid_city import collection, command_orgs, piece, user


@pytest.fixture()
def grid_world(db, client):
    p = piece()
    command_orgs(db)
    user(db, "admin", p.city.code, "platform_admin")
    user(db, "cmd.street", p.street.code, "commander")
    user(db, "cmd.other", p.other_district.code, "commander")
    user(db, "gw.one", p.street.code, "grid_worker")
    return p


def test_import_and_read(grid_world, client, login) -> None:
    p = grid_world
    login("cmd.street")
    assert client.post("/api/v1/grid/areas/import", json=collection()).status_code == 403
    login("admin")
    r = client.post("/api/v1/grid/areas/import", json=collection())
    assert r.status_code == 200, r.text
    assert r.json()["created"] == len(p.areas) and r.json()["linked_orgs"] == 3
    upload = {"file": ("areas.geojson", json.dumps(collection()).encode(), "application/json")}
    r = client.post("/api/v1/grid/areas/import", files=upload)
    assert r.status_code == 200 and r.json()["updated"] == len(p.areas), r.text

    items = client.get("/api/v1/grid/areas", params={"parent": p.street.code}).json()
    assert [a["code"] for a in items] == [c.code for c in p.communities]
    assert items[0]["parent_code"] == p.street.code and items[0]["level"] == "community"
    grids = client.get("/api/v1/grid/areas", params={"level": "grid"}).json()
    assert len(grids) == len(p.grids)

    fc = client.get("/api/v1/grid/areas.geojson", params={"parent": p.street.code}).json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 4
    first = fc["features"][0]
    assert first["geometry"]["type"] == "Polygon" and first["properties"]["children"] > 0
    assert fc["features"][3]["properties"]["children"] == 0  # the community without grids
    districts = client.get("/api/v1/grid/areas.geojson").json()
    assert [f["id"] for f in districts["features"]] == [p.district.code]

    one = client.get(f"/api/v1/grid/areas/{p.communities[0].code}").json()
    assert [a["code"] for a in one["chain"]] == [
        p.city.code,
        p.district.code,
        p.street.code,
        p.communities[0].code,
    ]
    assert one["command_org"]["code"] == p.street.code and one["counts"]["grid"] > 0
    assert one["children"][0]["level"] == "grid" and one["children"][0]["children"] == 0

    lon, lat = shape(p.grids[2].geometry).representative_point().coords[0]
    found = client.get("/api/v1/grid/locate", params={"lon": lon, "lat": lat}).json()
    assert found["area"]["code"] == p.grids[2].code and len(found["chain"]) == 5
    outside = client.get("/api/v1/grid/locate", params={"lon": 0, "lat": 0})
    assert outside.status_code == 404 and outside.json()["code"] == "grid.point_outside"
    assert client.get("/api/v1/grid/locate", params={"lon": 500, "lat": 0}).status_code == 422
    missing = client.get("/api/v1/grid/areas/NOPE")
    assert missing.status_code == 404 and missing.json()["code"] == "grid.area_not_found"


def test_bad_import_is_a_problem_naming_the_feature(grid_world, client, login) -> None:
    login("admin")
    fc = collection()
    fc["features"][5]["properties"]["level"] = "village"
    r = client.post("/api/v1/grid/areas/import", json=fc, headers={"Accept-Language": "en"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem")
    body = r.json()
    assert body["code"] == "grid.feature_bad_level"
    assert (body["feature"], body["area"], body["field"]) == (
        5,
        piece().communities[2].code,
        "level",
    )
    assert "Feature 5" in body["detail"] and body["errors"][0]["problem"] == body["code"]
    zh = client.post("/api/v1/grid/areas/import", json=fc, headers={"Accept-Language": "zh-CN"})
    assert "第 5 个要素" in zh.json()["detail"]
    junk = client.post(
        "/api/v1/grid/areas/import",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert junk.status_code == 422 and junk.json()["code"] == "grid.bad_json"
    assert client.get("/api/v1/grid/areas").json() == []


def test_workers_over_http(grid_world, client, login) -> None:
    p = grid_world
    login("admin")
    client.post("/api/v1/grid/areas/import", json=collection())
    grid = p.grids[0].code
    url = f"/api/v1/grid/areas/{grid}/workers"
    login("cmd.other")
    refused = client.post(url, json={"username": "gw.one"})
    assert refused.status_code == 403 and refused.json()["code"] == "grid.assign_denied"
    login("cmd.street")
    made = client.post(url, json={"username": "gw.one"})
    assert made.status_code == 201 and made.json()[0]["username"] == "gw.one"
    assert client.post(url, json={"username": "gw.one"}).status_code == 200
    assert client.get(url).json()[0]["assigned_by"].startswith("cmd.street")
    bad = client.post(url, json={"username": "cmd.other"})
    assert bad.status_code == 422 and bad.json()["code"] == "grid.worker_not_grid_worker"
    assert client.delete(f"{url}/gw.one").status_code == 204
    assert client.delete(f"{url}/gw.one").status_code == 404

    sheet = f"username,grid_code\ngw.one,{grid}\ngw.one,{p.grids[1].code}\n"
    files = {"file": ("workers.csv", sheet.encode("gb18030"), "text/csv")}
    r = client.post("/api/v1/grid/workers/import", files=files)
    assert r.status_code == 200 and r.json() == {"assigned": 2, "unchanged": 0}, r.text
    files = {
        "file": ("w.csv", f"username,grid_code\ngw.one,{p.street.code}\n".encode(), "text/csv")
    }
    r = client.post("/api/v1/grid/workers/import", files=files)
    assert r.status_code == 422 and (r.json()["line"], r.json()["column"]) == (2, "grid_code")


def test_pages(grid_world, client, login) -> None:
    p = grid_world
    login("gw.one")
    empty = client.get("/grid/areas")
    assert empty.status_code == 200 and 'id="grid-empty"' in empty.text
    login("admin")
    client.post("/api/v1/grid/areas/import", json=collection())
    login("gw.one")
    top = client.get("/grid/areas")
    assert top.status_code == 200 and "网格地图" in top.text and 'id="grid-map"' in top.text
    assert "/static/grid.js" in top.text and p.district.code in top.text
    street = client.get("/grid/areas", params={"parent": p.street.code})
    assert all(c.code in street.text for c in p.communities)
    grid = p.grids[0].code
    page = client.get(f"/grid/areas/{grid}")
    assert page.status_code == 200 and p.street.name in page.text
    assert 'id="grid-assign"' not in page.text  # a grid worker does not assign

    login("cmd.street")
    page = client.get(f"/grid/areas/{grid}", headers={"Accept-Language": "en"})
    assert 'id="grid-assign"' in page.text
    r = client.post(
        f"/grid/areas/{grid}/workers", data={"username": "gw.one"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert 'data-username="gw.one"' in client.get(f"/grid/areas/{grid}").text
    r = client.post(f"/grid/areas/{grid}/workers", data={"username": "nobody"})
    assert r.status_code == 422 and "nobody" in r.text and 'id="grid-error"' in r.text
    r = client.post(f"/grid/areas/{grid}/workers/gw.one/remove", follow_redirects=False)
    assert r.status_code == 303
    assert 'data-username="gw.one"' not in client.get(f"/grid/areas/{grid}").text
    login("cmd.other")
    assert 'id="grid-assign"' not in client.get(f"/grid/areas/{grid}").text
    r = client.post(f"/grid/areas/{grid}/workers", data={"username": "gw.one"})
    assert r.status_code == 403
