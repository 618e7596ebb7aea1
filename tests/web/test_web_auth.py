"""Logging in and out through the pages and the API, CSRF, tokens over HTTP."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


def test_login_page_flow(client: TestClient, world) -> None:
    world.user("li.ming", "PSB", "analyst")
    page = client.get("/login?next=/account")
    assert page.status_code == 200 and "登录" in page.text
    token = _csrf(page.text)
    r = client.post(
        "/login",
        data={
            "username": "li.ming",
            "password": "correct-horse-battery",
            "csrf_token": token,
            "next": "/account",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/account"
    home = client.get("/")
    assert home.status_code == 200 and "li.ming" in home.text
    logout = client.post("/logout", data={"csrf_token": _csrf(home.text)}, follow_redirects=False)
    assert logout.status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_login_page_rejects_wrong_password_and_missing_csrf(client: TestClient, world) -> None:
    world.user("li.ming", "PSB", "analyst")
    token = _csrf(client.get("/login").text)
    bad = client.post(
        "/login", data={"username": "li.ming", "password": "nope-nope", "csrf_token": token}
    )
    assert bad.status_code == 401 and "用户名或密码错误" in bad.text
    forged = client.post(
        "/login",
        data={"username": "li.ming", "password": "correct-horse-battery", "csrf_token": "forged"},
    )
    assert forged.status_code == 401
    assert client.get("/api/v1/me").status_code == 401


def test_open_redirect_is_refused(client: TestClient, world) -> None:
    world.user("li.ming", "PSB", "analyst")
    token = _csrf(client.get("/login").text)
    r = client.post(
        "/login",
        data={
            "username": "li.ming",
            "password": "correct-horse-battery",
            "csrf_token": token,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_cookie_session_needs_csrf_for_unsafe_calls(client: TestClient, world) -> None:
    world.user("li.ming", "PSB", "analyst")
    r = client.post(
        "/api/v1/auth/login", json={"username": "li.ming", "password": "correct-horse-battery"}
    )
    assert r.status_code == 200
    without = client.post("/api/v1/tokens", json={"name": "x"})
    assert without.status_code == 403 and without.json()["code"] == "auth.csrf"
    with_token = client.post(
        "/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": r.json()["csrf_token"]}
    )
    assert with_token.status_code == 201


def test_token_lifecycle_over_http(client: TestClient, world, login) -> None:
    world.user("etl.bot", "PSB", "data_steward")
    login("etl.bot")
    created = client.post("/api/v1/tokens", json={"name": "nightly", "system": "ETL"})
    assert created.status_code == 201
    secret = created.json()["token"]
    listed = client.get("/api/v1/tokens").json()["items"]
    assert all("token" not in item for item in listed)
    machine = TestClient(client.app)
    auth = {"Authorization": f"Bearer {secret}"}
    me = machine.get("/api/v1/me", headers=auth)
    assert me.status_code == 200 and me.json()["via"] == "token"
    assert me.json()["system"] == "ETL"
    # A token without identity:write cannot create orgs even if its user could.
    denied = machine.post("/api/v1/orgs", headers=auth, json={})
    assert denied.status_code == 403
    client.delete(f"/api/v1/tokens/{created.json()['id']}")
    after = machine.get("/api/v1/me", headers=auth)
    assert after.status_code == 401 and after.json()["code"] == "auth.token_revoked"
    assert "撤销" in after.json()["detail"] or "吊销" in after.json()["detail"]
    wrong_scheme = machine.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert wrong_scheme.status_code == 401 and wrong_scheme.json()["code"] == "auth.bad_scheme"


def test_account_page_shows_a_new_token_once(client: TestClient, world) -> None:
    world.user("li.ming", "PSB", "analyst")
    token = _csrf(client.get("/login").text)
    client.post(
        "/login",
        data={"username": "li.ming", "password": "correct-horse-battery", "csrf_token": token},
    )
    page = client.get("/account")
    r = client.post(
        "/account/tokens",
        data={
            "name": "report",
            "days": "30",
            "scopes": ["identity:read"],
            "csrf_token": _csrf(page.text),
        },
    )
    assert r.status_code == 201
    secret = re.search(r"(zhl_[A-Za-z0-9]{12}_[A-Za-z0-9_-]+)", r.text).group(1)
    again = client.get("/account")
    assert secret not in again.text
    assert secret.split("_")[1] in again.text


def test_language_switch(client: TestClient, world, login) -> None:
    world.user("li.ming", "PSB", "analyst")
    login("li.ming")
    client.get("/lang/en?next=/account")
    assert "My account" in client.get("/account").text
    client.get("/lang/zh-CN")
    assert "我的账户" in client.get("/account").text


def test_tokens_never_reach_the_logs(client, world, caplog) -> None:
    """Neither a token's secret nor its use shows up in any log record."""
    import logging

    from zhili.access import system_actor
    from zhili.identity.tokens import create_token

    world.user("machine", "PSB", "analyst")
    with world.db.session() as s:
        token = create_token(s, system_actor(), username="machine", name="t").plaintext
    secret = token.split("_", 2)[2]
    with caplog.at_level(logging.DEBUG):
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).is_success
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}x"})
    ours = [r for r in caplog.records if not r.name.startswith("httpx")]  # the client's own
    assert not any(secret in r.getMessage() for r in ours)
