"""Organizations and users over the JSON API."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_duplicate_username_is_409(client: TestClient, world, login) -> None:
    world.user("root", "BUREAU", "platform_admin")
    login("root")
    body = {
        "username": "new.user",
        "org_code": "PSB",
        "roles": ["analyst"],
        "password": "long-enough-pw",
    }
    assert client.post("/api/v1/users", json=body).status_code == 201
    again = client.post("/api/v1/users", json=body)
    assert again.status_code == 409
    assert again.json()["code"] == "identity.user_exists"
    assert again.json()["username"] == "new.user"


def test_unknown_role_is_422_listing_roles(client: TestClient, world, login) -> None:
    world.user("root", "BUREAU", "platform_admin")
    login("root")
    r = client.post(
        "/api/v1/users",
        json={"username": "x.y", "org_code": "PSB", "roles": ["wizard"], "password": "long-enough"},
    )
    assert r.status_code == 422
    assert "care_operator" in r.json()["detail"]


def test_org_import_over_http_names_the_line(client: TestClient, world, login) -> None:
    world.user("root", "BUREAU", "platform_admin")
    login("root")
    bad = (
        "code,name,level,kind,parent_code\n"
        "OK1,好,city,department,CITY\n"
        "BAD,坏,moon,department,CITY\n"
    )
    r = client.post("/api/v1/orgs/import", files={"file": ("orgs.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422
    body = r.json()
    assert body["line"] == 3 and body["column"] == "level"
    assert client.get("/api/v1/orgs/OK1").status_code == 404
    good = bad.replace("moon", "city")
    r = client.post(
        "/api/v1/orgs/import", files={"file": ("orgs.csv", good.encode("gb18030"), "text/csv")}
    )
    assert r.status_code == 200 and r.json() == {"created": 2, "updated": 0}


def test_org_admin_sees_only_own_users(client: TestClient, world, login) -> None:
    world.user("d1.admin", "D01", "org_admin")
    world.user("s1.worker", "D01S01", "grid_worker")
    world.user("d2.worker", "D02", "grid_worker")
    login("d1.admin")
    names = {u["username"] for u in client.get("/api/v1/users").json()["items"]}
    assert names == {"d1.admin", "s1.worker"}
    assert client.get("/api/v1/users/d2.worker").status_code == 403
    assert client.patch("/api/v1/users/d2.worker", json={"is_active": False}).status_code == 403
    ok = client.patch("/api/v1/users/s1.worker", json={"roles": ["grid_worker", "handler"]})
    assert ok.status_code == 200 and ok.json()["roles"] == ["grid_worker", "handler"]


def test_geojson_of_districts(client: TestClient, world, login) -> None:
    from zhili.identity.orgs import OrgSpec, upsert_org

    square = {
        "type": "Polygon",
        "coordinates": [[[117, 39], [117.1, 39], [117.1, 39.1], [117, 39.1], [117, 39]]],
    }
    with world.db.session() as s:
        upsert_org(s, OrgSpec("D03", "南开区", "district", "government", "CITY", geometry=square))
    world.user("li.ming", "PSB", "analyst")
    login("li.ming")
    fc = client.get("/api/v1/orgs/geojson?level=district").json()
    assert fc["type"] == "FeatureCollection"
    assert [f["id"] for f in fc["features"]] == ["D03"]


def test_users_page_edits_roles_and_state(client: TestClient, world) -> None:
    import re

    world.user("d1.admin", "D01", "org_admin")
    world.user("s1.worker", "D01S01", "grid_worker")
    world.user("d2.worker", "D02", "grid_worker")
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post(
        "/login",
        data={"username": "d1.admin", "password": "correct-horse-battery", "csrf_token": csrf},
    )
    listing = client.get("/admin/users")
    assert "/admin/users/s1.worker" in listing.text and "d2.worker" not in listing.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', listing.text).group(1)
    r = client.post(
        "/admin/users/s1.worker",
        data={"roles": ["grid_worker", "handler"], "active": "false", "csrf_token": csrf},
    )
    assert r.status_code == 200
    user = client.get("/api/v1/users/s1.worker").json()
    assert user["roles"] == ["grid_worker", "handler"] and user["is_active"] is False
    denied = client.post(
        "/admin/users/d2.worker", data={"roles": ["grid_worker"], "csrf_token": csrf}
    )
    assert denied.status_code == 403
