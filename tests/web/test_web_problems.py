"""Errors are RFC 9457 problem details with a stable code — never a traceback."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": True, "home_writable": True}


def test_readyz_reports_unwritable_home(client: TestClient, settings, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    settings.home = blocker / "sub"  # a path under a regular file can never be created
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["home_writable"] is False


def test_unknown_route_is_problem_json(client: TestClient) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "http.not_found" and body["status"] == 404
    assert {"type", "title", "detail", "instance"} <= set(body)


def test_validation_error_names_the_parameter(client: TestClient, world, login) -> None:
    world.user("root", "BUREAU", "platform_admin")
    login("root")
    r = client.get("/api/v1/orgs?limit=0")
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "request.invalid"
    assert body["errors"][0]["location"] == "query.limit"
    assert "limit" in body["detail"]


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    r = client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["code"] == "request.invalid"


def test_unexpected_error_is_bare_500(app, client: TestClient) -> None:
    from fastapi import Depends

    from zhili.web.deps import authorize

    @app.get("/boom", dependencies=[Depends(authorize("system.health"))])
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert r.json()["code"] == "internal"


def test_an_exhausted_connection_pool_is_a_503_to_retry(app) -> None:
    from fastapi import Depends
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from zhili.web.deps import authorize

    @app.get("/busy", dependencies=[Depends(authorize("system.health"))])
    def busy() -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 20 reached")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/busy", headers={"Accept-Language": "en"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["code"] == "db.busy" and "QueuePool" not in r.text


def test_messages_follow_the_language(client: TestClient) -> None:
    zh = client.get("/api/v1/me").json()
    en = client.get("/api/v1/me", headers={"Accept-Language": "en-US,en;q=0.9"}).json()
    assert zh["code"] == en["code"] == "auth.required"
    assert zh["detail"] != en["detail"]
    assert "登录" in zh["detail"] and "token" in en["detail"]


def test_browser_gets_redirected_to_login(client: TestClient) -> None:
    r = client.get("/admin/orgs", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/admin/orgs"


def test_browser_gets_an_error_page_for_forbidden(client: TestClient, world, login) -> None:
    world.user("clerk", "PSB", "analyst")
    login("clerk")
    r = client.post("/admin/users", headers={"Accept": "text/html"}, data={"username": "x"})
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert "access.denied" in r.text


def test_openapi_and_local_swagger_ui(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/orgs" in spec["paths"]
    page = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
