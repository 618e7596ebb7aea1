"""The exchange over HTTP and on its pages: apply, review on working-day deadlines, return
for more information, amend, approve with masking and quotas, then read through the grant
(its fields, rows, masking and daily calls), suspend, resume and revoke it; unconditional
requests pass the compliance check on submit; a resource that is not shared is granted
only by the bureau, with a legal basis."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from zhili.calendar.service import WorkCalendar
from zhili.clock import CITY_TZ
from zhili.exchange.requests import today

SCHEMA = {
    "fields": [
        {"name": "id_number", "title": "公民身份号码", "type": "string", "format": "cn-id",
         "x-sensitivity": "sensitive_personal", "constraints": {"required": True}},
        {"name": "name", "title": "姓名", "type": "string", "x-sensitivity": "personal"},
        {"name": "death_date", "title": "死亡日期", "type": "date"},
    ],
    "primaryKey": ["id_number"],
}  # fmt: skip
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
CODE = RESOURCE["code"]
ROWS = (
    "id_number,name,death_date\n"
    "11010519491231002X,张三,2026-10-01\n"
    "120101199001010113,李四,2026-10-02\n"
    "120101195001010019,王五,2026-10-03\n"
)
ROW_FILTER = "death_date <= '2026-10-02'"
APPLICATION = {
    "resource_code": CODE,
    "system": "养老金发放系统",
    "purpose": "停发已故人员养老金",
    "fields": ["id_number", "death_date"],
    "row_filter": ROW_FILTER,
}
OTHER = {"sharing_conditions": None, "tags": []}


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.fixture()
def city(client: TestClient, world, login, seeded_calendar):
    """PSB (steward, approver) provides a conditional resource with three rows; CAB (民政局)
    has an analyst; the bureau a platform admin. The client is logged in as the steward."""
    world.org("CAB", "民政局", "city", "department", "CITY")
    world.user("psb.steward", "PSB", "data_steward")
    world.user("psb.approver", "PSB", "approver")
    world.user("cab.analyst", "CAB", "analyst")
    world.user("admin", "BUREAU", "platform_admin")
    login("psb.steward")
    assert client.post("/api/v1/catalog", json=RESOURCE).status_code == 201
    r = client.post(
        f"/api/v1/catalog/{CODE}/versions",
        files={"file": ("deaths.csv", ROWS.encode(), "text/csv")},
    )
    assert r.status_code == 201, r.text
    return client


def _resource(client: TestClient, code: str, sharing_type: str, **extra: object) -> None:
    body = {**RESOURCE, **OTHER, "code": code, "sharing_type": sharing_type, **extra}
    r = client.post("/api/v1/catalog", json=body)
    assert r.status_code == 201, r.text


def test_the_whole_flow(city: TestClient, login) -> None:
    client = city
    login("cab.analyst")
    r = client.post("/api/v1/exchange/requests", json=APPLICATION)
    assert r.status_code == 201, r.text
    request = r.json()
    rid = request["id"]
    assert request["state"] == "under_review" and request["reviewer"] == "provider"
    assert request["fields"] == ["id_number", "death_date"]
    assert request["grant_id"] is None and request["can_review"] is False

    # The approver's queue, due five working days ahead (the day of receipt not counted).
    login("psb.approver")
    queue = client.get("/api/v1/exchange/requests?side=provider").json()["items"]
    assert [q["id"] for q in queue] == [rid]
    with city.app.state.db.session() as s:
        expected = WorkCalendar.from_session(s).add_workdays(today(), 5)
    due = dt.datetime.fromisoformat(queue[0]["due_at"]).astimezone(CITY_TZ)
    assert due.date() == expected and queue[0]["overdue"] is False
    page = client.get("/exchange/requests?side=provider")
    assert page.status_code == 200
    assert "待我审批" in page.text and "死亡医学证明信息" in page.text
    assert expected.isoformat() in page.text
    one = client.get(f"/api/v1/exchange/requests/{rid}").json()
    assert one["can_review"] is True
    assert [t["to"] for t in one["transitions"]] == ["draft", "submitted", "under_review"]

    # A rejection needs a reason; asking for more information returns it to the applicant.
    bad = client.post(f"/api/v1/exchange/requests/{rid}/reject", json={})
    assert bad.status_code == 422 and bad.json()["field"] == "reason"
    assert bad.json()["code"] == "exchange.required"
    r = client.post(f"/api/v1/exchange/requests/{rid}/more-info", json={"reason": "请补充法律依据"})
    assert r.status_code == 200 and r.json()["state"] == "needs_info"
    assert client.post(f"/api/v1/exchange/requests/{rid}/approve", json={}).status_code == 409

    login("cab.analyst")
    r = client.patch(f"/api/v1/exchange/requests/{rid}", json={"legal_basis": "社会保险法"})
    assert r.status_code == 200, r.text
    assert r.json()["legal_basis"] == "社会保险法" and r.json()["row_filter"] == ROW_FILTER
    r = client.post(f"/api/v1/exchange/requests/{rid}/submit")
    assert r.status_code == 200 and r.json()["state"] == "under_review"

    login("psb.approver")
    r = client.post(
        f"/api/v1/exchange/requests/{rid}/approve",
        json={"masking": {"id_number": {"rule": "id_number"}}, "calls_per_day": 3},
    )
    assert r.status_code == 201, r.text
    grant = r.json()
    gid = grant["id"]
    assert grant["state"] == "active" and grant["calls_per_day"] == 3
    assert grant["fields"] == ["id_number", "death_date"] and grant["row_filter"] == ROW_FILTER
    assert grant["masking"] == {"id_number": {"rule": "id_number"}}
    assert client.get(f"/api/v1/exchange/requests/{rid}").json()["grant_id"] == gid

    # The consumer reads under the grant: its fields, its rows, masked; three calls a day.
    login("cab.analyst")
    url = f"/api/v1/catalog/{CODE}/rows"
    body = client.get(url).json()
    assert body["basis"] == "grant" and body["grant"] == gid
    assert body["fields"] == ["id_number", "death_date"]
    assert sorted(row["id_number"] for row in body["rows"]) == [
        "110105********002X",
        "120101********0113",
    ]
    assert client.get(url).status_code == 200 and client.get(url).status_code == 200
    over = client.get(url)
    assert over.status_code == 403 and over.json()["code"] == "exchange.grant_over_calls"
    shown = client.get(f"/api/v1/exchange/grants/{gid}").json()
    assert shown["usage"]["calls"] == 3 and shown["usage"]["rows"] == 6
    assert shown["can_manage"] is False
    mine = client.get("/api/v1/exchange/grants?side=consumer").json()["items"]
    assert [g["id"] for g in mine] == [gid]

    # The provider suspends (reason recorded and named), resumes, revokes.
    login("psb.approver")
    base = f"/api/v1/exchange/grants/{gid}"
    assert client.post(f"{base}/suspend", json={}).status_code == 422
    r = client.post(f"{base}/suspend", json={"reason": "数据核查中"})
    assert r.status_code == 200 and r.json()["state"] == "suspended"
    login("cab.analyst")
    refused = client.get(url)
    assert refused.status_code == 403 and refused.json()["code"] == "exchange.grant_suspended"
    assert "数据核查中" in refused.json()["detail"]
    login("psb.approver")
    r = client.post(f"{base}/resume", json={"reason": "核查完毕"})
    assert r.status_code == 200 and r.json()["state"] == "active"
    r = client.post(f"{base}/revoke", json={"reason": "业务已停止"})
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    assert client.post(f"{base}/resume", json={"reason": "x"}).status_code == 409
    login("cab.analyst")
    refused = client.get(url)
    assert refused.status_code == 403 and refused.json()["code"] == "exchange.grant_revoked"
    history = client.get(f"/api/v1/exchange/requests/{rid}").json()["transitions"]
    assert [t["to"] for t in history][-3:] == ["suspended", "active", "revoked"]
    assert history[-1]["reason"] == "业务已停止" and history[-1]["actor"] == "psb.approver"


def test_unconditional_requests_pass_the_compliance_check(city: TestClient, login) -> None:
    _resource(city, "3-03-001-000002", "unconditional")
    login("cab.analyst")
    r = city.post(
        "/api/v1/exchange/requests",
        json={**APPLICATION, "resource_code": "3-03-001-000002", "legal_basis": "社会保险法"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "active" and r.json()["grant_id"] is not None
    assert r.json()["transitions"][-1]["actor"] == "system:compliance"
    # Without a legal basis the check does not pass: the bureau decides.
    r = city.post(
        "/api/v1/exchange/requests", json={**APPLICATION, "resource_code": "3-03-001-000002"}
    )
    assert r.json()["state"] == "under_review" and r.json()["reviewer"] == "bureau"
    assert "legal basis" in r.json()["decision_reason"]
    login("admin")
    bureau = city.get("/api/v1/exchange/requests?side=bureau").json()["items"]
    assert [b["id"] for b in bureau] == [r.json()["id"]]


def test_draft_amend_withdraw_and_who_may_apply(city: TestClient, login) -> None:
    login("cab.analyst")
    r = city.post("/api/v1/exchange/requests", json={**APPLICATION, "submit": False})
    assert r.status_code == 201 and r.json()["state"] == "draft"
    rid = r.json()["id"]
    r = city.patch(f"/api/v1/exchange/requests/{rid}", json={"fields": ["nope"]})
    assert r.status_code == 422 and r.json()["code"] == "exchange.unknown_field"
    r = city.post(f"/api/v1/exchange/requests/{rid}/withdraw")
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    assert city.get("/api/v1/exchange/requests?state=withdrawn").json()["items"][0]["id"] == rid
    bad = city.post("/api/v1/exchange/requests", json={**APPLICATION, "purpose": " "})
    assert bad.status_code == 422 and bad.json()["field"] == "purpose"
    login("psb.steward")  # the provider's own staff read directly
    own = city.post("/api/v1/exchange/requests", json=APPLICATION)
    assert own.status_code == 422 and own.json()["code"] == "exchange.own_resource"
    login("admin")  # exchange.apply has no global role
    assert city.post("/api/v1/exchange/requests", json=APPLICATION).status_code == 403
    assert city.get(f"/api/v1/exchange/requests/{rid}").status_code == 200


def test_not_shared_only_by_the_bureau_with_a_legal_basis(city: TestClient, login) -> None:
    _resource(city, "3-03-001-000003", "none", legal_basis="《个人信息保护法》第十三条")
    login("cab.analyst")
    r = city.post(
        "/api/v1/exchange/requests", json={**APPLICATION, "resource_code": "3-03-001-000003"}
    )
    assert r.json()["state"] == "under_review" and r.json()["reviewer"] == "bureau"
    rid = r.json()["id"]
    login("psb.approver")
    refused = city.post(f"/api/v1/exchange/requests/{rid}/approve", json={})
    assert refused.status_code == 403 and refused.json()["code"] == "exchange.not_reviewer"
    login("admin")
    assert city.get(f"/api/v1/exchange/requests/{rid}").json()["can_review"] is True
    no_basis = city.post(f"/api/v1/exchange/requests/{rid}/approve", json={})
    assert no_basis.status_code == 422
    assert no_basis.json()["code"] == "exchange.legal_basis_required"
    r = city.post(
        f"/api/v1/exchange/requests/{rid}/approve",
        json={"reason": "依据《公共卫生应急条例》第十条", "masking": None},
    )
    assert r.status_code == 201, r.text
    assert r.json()["masking"] == {"id_number": {"rule": "id_number"}}  # the default rules
    assert r.json()["approved_by"] == "admin"


# --- pages ----------------------------------------------------------------------------


def test_apply_page_and_form(city: TestClient, login) -> None:
    resource = city.get(f"/catalog/{CODE}")
    assert "申请使用" not in resource.text  # the provider's own steward
    login("cab.analyst")
    resource = city.get(f"/catalog/{CODE}")
    assert f'href="/exchange/apply?resource={CODE}"' in resource.text
    form = city.get(f"/exchange/apply?resource={CODE}")
    assert form.status_code == 200
    assert "申请使用数据" in form.text and "敏感个人信息" in form.text
    assert "district_code in (&#39;120101&#39;,&#39;120102&#39;) and age &gt;= 60" in form.text
    data = {
        "csrf_token": _csrf(form.text),
        "resource_code": CODE,
        "system": "养老金发放系统",
        "purpose": "",
        "fields": ["id_number", "death_date"],
        "row_filter": ROW_FILTER,
        "period_start": "",
        "period_end": "",
    }
    bad = city.post("/exchange/apply", data=data)
    assert bad.status_code == 422
    assert (
        "purpose 为必填项" in bad.text
        and 'name="purpose" rows="2" required aria-invalid' in bad.text
    )
    assert 'value="养老金发放系统"' in bad.text  # the form keeps what was typed
    bad_date = city.post("/exchange/apply", data={**data, "purpose": "核查", "period_end": "x"})
    assert bad_date.status_code == 422 and "period_end" in bad_date.text
    ok = city.post(
        "/exchange/apply", data={**data, "purpose": "停发已故人员养老金"}, follow_redirects=False
    )
    assert ok.status_code == 303
    assert re.fullmatch(r"/exchange/requests/\d+", ok.headers["location"])
    shown = city.get(ok.headers["location"])
    assert shown.status_code == 200 and "审核中" in shown.text and "办理过程" in shown.text
    assert "撤回申请" in shown.text and 'id="approve-form"' not in shown.text
    mine = city.get("/exchange/requests")
    assert mine.status_code == 200 and "我的申请" in mine.text and "死亡医学证明信息" in mine.text
    assert "待我审批" not in mine.text  # an analyst reviews nothing


def test_review_pages_and_grant_pages(city: TestClient, login) -> None:
    login("cab.analyst")
    rid = city.post("/api/v1/exchange/requests", json=APPLICATION).json()["id"]
    login("psb.approver")
    page = city.get(f"/exchange/requests/{rid}")
    assert page.status_code == 200 and 'id="approve-form"' in page.text
    # The masking select starts from the default rule of each personal item.
    assert '<option value="id_number" selected>' in page.text
    csrf = _csrf(page.text)
    no_reason = city.post(f"/exchange/requests/{rid}/reject", data={"csrf_token": csrf})
    assert no_reason.status_code == 422 and "reason 为必填项" in no_reason.text
    back = city.post(
        f"/exchange/requests/{rid}/more-info",
        data={"csrf_token": csrf, "reason": "请补充法律依据"},
        follow_redirects=False,
    )
    assert back.status_code == 303

    login("cab.analyst")
    page = city.get(f"/exchange/requests/{rid}")
    assert (
        "待补充材料" in page.text
        and "请补充法律依据" in page.text
        and 'id="amend-form"' in page.text
    )
    amended = city.post(
        f"/exchange/requests/{rid}/amend",
        data={
            "csrf_token": _csrf(page.text),
            "system": "养老金发放系统",
            "purpose": "停发已故人员养老金",
            "legal_basis": "社会保险法",
            "fields": ["id_number", "death_date"],
            "row_filter": ROW_FILTER,
            "period_start": "",
            "period_end": "",
        },
        follow_redirects=False,
    )
    assert amended.status_code == 303

    login("psb.approver")
    page = city.get(f"/exchange/requests/{rid}")
    approved = city.post(
        f"/exchange/requests/{rid}/approve",
        data={
            "csrf_token": _csrf(page.text),
            "valid_until": "",
            "calls_per_day": "5",
            "rows_per_day": "",
            "no_onward_sharing": "true",
            "mask_field": ["id_number", "death_date"],
            "mask_rule": ["id_number", ""],
            "reason": "同意",
        },
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    page = city.get(f"/exchange/requests/{rid}")
    assert "生效中" in page.text and "同意" in page.text
    gid = int(re.search(r'href="/exchange/grants/(\d+)"', page.text).group(1))
    grant = city.get(f"/api/v1/exchange/grants/{gid}").json()
    assert grant["calls_per_day"] == 5 and grant["rows_per_day"] is None
    assert grant["masking"] == {"id_number": {"rule": "id_number"}}

    listing = city.get("/exchange/grants")
    assert listing.status_code == 200 and f'href="/exchange/grants/{gid}"' in listing.text
    shown = city.get(f"/exchange/grants/{gid}")
    assert shown.status_code == 200
    assert "今日用量" in shown.text and 'id="usage-chart"' in shown.text
    assert "/static/vendor/echarts.min.js" in shown.text and 'id="suspend"' in shown.text
    csrf = _csrf(shown.text)
    no_reason = city.post(f"/exchange/grants/{gid}/suspend", data={"csrf_token": csrf})
    assert no_reason.status_code == 422
    done = city.post(
        f"/exchange/grants/{gid}/suspend",
        data={"csrf_token": csrf, "reason": "数据核查中"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    shown = city.get(f"/exchange/grants/{gid}")
    assert "已暂停" in shown.text and "数据核查中" in shown.text and 'id="resume"' in shown.text

    login("cab.analyst")  # the consumer sees the grant, without the manager's forms
    shown = city.get(f"/exchange/grants/{gid}")
    assert shown.status_code == 200 and 'id="grant-form"' not in shown.text


def test_bureau_and_all_tabs(city: TestClient, login) -> None:
    login("admin")
    page = city.get("/exchange/requests?side=bureau")
    assert page.status_code == 200
    assert all(tab in page.text for tab in ("我的申请", "待我审批", "大数据中心", "全部"))
    assert "数据共享" in page.text  # the navigation entry
    assert city.get("/exchange/requests?side=all&state=active").status_code == 200
    assert city.get("/exchange/requests/999999").status_code == 404
    assert city.get("/exchange/grants/999999").status_code == 404


def test_pages_in_english_have_every_text(city: TestClient, login) -> None:
    login("cab.analyst")
    rid = city.post("/api/v1/exchange/requests", json=APPLICATION).json()["id"]
    login("admin")
    gid = city.post(f"/api/v1/exchange/requests/{rid}/approve", json={}).json()["id"]
    city.cookies.set("zhili_lang", "en")
    for url in (
        "/exchange/requests?side=all",
        f"/exchange/requests/{rid}",
        "/exchange/grants",
        f"/exchange/grants/{gid}",
    ):
        page = city.get(url)
        assert page.status_code == 200, url
        raw = re.findall(r"\bexchange\.(?!js\b)[a-z_.]+", page.text)
        assert not raw, (url, raw)
    assert "Data sharing" in page.text and "Usage today" in page.text
    login("cab.analyst")
    form = city.get(f"/exchange/apply?resource={CODE}")
    assert "Apply to use data" in form.text
    assert not re.findall(r"\bexchange\.(?!js\b)[a-z_.]+", form.text)
