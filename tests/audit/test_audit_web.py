"""The audit log over HTTP and on its page: who sees what, filters, keyset pages, verify."""

from __future__ import annotations

import datetime as dt

import pytest
from audit_data import T0, attack
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from zhili.access import system_actor
from zhili.audit import AuditEntry, AuditEvent, AuditLog
from zhili.db import Database


@pytest.fixture()
def log(world) -> dict[str, int]:
    """PSB provides two resources, CIVIL one; CIVIL's analyst and PSB's own staff read them."""
    world.org("CIVIL", "民政局", "city", "department", "CITY")
    world.user("psb.steward", "PSB", "data_steward")
    world.user("civil.approver", "CIVIL", "approver")
    world.user("civil.analyst", "CIVIL", "analyst")
    world.user("bureau.auditor", "BUREAU", "auditor")
    world.user("psb.admin", "PSB", "org_admin")
    ids = {o: world.org(o, o, "city", "department", "CITY").id for o in ("PSB", "CIVIL")}
    reads = [
        # (resource, provider, consumer user, consumer org, grant, outcome, minutes)
        ("PSB-RESIDENTS", "PSB", "civil.analyst", "CIVIL", 1, "ok", 0),
        ("PSB-RESIDENTS", "PSB", "civil.analyst", "CIVIL", 1, "ok", 1),
        ("PSB-VEHICLES", "PSB", "civil.analyst", "CIVIL", 2, "denied", 2),
        ("CIVIL-ELDERLY", "CIVIL", "psb.steward", "PSB", 3, "ok", 3),
        ("PSB-RESIDENTS", "PSB", "civil.analyst", "CIVIL", 1, "error", 4),
    ]
    events = [
        AuditEvent(
            action="exchange.read",
            at=T0 + dt.timedelta(minutes=minutes),
            actor_username=user,
            org_id=ids[org],
            grant_id=grant,
            purpose="核查低保资格",
            resource_code=resource,
            provider_org_id=ids[provider],
            version=1,
            fields=["姓名"],
            row_count=10,
            outcome=outcome,
            error_code="query.timeout" if outcome == "error" else None,
        )
        for resource, provider, user, org, grant, outcome, minutes in reads
    ]
    events.append(
        AuditEvent.admin(system_actor("root"), "grant.revoke", at=T0 + dt.timedelta(minutes=5))
    )
    global BASE
    with world.db.session() as s:  # admin acts so far (the users created above) come first
        BASE = s.scalar(select(func.max(AuditEntry.seq))) or 0
    AuditLog(world.db).record_many(events)
    return ids


BASE = 0


def _seqs(r) -> list[int]:
    """The fixture's entries, numbered from 1 (the users' creation acts left out)."""
    assert r.status_code == 200, r.text
    return [e["seq"] - BASE for e in r.json()["items"] if e["seq"] > BASE]


def test_auditor_sees_everything_newest_first(client: TestClient, log, login) -> None:
    login("bureau.auditor")
    r = client.get("/api/v1/audit")
    assert _seqs(r) == [6, 5, 4, 3, 2, 1]
    first = next(e for e in r.json()["items"] if e["seq"] == BASE + 1)
    assert first["org_code"] == "CIVIL" and first["provider_code"] == "PSB"
    assert first["fields"] == ["姓名"] and len(first["hash"]) == 64


@pytest.mark.parametrize(
    ("user", "seqs"),
    [("psb.steward", [5, 3, 2, 1]), ("civil.approver", [4])],
)
def test_providers_see_who_used_their_data(client: TestClient, log, login, user, seqs) -> None:
    login(user)
    assert _seqs(client.get("/api/v1/audit")) == seqs
    assert _seqs(client.get("/api/v1/audit", params={"provider": "CIVIL"})) == (
        [4] if user == "civil.approver" else []
    )


@pytest.mark.parametrize("user", ["civil.analyst", "psb.admin"])
def test_others_may_not_read_the_log(client: TestClient, log, login, user) -> None:
    login(user)
    assert client.get("/api/v1/audit").status_code == 403
    assert client.get("/audit").status_code == 403


@pytest.mark.parametrize(
    ("params", "seqs"),
    [
        ({"resource": "PSB-RESIDENTS"}, [5, 2, 1]),
        ({"consumer": "PSB"}, [4]),
        ({"grant": 2}, [3]),
        ({"actor": "civil.analyst", "outcome": "ok"}, [2, 1]),
        ({"kind": "admin"}, [6]),
        ({"action": "grant.revoke"}, [6]),
        ({"since": "2026-11-24T01:03:04Z", "until": "2026-11-24T01:05:04Z"}, [4, 3]),
        # without a zone: the city's time (UTC+8)
        ({"since": "2026-11-24T09:06:03"}, [6, 5]),
        ({"provider": "NOBODY"}, []),
    ],
)
def test_filters(client: TestClient, log, login, params, seqs) -> None:
    login("bureau.auditor")
    assert _seqs(client.get("/api/v1/audit", params=params)) == seqs


def test_keyset_pages(client: TestClient, log, login) -> None:
    login("bureau.auditor")
    seen, after = [], None
    while True:
        params = {"limit": 4, **({"after": after} if after else {})}
        body = client.get("/api/v1/audit", params=params).json()
        seen += [e["seq"] - BASE for e in body["items"] if e["seq"] > BASE]
        after = body["next_after"]
        if after is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1]


def test_verify_over_http(client: TestClient, log, login, db: Database) -> None:
    login("bureau.auditor")
    body = client.get("/api/v1/audit/verify").json()
    assert body["ok"] and body["entries"] == BASE + 6
    attack(db, f"UPDATE audit_entries SET row_count = 1000000 WHERE seq = {BASE + 2}")
    body = client.get("/api/v1/audit/verify").json()
    assert not body["ok"]
    assert (body["broken_seq"], body["reason"]) == (BASE + 2, "hash_mismatch")


def test_stewards_cannot_verify_and_nobody_can_write(client: TestClient, log, login) -> None:
    login("psb.steward")
    assert client.get("/api/v1/audit/verify").status_code == 403
    login("bureau.auditor")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert client.request(method, "/api/v1/audit").status_code == 405


def test_token_needs_the_audit_scope(client: TestClient, log, login) -> None:
    login("bureau.auditor")
    tokens = {}
    for scopes in (["audit:read"], ["identity:read"]):
        r = client.post("/api/v1/tokens", json={"name": scopes[0], "scopes": scopes})
        tokens[scopes[0]] = r.json()["token"]
    client.cookies.clear()
    ok = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {tokens['audit:read']}"})
    assert ok.status_code == 200 and _seqs(ok) == [8, 7, 6, 5, 4, 3, 2, 1]  # + 2 tokens
    no = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {tokens['identity:read']}"})
    assert no.status_code == 403 and no.json()["code"] == "access.scope_missing"


def test_page_in_both_languages(client: TestClient, log, login, db: Database) -> None:
    login("bureau.auditor")
    page = client.get("/audit")
    assert page.status_code == 200
    assert "审计日志" in page.text and "校验日志链" in page.text and "PSB-VEHICLES" in page.text
    en = client.get("/audit", params={"outcome": "denied"}, headers={"Accept-Language": "en"})
    assert "Audit log" in en.text and "PSB-VEHICLES" in en.text
    assert "CIVIL-ELDERLY" not in en.text
    fragment = client.get("/audit/verify", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert f"共 {BASE + 6} 条" in fragment.text
    attack(db, f"DELETE FROM audit_entries WHERE seq = {BASE + 3}")
    broken = client.get("/audit/verify", headers={"Accept-Language": "en"})
    assert "<html" in broken.text and f"broken at entry {BASE + 3}" in broken.text


def test_page_for_a_steward_has_no_verify_button(client: TestClient, log, login) -> None:
    login("psb.steward")
    page = client.get("/audit")
    assert page.status_code == 200 and "/audit/verify" not in page.text
    assert "CIVIL-ELDERLY" not in page.text and "PSB-RESIDENTS" in page.text
    assert 'href="/audit"' in page.text  # in the navigation
