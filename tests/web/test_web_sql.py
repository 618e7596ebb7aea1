"""Guarded SQL over HTTP (``POST /api/v1/sql``): who may query which tables, and the
personal items of open resources that outsiders may not touch, not even in a WHERE."""

from __future__ import annotations

from fastapi.testclient import TestClient
from test_web_catalog import GOOD, RESOURCE, steward  # noqa: F401 (fixture)

CLOSED = '"3-03-001-000001"'


def test_provider_staff_query_their_own_resource(steward: TestClient) -> None:  # noqa: F811
    steward.post(
        "/api/v1/catalog/3-03-001-000001/versions",
        files={"file": ("d.csv", GOOD.encode(), "text/csv")},
    )
    r = steward.post(
        "/api/v1/sql",
        json={"sql": f"SELECT name, death_date FROM {CLOSED} ORDER BY death_date DESC"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [f["name"] for f in body["fields"]] == ["name", "death_date"]
    assert body["rows"] == [
        {"name": "李四", "death_date": "2026-10-02"},
        {"name": "张三", "death_date": "2026-10-01"},
    ]
    assert body["truncated"] is False
    capped = steward.post("/api/v1/sql", json={"sql": f"SELECT * FROM {CLOSED}", "max_rows": 1})
    assert capped.json()["truncated"] is True and len(capped.json()["rows"]) == 1


def test_bad_sql_is_refused_with_reasons(steward: TestClient) -> None:  # noqa: F811
    steward.post(
        "/api/v1/catalog/3-03-001-000001/versions",
        files={"file": ("d.csv", GOOD.encode(), "text/csv")},
    )
    cases = {
        f"DELETE FROM {CLOSED}": (422, "query.sql_not_read_only"),
        f"SELECT 1 FROM {CLOSED}; SELECT 2": (422, "query.sql_not_one_query"),
        "SELECT * FROM read_csv('/etc/passwd')": (422, "query.sql_table_function"),
        f"SELECT colour FROM {CLOSED}": (422, "query.sql_unknown_column"),
        f"SELECT getenv('HOME') FROM {CLOSED}": (422, "query.sql_function"),
        'SELECT * FROM "9-99-999-999999"': (404, "catalog.resource_not_found"),
    }
    for sql, (status, code) in cases.items():
        r = steward.post("/api/v1/sql", json={"sql": sql})
        assert (r.status_code, r.json()["code"]) == (status, code), (sql, r.text)
    assert steward.post("/api/v1/sql", json={"sql": "x", "max_rows": 0}).status_code == 422


def test_outsiders_query_open_resources_without_personal_items(
    client: TestClient, world, login
) -> None:
    from zhili.access import system_actor
    from zhili.catalog.service import ResourceSpec, create_resource

    with world.db.session() as s:
        for code, open_type in (("3-03-001-000009", "open"), ("3-03-001-000001", "closed")):
            create_resource(s, system_actor(), ResourceSpec(
                **{**RESOURCE, "code": code, "open_type": open_type}))  # fmt: skip
    world.user("psb.steward", "PSB", "data_steward")
    login("psb.steward")
    for code in ("3-03-001-000009", "3-03-001-000001"):
        client.post(
            f"/api/v1/catalog/{code}/versions", files={"file": ("d.csv", GOOD.encode(), "text/csv")}
        )
    world.org("CAB", "民政局", "city", "department", "CITY")
    world.user("civil.analyst", "CAB", "analyst")
    login("civil.analyst")
    ok = client.post("/api/v1/sql", json={"sql": 'SELECT count(*) AS n FROM "3-03-001-000009"'})
    assert ok.json()["rows"] == [{"n": 2}]
    for sql in (
        'SELECT name FROM "3-03-001-000009"',
        "SELECT count(*) FROM \"3-03-001-000009\" WHERE id_number LIKE '1101%'",
    ):
        r = client.post("/api/v1/sql", json={"sql": sql})
        assert r.status_code == 403 and r.json()["code"] == "reading.personal_field", sql
    star = client.post("/api/v1/sql", json={"sql": 'SELECT * FROM "3-03-001-000009"'})
    assert [f["name"] for f in star.json()["fields"]] == ["death_date"]  # * is the open items
    closed = client.post("/api/v1/sql", json={"sql": f"SELECT count(*) FROM {CLOSED}"})
    assert closed.status_code == 403
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)
    anon = client.post(
        "/api/v1/sql", json={"sql": 'SELECT max(death_date) AS d FROM "3-03-001-000009"'}
    )
    assert anon.status_code == 200 and anon.json()["rows"] == [{"d": "2026-10-02"}]
