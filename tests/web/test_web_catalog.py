"""The catalog over HTTP and on its pages: describe, browse with facets, load versions
(with the validation report on bad rows), preview for the provider's staff only."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

SCHEMA = {
    "fields": [
        {
            "name": "id_number",
            "title": "公民身份号码",
            "type": "string",
            "format": "cn-id",
            "x-sensitivity": "sensitive_personal",
            "constraints": {"required": True},
        },
        {"name": "name", "title": "姓名", "type": "string", "x-sensitivity": "personal"},
        {
            "name": "death_date",
            "title": "死亡日期",
            "type": "date",
            "constraints": {"required": True},
        },
    ],
    "primaryKey": ["id_number"],
}
RESOURCE = {
    "code": "3-03-001-000001",
    "name": "死亡医学证明信息",
    "provider_code": "PSB",
    "classification": "department",
    "table_schema": SCHEMA,
    "sharing_type": "conditional",
    "sharing_conditions": "社保待遇核查",
    "open_type": "closed",
    "update_cycle": "monthly",
    "grade": "important",
    "tags": ["死亡", "人口"],
}
GOOD = (
    "id_number,name,death_date\n"
    "11010519491231002X,张三,2026-10-01\n"
    "120101199001010113,李四,2026-10-02\n"
)


def wait_job(client: TestClient, job_id: str, timeout: float = 60) -> dict:
    """Poll the job API until the background job ends; its final state."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


@pytest.fixture()
def steward(client: TestClient, world, login):
    world.user("psb.steward", "PSB", "data_steward")
    login("psb.steward")
    r = client.post("/api/v1/catalog", json=RESOURCE)
    assert r.status_code == 201, r.text
    return client


def test_browse_and_show(steward: TestClient) -> None:
    body = steward.get("/api/v1/catalog?sharing_type=conditional").json()
    assert body["total"] == 1
    assert {"value": "死亡", "count": 1} in body["facets"]["tag"]
    one = steward.get("/api/v1/catalog/3-03-001-000001").json()
    assert one["personal_items"] == ["id_number", "name"]
    schema = steward.get("/api/v1/catalog/3-03-001-000001/schema").json()
    assert schema["$schema"].endswith("tableschema.json")


def test_edit_makes_a_revision(steward: TestClient) -> None:
    r = steward.patch(
        "/api/v1/catalog/3-03-001-000001",
        json={"changes": {"update_cycle": "daily"}, "note": "日更"},
    )
    assert r.status_code == 200 and r.json()["revision"] == 2
    revs = steward.get("/api/v1/catalog/3-03-001-000001/revisions").json()["items"]
    assert revs[0]["changed_fields"] == ["update_cycle"] and revs[0]["note"] == "日更"
    bad = steward.patch("/api/v1/catalog/3-03-001-000001", json={"changes": {"grade": "x"}})
    assert bad.status_code == 422 and bad.json()["field"] == "grade"


def test_load_good_then_bad(steward: TestClient) -> None:
    url = "/api/v1/catalog/3-03-001-000001/versions"
    ok = steward.post(url, files={"file": ("deaths.csv", GOOD.encode(), "text/csv")})
    assert ok.status_code == 201, ok.text
    assert ok.json()["version"] == 0 and ok.json()["total_rows"] == 2
    bad_csv = GOOD + "120101199001010121,王五,2026-13-01\n"
    bad = steward.post(url, files={"file": ("deaths.csv", bad_csv.encode(), "text/csv")})
    assert bad.status_code == 422
    report = bad.json()["report"]
    assert report["valid"] is False
    rows = {(e["rowNumber"], e["fieldName"]) for e in report["errors"]}
    assert any(field == "id_number" for _, field in rows)
    versions = steward.get(url).json()["items"]
    assert [v["version"] for v in versions] == [0]


def test_gbk_upload_and_preview_masks(steward: TestClient) -> None:
    url = "/api/v1/catalog/3-03-001-000001/versions"
    r = steward.post(url, files={"file": ("deaths.csv", GOOD.encode("gb18030"), "text/csv")})
    assert r.status_code == 201, r.text
    preview = steward.get("/api/v1/catalog/3-03-001-000001/preview").json()
    names = {row["name"] for row in preview["rows"]}
    assert "张三" not in names and all("*" in n for n in names)
    assert all(row["id_number"] != "11010519491231002X" for row in preview["rows"])


def test_other_departments_cannot_preview_or_load(steward: TestClient, world, login) -> None:
    world.user("d1.analyst", "D01", "analyst")
    login("d1.analyst")
    assert steward.get("/api/v1/catalog/3-03-001-000001").status_code == 200
    assert steward.get("/api/v1/catalog/3-03-001-000001/preview").status_code == 403
    r = steward.post(
        "/api/v1/catalog/3-03-001-000001/versions",
        files={"file": ("x.csv", GOOD.encode(), "text/csv")},
    )
    assert r.status_code == 403


def test_pages(steward: TestClient) -> None:
    page = steward.get("/catalog?tag=死亡")
    assert page.status_code == 200 and "死亡医学证明信息" in page.text
    res = steward.get("/catalog/3-03-001-000001")
    assert res.status_code == 200 and "敏感个人信息" in res.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', res.text).group(1)
    bad = steward.post(
        "/catalog/3-03-001-000001/upload",
        data={"mode": "append", "csrf_token": csrf},
        files={"file": ("d.csv", b"id_number,name,death_date\n123,x,2026-01-01\n", "text/csv")},
        follow_redirects=False,
    )
    assert bad.status_code == 303 and "?job=" in bad.headers["location"]
    job_id = bad.headers["location"].split("=")[1]
    assert wait_job(steward, job_id)["status"] == "failed"
    shown = steward.get(bad.headers["location"])
    assert 'data-status="failed"' in shown.text and "第 2 行" in shown.text  # the report
    assert "hx-trigger" not in shown.text.split('id="job-panel"')[1].split(">")[0]
    wrong = steward.post(
        "/catalog/3-03-001-000001/upload",
        data={"mode": "sideways", "csrf_token": csrf},
        files={"file": ("d.csv", GOOD.encode(), "text/csv")},
    )
    assert wrong.status_code == 422 and "sideways" in wrong.text
    new = steward.post(
        "/catalog/new", data={"csrf_token": csrf, "code": "bad", "name": "x", "table_schema": "{"}
    )
    assert new.status_code == 422


def test_datapackage_download(steward: TestClient, client: TestClient) -> None:
    import hashlib
    import io
    import json
    import zipfile

    url = "/api/v1/catalog/3-03-001-000001"
    assert steward.get(f"{url}/datapackage").status_code == 404  # no data yet
    steward.post(f"{url}/versions", files={"file": ("d.csv", GOOD.encode(), "text/csv")})
    r = steward.get(f"{url}/datapackage")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    meta = json.loads(zf.read("datapackage.json"))
    res = meta["resources"][0]
    data = zf.read(res["path"])
    assert res["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert res["bytes"] == len(data) and data.decode().count("\n") == 3
    assert res["schema"]["primaryKey"] == ["id_number"]
    assert steward.get(f"{url}/datapackage?version=5").status_code == 404
    steward.cookies.clear()
    assert steward.get(f"{url}/datapackage").status_code == 401  # closed: staff only


def test_rows_pages_filters_and_export(steward: TestClient) -> None:
    url = "/api/v1/catalog/3-03-001-000001"
    assert steward.get(f"{url}/rows").status_code == 404  # no data yet
    steward.post(f"{url}/versions", files={"file": ("d.csv", GOOD.encode(), "text/csv")})
    first = steward.get(f"{url}/rows?limit=1&total=true&sort=-death_date").json()
    assert first["total"] == 2 and first["version"] == 0
    assert first["rows"][0]["name"] == "李四"  # the provider's staff see their own data
    second = steward.get(
        f"{url}/rows", params={"limit": 1, "sort": "-death_date", "after": first["next"]}
    ).json()
    assert second["rows"][0]["name"] == "张三" and second["next"] is None
    one = steward.get(f"{url}/rows", params={"filter": "death_date:ge:2026-10-02"}).json()
    assert [r["name"] for r in one["rows"]] == ["李四"]
    bad = steward.get(f"{url}/rows", params={"filter": "colour:eq:red"})
    assert bad.status_code == 422 and bad.json()["field"] == "colour"
    csv = steward.get(f"{url}/export?format=csv&sort=id_number")
    assert csv.status_code == 200 and csv.text.count("\n") == 3 and "张三" in csv.text


def test_outsiders_read_open_resources_without_personal_items(client: TestClient, world) -> None:
    from zhili.access import system_actor
    from zhili.catalog.service import ResourceSpec, create_resource

    with world.db.session() as s:
        create_resource(s, system_actor(), ResourceSpec(
            **{**RESOURCE, "code": "3-03-001-000009", "open_type": "open",
               "sharing_type": "unconditional", "sharing_conditions": None}))  # fmt: skip
    world.user("psb.steward", "PSB", "data_steward")
    r = client.post(
        "/api/v1/auth/login", json={"username": "psb.steward", "password": "correct-horse-battery"}
    )
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    client.post(
        "/api/v1/catalog/3-03-001-000009/versions",
        files={"file": ("d.csv", GOOD.encode(), "text/csv")},
    )
    client.post("/api/v1/auth/logout")
    client.cookies.clear()
    page = client.get("/api/v1/catalog/3-03-001-000009/rows").json()
    assert page["basis"] == "open" and page["fields"] == ["death_date"]  # no personal items
    assert sorted(r["death_date"] for r in page["rows"]) == ["2026-10-01", "2026-10-02"]
    hidden = client.get("/api/v1/catalog/3-03-001-000009/rows", params={"fields": "name"})
    assert hidden.status_code == 403 and hidden.json()["field"] == "name"
    export = client.get("/api/v1/catalog/3-03-001-000009/export?format=jsonl").text
    assert "id_number" not in export and "death_date" in export
    assert client.get("/api/v1/catalog/3-03-001-000001/rows").status_code == 404


def test_edit_page_saves_a_revision(steward: TestClient) -> None:
    form = steward.get("/catalog/3-03-001-000001/edit")
    assert form.status_code == 200 and "死亡医学证明信息" in form.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    data = {
        "csrf_token": csrf, "name": "死亡医学证明信息", "classification": "department",
        "sharing_type": "conditional", "sharing_conditions": "社保待遇核查",
        "open_type": "closed", "update_cycle": "daily", "grade": "important",
        "tags": "死亡，人口", "table_schema": json.dumps(SCHEMA), "note": "改为日更",
    }  # fmt: skip
    r = steward.post("/catalog/3-03-001-000001/edit", data=data, follow_redirects=False)
    assert r.status_code == 303
    revs = steward.get("/api/v1/catalog/3-03-001-000001/revisions").json()["items"]
    assert revs[0]["changed_fields"] == ["update_cycle"] and revs[0]["note"] == "改为日更"
    bad = steward.post("/catalog/3-03-001-000001/edit", data={**data, "table_schema": "{"})
    assert bad.status_code == 422 and "JSON" in bad.text
