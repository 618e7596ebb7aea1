"""Subscriptions over HTTP and on the grant page: subscribe (the secret once), a new
version's signed notice, its ``changes_url`` read under the grant (masked), deliveries,
redelivery, unsubscribing, and the refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest
from fastapi.testclient import TestClient

from webhook_receiver import Receiver
from zhili.exchange.webhooks import send_due
from zhili.settings import get_settings

SCHEMA = {
    "fields": [
        {"name": "id_number", "title": "公民身份号码", "type": "string", "format": "cn-id",
         "x-sensitivity": "sensitive_personal"},
        {"name": "name", "title": "姓名", "type": "string", "x-sensitivity": "personal"},
        {"name": "death_date", "title": "死亡日期", "type": "date"},
    ],
    "primaryKey": ["id_number"],
}  # fmt: skip
CODE = "3-03-001-000007"
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
V0 = (
    "id_number,name,death_date\n"
    "11010519491231002X,张三,2026-10-01\n"
    "120101199001010113,李四,2026-10-02\n"
)
V1 = "id_number,name,death_date\n120101195001010019,王五,2026-10-03\n"


@pytest.fixture()
def settings(settings, monkeypatch):
    """No background runner (the test sends), loopback callbacks allowed, two attempts."""
    monkeypatch.setenv("ZHILI_JOB_WORKERS", "0")
    monkeypatch.setenv("ZHILI_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("ZHILI_WEBHOOK_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("ZHILI_WEBHOOK_BACKOFF_SECONDS", "0.01")
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def _load(client: TestClient, rows: str, mode: str = "append") -> None:
    r = client.post(
        f"/api/v1/catalog/{CODE}/versions",
        files={"file": ("d.csv", rows.encode(), "text/csv")},
        data={"mode": mode},
    )
    assert r.status_code == 201, r.text


@pytest.fixture()
def city(client: TestClient, world, login, seeded_calendar):
    """PSB provides a resource (version 0); CAB holds a grant with id_number masked."""
    world.org("CAB", "民政局", "city", "department", "CITY")
    world.user("psb.steward", "PSB", "data_steward")
    world.user("psb.approver", "PSB", "approver")
    world.user("psb.admin", "PSB", "org_admin")
    world.user("cab.analyst", "CAB", "analyst")
    login("psb.steward")
    assert client.post("/api/v1/catalog", json=RESOURCE).status_code == 201
    _load(client, V0)
    login("cab.analyst")
    r = client.post(
        "/api/v1/exchange/requests",
        json={"resource_code": CODE, "system": "养老金发放系统", "purpose": "停发养老金",
              "legal_basis": "社会保险法", "fields": ["id_number", "death_date"]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    login("psb.approver")
    r = client.post(
        f"/api/v1/exchange/requests/{r.json()['id']}/approve",
        json={"masking": {"id_number": {"rule": "id_number"}}},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _send(client: TestClient) -> list[int]:
    with client.app.state.db.session() as s:
        return send_due(s, get_settings())


def test_subscribe_notify_and_read_the_changes(
    client: TestClient, city: int, login, receiver
) -> None:
    grant = city
    login("cab.analyst")
    r = client.post(f"/api/v1/exchange/grants/{grant}/subscriptions", json={"url": receiver.url})
    assert r.status_code == 201, r.text
    sub = r.json()
    secret = sub["secret"]
    assert secret.startswith(sub["secret_hint"].rstrip("…")) and sub["active"]
    listed = client.get(f"/api/v1/exchange/grants/{grant}/subscriptions").json()["items"]
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]

    login("psb.steward")
    _load(client, V1)
    assert len(_send(client)) == 1
    [(headers, body)] = receiver.calls
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Zhili-Signature"] == f"sha256={expected}"
    notice = json.loads(body)
    assert (notice["resource"], notice["version"], notice["previous_version"]) == (CODE, 1, 0)

    login("cab.analyst")
    r = client.get(notice["changes_url"])
    assert r.status_code == 200, r.text
    feed = r.json()
    assert feed["fields"] == ["id_number", "death_date"]
    assert feed["rows"] == [{"id_number": "120101********0019", "death_date": "2026-10-03"}]
    assert (feed["since"], feed["until"], feed["removed"], feed["truncated"]) == (0, 1, 0, False)

    deliveries = client.get(f"/api/v1/exchange/subscriptions/{sub['id']}/deliveries").json()
    [d] = deliveries["items"]
    assert (d["status"], d["attempts"], d["last_status_code"]) == ("delivered", 1, 204)
    r = client.post(f"/api/v1/exchange/deliveries/{d['id']}/redeliver")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    again = client.post(f"/api/v1/exchange/deliveries/{d['id']}/redeliver")
    assert again.status_code == 409 and again.json()["code"] == "exchange.delivery_pending"

    assert client.delete(f"/api/v1/exchange/subscriptions/{sub['id']}").status_code == 204
    assert client.get(f"/api/v1/exchange/grants/{grant}/subscriptions").json()["items"] == []
    removed = client.get(f"/api/v1/exchange/grants/{grant}/subscriptions?include_removed=true")
    [gone] = removed.json()["items"]
    assert gone["active"] is False
    [d] = client.get(f"/api/v1/exchange/subscriptions/{sub['id']}/deliveries").json()["items"]
    assert d["status"] == "cancelled"


def test_refusals(client: TestClient, city: int, login, receiver) -> None:
    grant = city
    url = f"/api/v1/exchange/grants/{grant}/subscriptions"
    login("psb.admin")  # may apply, but this grant is not its organization's
    r = client.post(url, json={"url": receiver.url})
    assert r.status_code == 403 and r.json()["code"] == "exchange.not_applicant"
    login("cab.analyst")
    r = client.post(url, json={"url": "ftp://example.com/x"})
    assert r.status_code == 422
    assert (r.json()["code"], r.json()["field"]) == ("exchange.webhook_scheme", "url")
    r = client.get(f"/api/v1/exchange/grants/{grant}/changes")
    assert r.status_code == 422  # since is required
    r = client.get(f"/api/v1/exchange/grants/{grant}/changes?since=0&until=9")
    assert r.status_code == 404 and r.json()["code"] == "catalog.no_such_version"
    assert client.get("/api/v1/exchange/subscriptions/424242/deliveries").status_code == 404

    login("psb.approver")
    r = client.post(f"/api/v1/exchange/grants/{grant}/revoke", json={"reason": "停止共享"})
    assert r.status_code == 200, r.text
    login("cab.analyst")
    r = client.get(f"/api/v1/exchange/grants/{grant}/changes?since=0")
    assert r.status_code == 403
    assert (r.json()["code"], r.json()["reason"]) == ("exchange.grant_revoked", "停止共享")
    r = client.post(url, json={"url": receiver.url})
    assert r.status_code == 409 and r.json()["code"] == "exchange.grant_not_active"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_the_grant_page_card(client: TestClient, city: int, login) -> None:
    grant = city
    receiver = Receiver([500])
    try:
        login("cab.analyst")
        page = client.get(f"/exchange/grants/{grant}")
        assert page.status_code == 200
        assert 'id="subscriptions"' in page.text and "尚无订阅" in page.text
        assert f"/api/v1/exchange/grants/{grant}/changes?since=0" in page.text
        token = _csrf(page.text)

        bad = client.post(
            "/exchange/subscriptions",
            data={"csrf_token": token, "grant_id": grant, "url": "http://[::1"},
        )
        assert bad.status_code == 422 and "回调地址无效" in bad.text
        made = client.post(
            "/exchange/subscriptions",
            data={"csrf_token": token, "grant_id": grant, "url": receiver.url},
        )
        assert made.status_code == 201
        secret = re.search(r'<code id="secret">([^<]+)</code>', made.text)
        assert secret and secret.group(1).startswith("whsec_")
        assert "只显示这一次" in made.text

        login("psb.steward")
        _load(client, V1)
        _send(client)
        _send_when_due(client)
        login("cab.analyst")
        page = client.get(f"/exchange/grants/{grant}")
        assert receiver.url in page.text and "投递失败（死信）" in page.text
        assert page.text.count('class="redeliver"') == 1
        delivery = re.search(r'action="/exchange/deliveries/(\d+)/redeliver"', page.text)
        assert delivery
        r = client.post(
            f"/exchange/deliveries/{delivery.group(1)}/redeliver",
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert "待发送" in client.get(f"/exchange/grants/{grant}").text
        sub = re.search(r'action="/exchange/subscriptions/(\d+)/remove"', page.text)
        assert sub
        r = client.post(
            f"/exchange/subscriptions/{sub.group(1)}/remove",
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert receiver.url not in client.get(f"/exchange/grants/{grant}").text

        login("psb.approver")  # the provider sees the card, not the forms or the feed
        page = client.get(f"/exchange/grants/{grant}")
        assert 'id="subscriptions"' in page.text and 'id="subscribe-form"' not in page.text
        assert 'id="changes-feed"' not in page.text
    finally:
        receiver.close()


def _send_when_due(client: TestClient) -> None:
    import time

    deadline = time.monotonic() + 5
    while not _send(client) and time.monotonic() < deadline:
        time.sleep(0.01)
