"""The event catalogue over HTTP and on the page: import as JSON, YAML or an uploaded
file (a refusal is a 422 problem naming the field, with nothing written), list and show,
check answers; the pages list the categories by group and render each form."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps" / "grid"))
from test_grid_categories import add_area, good

PROBLEM = "application/problem+json"


@pytest.fixture()
def people(world):
    world.user("root", "BUREAU", "platform_admin")
    world.user("cmd", "D01", "commander")
    with world.db.session() as s:
        city = add_area(s, "C", "city")
        add_area(s, "D1", "district", city)
    return world


def test_import_list_show_and_check(client, login, people) -> None:
    login("root")
    doc = {
        "categories": [good(), good(code="fumes", name="油烟", group="生态环境", attributes=[])],
        "routes": [{"category": "noise", "area": "D1", "department": "D01"}],
    }
    r = client.post("/api/v1/grid/categories/import", json=doc)
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 2, "updated": 0, "routes": 1}
    text = yaml.safe_dump([good(name="夜间噪声")], allow_unicode=True)
    r = client.post(
        "/api/v1/grid/categories/import",
        content=text.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert r.json() == {"created": 0, "updated": 1, "routes": 0}, r.text
    r = client.post(
        "/api/v1/grid/categories/import",
        files={"file": ("cat.json", json.dumps([good(code="light")]).encode(), "application/json")},
    )
    assert r.json()["created"] == 1, r.text

    login("cmd")
    listed = client.get("/api/v1/grid/categories", params={"group": "生态环境"}).json()["items"]
    assert [c["code"] for c in listed] == ["fumes", "light", "noise"]
    assert listed[2]["department"]["code"] == "PSB" and listed[2]["attributes"] == 7
    shown = client.get("/api/v1/grid/categories/noise").json()
    assert shown["name"] == "夜间噪声" and shown["time_limits"]["handle"]["unit"] == "days"
    assert shown["routes"] == [
        {"area": "D1", "area_name": "D1", "level": "district",
         "department": {"code": "D01", "name": "和平区", "name_en": None}}
    ]  # fmt: skip
    assert [a["code"] for a in shown["attributes"]][:2] == ["note", "source"]
    missing = client.get("/api/v1/grid/categories/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "grid.category_not_found"

    answers = {"source": "business", "noise_time": "2025-10-08T22:30", "db": "70"}
    r = client.post("/api/v1/grid/categories/noise/check", json={"answers": answers})
    assert r.status_code == 200, r.text
    assert r.json()["answers"] == {"source": "business", "noise_time": "2025-10-08T22:30:00+08:00",
                                   "db": 70}  # fmt: skip
    r = client.post(
        "/api/v1/grid/categories/noise/check",
        json={"answers": {**answers, "kinds": ["drums"]}},
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    problem = r.json()
    assert problem["code"] == "grid.answer_bad_value" and problem["field"] == "kinds"
    assert "kinds" in problem["detail"] and "music, machine" in problem["detail"]


def test_bad_imports_are_problems_naming_the_field(client, login, people) -> None:
    login("cmd")
    assert client.post("/api/v1/grid/categories/import", json=[good()]).status_code == 403
    login("root")
    bad_attribute = good()
    bad_attribute["attributes"][1]["datatype"] = "enum"
    for body, headers, code, field in [
        (json.dumps([bad_attribute]), {"Content-Type": "application/json"},
         "grid.category_bad_value", "attributes.source.datatype"),
        (json.dumps([good(department="NOPE")]), {"Content-Type": "application/json"},
         "grid.category_unknown_org", "department"),
        ("- code: noise\n  name: [", {"Content-Type": "application/yaml"},
         "grid.catalogue_syntax", None),
        (" \n", {"Content-Type": "application/yaml"}, "grid.catalogue_empty", None),
        (json.dumps({"categories": [good()], "routes": [
            {"category": "noise", "area": "ZZ", "department": "PSB"}]}),
         {"Content-Type": "application/json"}, "grid.route_unknown_area", "routes[0].area"),
    ]:  # fmt: skip
        r = client.post("/api/v1/grid/categories/import", content=body.encode(), headers=headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        problem = r.json()
        assert problem["code"] == code, problem
        if field is not None:
            assert problem["field"] == field and field in problem["detail"], problem
    r = client.post("/api/v1/grid/categories/import", content=b"", headers={})
    assert r.status_code == 422 and r.json()["field"] == "file"
    r = client.post("/api/v1/grid/categories/import", files={"other": ("x", b"y")})
    assert r.status_code == 422 and r.json()["code"] == "grid.catalogue_no_file"
    assert client.get("/api/v1/grid/categories").json()["items"] == []


def test_pages_list_and_render_the_form(client, login, people) -> None:
    login("root")
    doc = [good(), good(code="fumes", name="油烟", group="生态环境", attributes=[]),
           good(code="light", name="路灯不亮", name_en="Street with no lights",
                group="市政设施", group_en="Municipal facilities")]  # fmt: skip
    assert client.post("/api/v1/grid/categories/import", json=doc).status_code == 200
    login("cmd")
    page = client.get("/grid/categories", headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text
    html = page.text
    assert html.index('data-group="市政设施"') < html.index('data-group="生态环境"')
    assert "Street with no lights" in html and "公安局" in html and "立案" in html
    assert "2 工作小时" in html and "3 个工作日" in html

    page = client.get("/grid/categories/noise", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    for needle in ('<select id="attr-source" name="attribute[source]" required',
                   'type="checkbox" name="attribute[kinds][]" value="music"',
                   'type="number" step="any"', 'type="datetime-local"',
                   '<textarea id="attr-detail"', 'type="text" maxlength="1000"',
                   "夜间请拨打 110", 'class="required"'):  # fmt: skip
        assert needle in html, needle
    english = client.get("/grid/categories/noise", headers={"Accept-Language": "en"}).text
    assert "Time limits" in english and "Register" in english

    form = {"attribute[source]": "business", "attribute[kinds][]": ["music", "machine"],
            "attribute[noise_time]": "2025-10-08T22:30", "attribute[db]": "70"}  # fmt: skip
    checked = client.post("/grid/categories/noise/check", data=form)
    assert checked.status_code == 200 and 'id="answers-ok"' in checked.text
    assert "2025-10-08T22:30:00+08:00" in checked.text and "music, machine" in checked.text
    refused = client.post("/grid/categories/noise/check", data={**form, "attribute[db]": "x"})
    assert refused.status_code == 422
    assert 'data-field="db"' in refused.text and 'value="business" selected' in refused.text
    missing = client.post("/grid/categories/noise/check", data={"attribute[db]": "1"})
    assert missing.status_code == 422 and 'data-field="source"' in missing.text
