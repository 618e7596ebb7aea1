"""Objections (数据异议) and demands (供需对接) over HTTP and on their pages: a consumer
holding a grant disputes rows of a version with an evidence file, the provider answers
(corrected in a newer version, or rejected with a reason), the consumer reopens once or
accepts; overdue objections show red and escalate; a department publishes a data need and
accepts a provider's answer."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from zhili.calendar.service import WorkCalendar
from zhili.clock import CITY_TZ, utcnow
from zhili.exchange import objections
from zhili.exchange.feedback_models import Objection
from zhili.exchange.requests import today

SCHEMA = {
    "fields": [
        {"name": "id_number", "title": "公民身份号码", "type": "string",
         "x-sensitivity": "sensitive_personal", "constraints": {"required": True}},
        {"name": "death_date", "title": "死亡日期", "type": "date"},
    ],
    "primaryKey": ["id_number"],
}  # fmt: skip
CODE = "3-03-001-000001"
RESOURCE = {
    "code": CODE,
    "name": "死亡医学证明信息",
    "provider_code": "PSB",
    "classification": "department",
    "table_schema": SCHEMA,
    "sharing_type": "conditional",
    "sharing_conditions": "社保待遇核查",
    "open_type": "closed",
    "update_cycle": "monthly",
    "grade": "important",
}
ROWS = "id_number,death_date\n11010519491231002X,2026-10-01\n120101195001010019,2026-10-03\n"
FIXED = "id_number,death_date\n11010519491231002X,2026-10-01\n120101195001010019,2026-10-04\n"
KEY = "120101195001010019"


def _upload(client: TestClient, text: str) -> None:
    r = client.post(
        f"/api/v1/catalog/{CODE}/versions",
        files={"file": ("deaths.csv", text.encode(), "text/csv")},
        data={"mode": "replace"},
    )
    assert r.status_code == 201, r.text


def _versions(client: TestClient) -> list[int]:
    r = client.get(f"/api/v1/catalog/{CODE}/versions")
    assert r.status_code == 200, r.text
    body = r.json()
    items = body["items"] if isinstance(body, dict) else body
    return sorted(v["version"] for v in items)


@pytest.fixture()
def city(client: TestClient, world, login, seeded_calendar):
    """PSB provides a conditional resource (one version); CAB (民政局) holds a grant for
    it; EDU (教育局) holds none. The client is left logged in as CAB's analyst."""
    world.org("CAB", "民政局", "city", "department", "CITY")
    world.org("EDU", "教育局", "city", "department", "CITY")
    world.user("psb.steward", "PSB", "data_steward")
    world.user("psb.approver", "PSB", "approver")
    world.user("cab.analyst", "CAB", "analyst")
    world.user("edu.steward", "EDU", "data_steward")
    world.user("admin", "BUREAU", "platform_admin")
    world.user("grid", "D01", "grid_worker")
    login("psb.steward")
    assert client.post("/api/v1/catalog", json=RESOURCE).status_code == 201
    _upload(client, ROWS)
    login("cab.analyst")
    body = {"resource_code": CODE, "system": "养老金发放系统", "purpose": "停发已故人员养老金"}
    rid = client.post("/api/v1/exchange/requests", json=body).json()["id"]
    login("psb.approver")
    r = client.post(f"/api/v1/exchange/requests/{rid}/approve", json={})
    assert r.status_code == 201, r.text
    client.grant_id = r.json()["id"]
    login("cab.analyst")
    return client


OBJECTION = {
    "resource_code": CODE,
    "row_keys": [KEY],
    "fields": ["death_date"],
    "description": "死亡日期与火化记录不符",
    "evidence": "殡仪馆火化证明 2026-10-05",
}


def test_objection_api_flow(city: TestClient, login) -> None:
    client = city
    first = _versions(client)[-1]
    r = client.post("/api/v1/exchange/objections", json={**OBJECTION, "version": first})
    assert r.status_code == 201, r.text
    o = r.json()
    oid = o["id"]
    assert (o["state"], o["version"], o["row_keys"], o["fields"]) == (
        "open", first, [KEY], ["death_date"],
    )  # fmt: skip
    assert o["overdue"] is False and o["is_consumer"] and not o["can_answer"]
    with city.app.state.db.session() as s:
        expected = WorkCalendar.from_session(s).add_workdays(today(), 5)
    assert dt.datetime.fromisoformat(o["due_at"]).astimezone(CITY_TZ).date() == expected
    assert [t["to"] for t in o["transitions"]] == ["open"]

    r = client.post(
        f"/api/v1/exchange/objections/{oid}/evidence",
        files={"file": ("火化证明.pdf", b"%PDF-1.4 evidence", "application/pdf")},
    )
    assert r.status_code == 200 and r.json()["evidence_file"]["bytes"] == 17
    r = client.get(f"/api/v1/exchange/objections/{oid}/evidence")
    assert r.status_code == 200 and r.content == b"%PDF-1.4 evidence"
    assert r.headers["content-type"] == "application/octet-stream"
    assert "attachment" in r.headers["content-disposition"]

    # Validation names the field; an organization without a grant is refused.
    bad = client.post("/api/v1/exchange/objections", json={**OBJECTION, "version": 99})
    assert bad.status_code == 422 and bad.json()["field"] == "version"
    bad = client.post(
        "/api/v1/exchange/objections", json={**OBJECTION, "resource_code": "9-99", "version": 1}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "resource_code"
    login("edu.steward")
    refused = client.post("/api/v1/exchange/objections", json={**OBJECTION, "version": first})
    assert refused.status_code == 403 and refused.json()["code"] == "objection.no_grant"
    assert client.get(f"/api/v1/exchange/objections/{oid}").status_code == 404
    assert client.get(f"/api/v1/exchange/objections/{oid}/evidence").status_code == 404

    # The provider answers: not newer → 422; a new version corrects it.
    login("psb.steward")
    queue = client.get("/api/v1/exchange/objections?side=provider").json()["items"]
    assert [q["id"] for q in queue] == [oid] and queue[0]["can_answer"]
    url = f"/api/v1/exchange/objections/{oid}"
    bad = client.post(f"{url}/answer", json={"outcome": "corrected", "version": first})
    assert bad.status_code == 422 and bad.json()["code"] == "objection.version_not_newer"
    bad = client.post(f"{url}/answer", json={"outcome": "rejected", "reason": ""})
    assert bad.status_code == 422 and bad.json()["field"] == "reason"
    _upload(client, FIXED)
    fixed = _versions(client)[-1]
    r = client.post(f"{url}/answer", json={"outcome": "corrected", "version": fixed})
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["corrected_version"]) == ("answered_corrected", fixed)
    assert client.post(f"{url}/close").status_code == 403  # only the objecting org accepts

    login("cab.analyst")
    r = client.post(f"{url}/reopen", json={"reason": ""})
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = client.post(f"{url}/close", json={"reason": "已核对"})
    assert r.status_code == 200 and r.json()["state"] == "closed"
    assert client.post(f"{url}/reopen", json={"reason": "x"}).status_code == 409
    steps = [(t["from"], t["to"]) for t in r.json()["transitions"]]
    assert steps == [
        (None, "open"),
        ("open", "answered_corrected"),
        ("answered_corrected", "closed"),
    ]
    login("admin")
    assert [x["id"] for x in client.get("/api/v1/exchange/objections").json()["items"]] == [oid]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_objection_pages(city: TestClient, login) -> None:
    client = city
    version = _versions(client)[-1]
    grant_page = client.get(f"/exchange/grants/{city.grant_id}")
    assert grant_page.status_code == 200
    assert f'href="/exchange/objections/new?resource={CODE}"' in grant_page.text
    form = client.get(f"/exchange/objections/new?resource={CODE}")
    assert form.status_code == 200 and 'name="row_keys"' in form.text
    assert 'enctype="multipart/form-data"' in form.text
    fields = {
        "csrf_token": _csrf(form.text),
        "resource_code": CODE,
        "version": str(version),
        "row_keys": f"{KEY}\n\n11010519491231002X\n",
        "fields": "death_date",
        "description": "死亡日期与火化记录不符",
        "evidence": "火化证明",
    }
    bad = client.post("/exchange/objections", data={**fields, "version": "42"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    assert "没有版本 42" in bad.text
    r = client.post(
        "/exchange/objections",
        data=fields,
        files={"evidence_file": ("证明.txt", "火化日期 2026-10-05".encode(), "text/plain")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page_url = r.headers["location"]
    oid = int(page_url.rsplit("/", 1)[1])
    page = client.get(page_url)
    assert page.status_code == 200 and "死亡日期与火化记录不符" in page.text
    assert f"/api/v1/exchange/objections/{oid}/evidence" in page.text and "证明.txt" in page.text
    assert 'id="answer-form"' not in page.text and 'id="reopen-form"' not in page.text

    login("psb.approver")
    page = client.get(page_url)
    assert 'id="answer-form"' in page.text
    r = client.post(f"{page_url}/answer", data={"outcome": "rejected", "reason": ""})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text
    r = client.post(
        f"{page_url}/answer",
        data={"outcome": "rejected", "reason": "与医学证明原件一致"},
        follow_redirects=False,
    )
    assert r.status_code == 303

    login("cab.analyst")
    page = client.get(page_url)
    assert "不予更正" in page.text and 'id="reopen-form"' in page.text
    r = client.post(f"{page_url}/reopen", data={"reason": "附火化证明"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(page_url)
    assert "重新提出" in page.text and "附火化证明" in page.text

    # Past its deadline the list shows it red; the housekeeping escalates it once.
    with city.app.state.db.session() as s:
        s.execute(
            update(Objection)
            .where(Objection.id == oid)
            .values(due_at=utcnow() - dt.timedelta(hours=1))
        )
    listing = client.get("/exchange/objections?side=consumer")
    assert listing.status_code == 200
    assert "due-overdue" in listing.text and "已超期" in listing.text
    with city.app.state.db.session() as s:
        assert [o.id for o in objections.escalate_overdue(s)] == [oid]
    login("admin")
    bureau = client.get("/exchange/objections?side=bureau")
    assert "已督办" in bureau.text and f"/exchange/objections/{oid}" in bureau.text
    assert 'id="answer-form"' in client.get(page_url).text  # escalated: the bureau answers
    assert client.get("/exchange/objections?state=reopened").status_code == 200


def test_demand_api_flow(city: TestClient, login) -> None:
    client = city
    deadline = (today() + dt.timedelta(days=20)).isoformat()
    body = {
        "title": "死亡人员名单",
        "description": "及时停发养老金",
        "items": "姓名、公民身份号码、死亡日期",
        "purpose": "停发已故人员养老金",
        "target_org": "PSB",
        "deadline": deadline,
    }
    r = client.post("/api/v1/exchange/demands", json=body)
    assert r.status_code == 201, r.text
    did = r.json()["id"]
    assert r.json()["target_org"]["code"] == "PSB" and r.json()["is_publisher"]
    bad = client.post("/api/v1/exchange/demands", json={**body, "deadline": "2001-01-01"})
    assert bad.status_code == 422 and bad.json()["field"] == "deadline"

    login("grid")  # everyone signed in sees the marketplace
    assert [d["id"] for d in client.get("/api/v1/exchange/demands").json()["items"]] == [did]
    assert client.get(f"/api/v1/exchange/demands/{did}").json()["can_answer"] is False

    login("edu.steward")  # addressed to PSB, not EDU
    r = client.post(f"/api/v1/exchange/demands/{did}/answers", json={"resource_code": CODE})
    assert r.status_code == 403

    login("psb.steward")
    url = f"/api/v1/exchange/demands/{did}"
    bad = client.post(f"{url}/answers", json={"resource_code": "9-99-999-999999"})
    assert bad.status_code == 422 and bad.json()["field"] == "resource_code"
    r = client.post(f"{url}/answers", json={"resource_code": CODE, "note": "已有，可申请"})
    assert r.status_code == 201 and r.json()["state"] == "answered"
    answer_id = r.json()["answers"][0]["id"]
    assert r.json()["answers"][0]["resource"]["code"] == CODE

    login("cab.analyst")
    r = client.post(f"{url}/close", json={"answer_id": answer_id})
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["accepted_answer_id"]) == ("closed", answer_id)
    assert [t["to"] for t in r.json()["transitions"]] == ["open", "answered", "closed"]
    assert client.post(f"{url}/close", json={"reason": "x"}).status_code == 409


def test_demand_pages(city: TestClient, login) -> None:
    client = city
    listing = client.get("/exchange/demands")
    assert listing.status_code == 200 and 'id="publish-form"' in listing.text
    assert 'href="/exchange/objections"' in listing.text  # the exchange tabs
    form = {"title": "低保对象名单", "description": "入户核查", "items": "姓名、身份证号",
            "purpose": "救助资格复核", "target_org": "", "deadline": ""}  # fmt: skip
    bad = client.post("/exchange/demands", data=form)
    assert bad.status_code == 422 and "低保对象名单" in bad.text  # the form comes back
    form["deadline"] = (today() + dt.timedelta(days=10)).isoformat()
    r = client.post("/exchange/demands", data=form, follow_redirects=False)
    assert r.status_code == 303
    page_url = r.headers["location"]
    assert "低保对象名单" in client.get("/exchange/demands?side=mine").text

    login("psb.steward")
    page = client.get(page_url)
    assert page.status_code == 200 and 'id="answer-form"' in page.text
    r = client.post(f"{page_url}/answers", data={"kind": "plan", "plan": "按月推送"})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text
    planned = (today() + dt.timedelta(days=5)).isoformat()
    r = client.post(
        f"{page_url}/answers",
        data={"kind": "plan", "plan": "按月推送", "planned_date": planned},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "按月推送" in client.get(page_url).text

    login("cab.analyst")
    page = client.get(page_url)
    assert "accept-answer" in page.text and 'id="close-form"' in page.text
    answer_id = re.search(r'name="answer_id" value="(\d+)"', page.text).group(1)
    r = client.post(f"{page_url}/close", data={"answer_id": answer_id}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(page_url)
    assert "已采纳" in page.text and 'id="close-form"' not in page.text
    login("grid")
    assert client.get(page_url).status_code == 200
    assert client.get("/exchange/demands/999999").status_code == 404
