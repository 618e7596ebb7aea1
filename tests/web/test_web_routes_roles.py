"""Deny by default, proven: every registered route × every role (and anonymous) against
an expectation table written here, independently of the policy module.

A new route without an ``authorize`` guard, or without a row in ``EXPECT``, fails this
suite; so does a rule that lets in a role the table does not.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from zhili.access import Role
from zhili.web.app import api_routes
from zhili.web.deps import Authorize

PUBLIC = "public"
AUTH = "authenticated"
ADMIN = frozenset({Role.platform_admin})
ORG_MANAGERS = frozenset({Role.platform_admin, Role.org_admin})
USER_READERS = frozenset({Role.platform_admin, Role.org_admin, Role.auditor})
STEWARDS = frozenset({Role.platform_admin, Role.data_steward, Role.org_admin})
LOADERS = frozenset({Role.platform_admin, Role.data_steward})
PREVIEWERS = frozenset(
    {Role.platform_admin, Role.data_steward, Role.org_admin, Role.approver, Role.analyst}
)
AUDIT_READERS = frozenset({Role.platform_admin, Role.auditor, Role.data_steward, Role.approver})
AUDIT_VERIFIERS = frozenset({Role.platform_admin, Role.auditor})
APPLICANTS = frozenset({Role.analyst, Role.data_steward, Role.org_admin})  # no global role
REVIEWERS = frozenset({Role.platform_admin, Role.approver})
GRANT_MANAGERS = frozenset({Role.platform_admin, Role.approver, Role.org_admin})
OBJECTORS = APPLICANTS  # objection.raise, demand.publish: org roles only
OBJECTION_ANSWERERS = frozenset({Role.platform_admin, Role.data_steward, Role.approver})
DEMAND_ANSWERERS = frozenset({Role.platform_admin, Role.data_steward, Role.org_admin})
VERIFY_READERS = frozenset(
    {Role.platform_admin, Role.analyst, Role.data_steward, Role.org_admin, Role.approver}
)
VERIFY_RUNNERS = APPLICANTS  # verify.run: org roles only
VERIFY_REVIEWERS = frozenset({Role.platform_admin, Role.approver, Role.org_admin})
GRID_ASSIGNERS = frozenset({Role.platform_admin, Role.org_admin, Role.commander})
GRID_COMMANDERS = frozenset({Role.platform_admin, Role.commander})
GRID_HANDLERS = frozenset({Role.handler})  # grid.handle: org role only

EXPECT: dict[tuple[str, str], object] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): PUBLIC,
    ("GET", "/api/v1/me"): AUTH,
    ("GET", "/api/v1/tokens"): AUTH,
    ("POST", "/api/v1/tokens"): AUTH,
    ("DELETE", "/api/v1/tokens/{token_id}"): AUTH,
    ("GET", "/api/v1/orgs"): AUTH,
    ("GET", "/api/v1/orgs/geojson"): AUTH,
    ("GET", "/api/v1/orgs/{code}"): AUTH,
    ("POST", "/api/v1/orgs"): ORG_MANAGERS,
    ("POST", "/api/v1/orgs/import"): ORG_MANAGERS,
    ("GET", "/api/v1/users/roles"): USER_READERS,
    ("GET", "/api/v1/users"): USER_READERS,
    ("POST", "/api/v1/users"): ORG_MANAGERS,
    ("GET", "/api/v1/users/{username}"): USER_READERS,
    ("PATCH", "/api/v1/users/{username}"): ORG_MANAGERS,
    ("GET", "/api/v1/calendar/workday/{day}"): AUTH,
    ("GET", "/api/v1/calendar/{year}/{month}"): AUTH,
    ("GET", "/api/v1/calendar/years/{year}"): AUTH,
    ("POST", "/api/v1/calendar/years/{year}"): ADMIN,
    ("PUT", "/api/v1/calendar/days/{day}"): ADMIN,
    ("DELETE", "/api/v1/calendar/days/{day}"): ADMIN,
    ("GET", "/api/v1/catalog"): AUTH,
    ("POST", "/api/v1/catalog"): STEWARDS,
    ("GET", "/api/v1/catalog/{code}"): AUTH,
    ("PATCH", "/api/v1/catalog/{code}"): STEWARDS,
    ("GET", "/api/v1/catalog/{code}/schema"): AUTH,
    ("GET", "/api/v1/catalog/{code}/revisions"): AUTH,
    ("GET", "/api/v1/catalog/{code}/versions"): AUTH,
    ("POST", "/api/v1/catalog/{code}/versions"): LOADERS,
    ("GET", "/api/v1/catalog/{code}/preview"): PREVIEWERS,
    ("GET", "/api/v1/catalog/{code}/datapackage"): PUBLIC,
    ("GET", "/api/v1/catalog/{code}/rows"): PUBLIC,
    ("POST", "/api/v1/sql"): PUBLIC,
    ("GET", "/api/v1/jobs"): AUTH,
    ("GET", "/api/v1/jobs/{job_id}"): AUTH,
    ("GET", "/jobs/{job_id}/panel"): AUTH,
    ("GET", "/api/v1/exchange/stats"): AUTH,
    ("GET", "/exchange/stats"): AUTH,
    ("GET", "/api/v1/jobs/{job_id}/file"): AUTH,
    ("POST", "/api/v1/catalog/{code}/exports"): AUTH,
    ("POST", "/catalog/{code}/export-job"): AUTH,
    ("POST", "/catalog/{code}/load-database"): LOADERS,
    ("POST", "/api/v1/catalog/{code}/versions/from-database"): LOADERS,
    ("GET", "/api/v1/catalog/{code}/export"): PUBLIC,
    ("GET", "/catalog"): AUTH,
    ("GET", "/catalog/new"): STEWARDS,
    ("POST", "/catalog/new"): STEWARDS,
    ("GET", "/catalog/{code}"): AUTH,
    ("POST", "/catalog/{code}/upload"): LOADERS,
    ("GET", "/catalog/{code}/edit"): STEWARDS,
    ("POST", "/catalog/{code}/edit"): STEWARDS,
    ("GET", "/api/3/action/{action}"): PUBLIC,
    ("POST", "/api/3/action/{action}"): PUBLIC,
    ("GET", "/api/action/{action}"): PUBLIC,
    ("POST", "/api/action/{action}"): PUBLIC,
    ("GET", "/open"): PUBLIC,
    ("GET", "/open/{code}"): PUBLIC,
    ("GET", "/dcat/catalog.jsonld"): PUBLIC,
    ("GET", "/dcat/catalog.ttl"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/lang/{code}"): PUBLIC,
    ("GET", "/"): AUTH,
    ("GET", "/account"): AUTH,
    ("POST", "/account/tokens"): AUTH,
    ("POST", "/account/tokens/{token_id}/revoke"): AUTH,
    ("POST", "/account/password"): AUTH,
    ("POST", "/account/language"): AUTH,
    ("GET", "/admin/orgs"): AUTH,
    ("POST", "/admin/orgs/import"): ORG_MANAGERS,
    ("GET", "/admin/users"): USER_READERS,
    ("POST", "/admin/users"): ORG_MANAGERS,
    ("GET", "/admin/calendar"): AUTH,
    ("GET", "/api/v1/audit"): AUDIT_READERS,
    ("GET", "/api/v1/audit/verify"): AUDIT_VERIFIERS,
    ("GET", "/audit"): AUDIT_READERS,
    ("GET", "/audit/verify"): AUDIT_VERIFIERS,
    ("POST", "/admin/calendar/notice"): ADMIN,
    ("POST", "/admin/calendar/day"): ADMIN,
    ("POST", "/admin/users/{username}"): ORG_MANAGERS,
    ("POST", "/api/v1/exchange/requests"): APPLICANTS,
    ("GET", "/api/v1/exchange/requests"): AUTH,
    ("GET", "/api/v1/exchange/requests/{request_id}"): AUTH,
    ("PATCH", "/api/v1/exchange/requests/{request_id}"): APPLICANTS,
    ("POST", "/api/v1/exchange/requests/{request_id}/submit"): APPLICANTS,
    ("POST", "/api/v1/exchange/requests/{request_id}/withdraw"): APPLICANTS,
    ("POST", "/api/v1/exchange/requests/{request_id}/approve"): REVIEWERS,
    ("POST", "/api/v1/exchange/requests/{request_id}/reject"): REVIEWERS,
    ("POST", "/api/v1/exchange/requests/{request_id}/more-info"): REVIEWERS,
    ("GET", "/api/v1/exchange/grants"): AUTH,
    ("GET", "/api/v1/exchange/grants/{grant_id}"): AUTH,
    ("POST", "/api/v1/exchange/grants/{grant_id}/{action}"): GRANT_MANAGERS,
    ("POST", "/api/v1/exchange/grants/{grant_id}/subscriptions"): APPLICANTS,
    ("GET", "/api/v1/exchange/grants/{grant_id}/subscriptions"): AUTH,
    ("DELETE", "/api/v1/exchange/subscriptions/{subscription_id}"): APPLICANTS,
    ("GET", "/api/v1/exchange/subscriptions/{subscription_id}/deliveries"): AUTH,
    ("POST", "/api/v1/exchange/deliveries/{delivery_id}/redeliver"): APPLICANTS,
    ("GET", "/api/v1/exchange/grants/{grant_id}/changes"): AUTH,
    ("POST", "/exchange/subscriptions"): APPLICANTS,
    ("POST", "/exchange/subscriptions/{subscription_id}/remove"): APPLICANTS,
    ("POST", "/exchange/deliveries/{delivery_id}/redeliver"): APPLICANTS,
    ("GET", "/exchange/apply"): APPLICANTS,
    ("POST", "/exchange/apply"): APPLICANTS,
    ("GET", "/exchange/requests"): AUTH,
    ("GET", "/exchange/requests/{request_id}"): AUTH,
    ("POST", "/exchange/requests/{request_id}/approve"): REVIEWERS,
    ("POST", "/exchange/requests/{request_id}/reject"): REVIEWERS,
    ("POST", "/exchange/requests/{request_id}/more-info"): REVIEWERS,
    ("POST", "/exchange/requests/{request_id}/withdraw"): APPLICANTS,
    ("POST", "/exchange/requests/{request_id}/amend"): APPLICANTS,
    ("GET", "/exchange/grants"): AUTH,
    ("GET", "/exchange/grants/{grant_id}"): AUTH,
    ("POST", "/exchange/grants/{grant_id}/{action}"): GRANT_MANAGERS,
    ("POST", "/api/v1/exchange/objections"): OBJECTORS,
    ("GET", "/api/v1/exchange/objections"): AUTH,
    ("GET", "/api/v1/exchange/objections/{objection_id}"): AUTH,
    ("POST", "/api/v1/exchange/objections/{objection_id}/evidence"): OBJECTORS,
    ("GET", "/api/v1/exchange/objections/{objection_id}/evidence"): AUTH,
    ("POST", "/api/v1/exchange/objections/{objection_id}/answer"): OBJECTION_ANSWERERS,
    ("POST", "/api/v1/exchange/objections/{objection_id}/close"): OBJECTORS,
    ("POST", "/api/v1/exchange/objections/{objection_id}/reopen"): OBJECTORS,
    ("POST", "/api/v1/exchange/demands"): OBJECTORS,
    ("GET", "/api/v1/exchange/demands"): AUTH,
    ("GET", "/api/v1/exchange/demands/{demand_id}"): AUTH,
    ("POST", "/api/v1/exchange/demands/{demand_id}/answers"): DEMAND_ANSWERERS,
    ("POST", "/api/v1/exchange/demands/{demand_id}/close"): OBJECTORS,
    ("GET", "/exchange/objections"): AUTH,
    ("GET", "/exchange/objections/new"): OBJECTORS,
    ("POST", "/exchange/objections"): OBJECTORS,
    ("GET", "/exchange/objections/{objection_id}"): AUTH,
    ("POST", "/exchange/objections/{objection_id}/answer"): OBJECTION_ANSWERERS,
    ("POST", "/exchange/objections/{objection_id}/close"): OBJECTORS,
    ("POST", "/exchange/objections/{objection_id}/reopen"): OBJECTORS,
    ("GET", "/exchange/demands"): AUTH,
    ("POST", "/exchange/demands"): OBJECTORS,
    ("GET", "/exchange/demands/{demand_id}"): AUTH,
    ("POST", "/exchange/demands/{demand_id}/answers"): DEMAND_ANSWERERS,
    ("POST", "/exchange/demands/{demand_id}/close"): OBJECTORS,
    ("GET", "/api/v1/verify/rulesets"): VERIFY_READERS,
    ("GET", "/api/v1/verify/scenarios"): VERIFY_READERS,
    ("POST", "/api/v1/verify/scenarios/{name}/jobs"): VERIFY_RUNNERS,
    ("POST", "/api/v1/verify/jobs"): VERIFY_RUNNERS,
    ("POST", "/api/v1/verify/jobs/upload"): VERIFY_RUNNERS,
    ("GET", "/api/v1/verify/jobs"): VERIFY_READERS,
    ("GET", "/api/v1/verify/jobs/{verification_id}"): VERIFY_READERS,
    ("POST", "/api/v1/verify/jobs/{verification_id}/cancel"): VERIFY_RUNNERS,
    ("GET", "/api/v1/verify/jobs/{verification_id}/items"): VERIFY_READERS,
    ("GET", "/api/v1/verify/items/{item_id}"): VERIFY_READERS,
    ("POST", "/api/v1/verify/items/{item_id}/decisions"): VERIFY_REVIEWERS,
    ("POST", "/api/v1/verify/jobs/{verification_id}/decisions"): VERIFY_REVIEWERS,
    ("GET", "/api/v1/verify/schedules"): VERIFY_READERS,
    ("POST", "/api/v1/verify/schedules"): VERIFY_RUNNERS,
    ("GET", "/api/v1/verify/schedules/{schedule_id}"): VERIFY_READERS,
    ("DELETE", "/api/v1/verify/schedules/{schedule_id}"): VERIFY_RUNNERS,
    ("POST", "/api/v1/verify/schedules/{schedule_id}/pause"): VERIFY_RUNNERS,
    ("POST", "/api/v1/verify/schedules/{schedule_id}/resume"): VERIFY_RUNNERS,
    ("GET", "/verify/schedules"): VERIFY_READERS,
    ("POST", "/verify/schedules"): VERIFY_RUNNERS,
    ("POST", "/verify/schedules/{schedule_id}/pause"): VERIFY_RUNNERS,
    ("POST", "/verify/schedules/{schedule_id}/resume"): VERIFY_RUNNERS,
    ("POST", "/verify/schedules/{schedule_id}/remove"): VERIFY_RUNNERS,
    ("GET", "/verify"): VERIFY_READERS,
    ("GET", "/verify/new"): VERIFY_RUNNERS,
    ("POST", "/verify/new"): VERIFY_RUNNERS,
    ("GET", "/verify/jobs/{verification_id}"): VERIFY_READERS,
    ("GET", "/verify/jobs/{verification_id}/panel"): VERIFY_READERS,
    ("POST", "/verify/jobs/{verification_id}/cancel"): VERIFY_RUNNERS,
    ("GET", "/verify/jobs/{verification_id}/review"): VERIFY_READERS,
    ("GET", "/verify/items/{item_id}"): VERIFY_READERS,
    ("POST", "/verify/items/{item_id}/decide"): VERIFY_REVIEWERS,
    ("POST", "/verify/jobs/{verification_id}/review/bulk"): VERIFY_REVIEWERS,
    ("GET", "/verify/scenarios"): VERIFY_READERS,
    ("GET", "/verify/scenarios/{name}"): VERIFY_RUNNERS,
    ("POST", "/verify/scenarios/{name}"): VERIFY_RUNNERS,
    ("GET", "/api/v1/grid/categories"): AUTH,
    ("POST", "/api/v1/grid/categories/import"): ADMIN,
    ("GET", "/api/v1/grid/categories/{code}"): AUTH,
    ("POST", "/api/v1/grid/categories/{code}/check"): AUTH,
    ("GET", "/grid/categories"): AUTH,
    ("GET", "/grid/categories/{code}"): AUTH,
    ("POST", "/grid/categories/{code}/check"): AUTH,
    ("GET", "/api/v1/grid/areas"): AUTH,
    ("GET", "/api/v1/grid/areas.geojson"): AUTH,
    ("GET", "/api/v1/grid/areas/{code}"): AUTH,
    ("POST", "/api/v1/grid/areas/import"): ADMIN,
    ("GET", "/api/v1/grid/locate"): AUTH,
    ("GET", "/api/v1/grid/stats"): AUTH,
    ("GET", "/api/v1/grid/areas/{code}/workers"): AUTH,
    ("POST", "/api/v1/grid/areas/{code}/workers"): GRID_ASSIGNERS,
    ("DELETE", "/api/v1/grid/areas/{code}/workers/{username}"): GRID_ASSIGNERS,
    ("POST", "/api/v1/grid/workers/import"): GRID_ASSIGNERS,
    ("POST", "/api/v1/grid/events"): PUBLIC,
    ("GET", "/api/v1/grid/events"): AUTH,
    ("GET", "/api/v1/grid/events/nearby"): PUBLIC,
    ("GET", "/api/v1/grid/events/points"): AUTH,
    ("POST", "/api/v1/grid/events/hotline"): GRID_COMMANDERS,
    ("GET", "/api/v1/grid/events/{event_id}"): AUTH,
    ("GET", "/api/v1/grid/events/{event_id}/steps"): AUTH,
    ("POST", "/api/v1/grid/events/{event_id}/actions"): AUTH,
    ("GET", "/api/v1/grid/events/{event_id}/photos/{sha}"): PUBLIC,
    ("POST", "/api/v1/grid/events/{event_id}/follow"): AUTH,
    ("GET", "/api/v1/grid/events/{event_id}/follow"): PUBLIC,
    ("POST", "/api/v1/grid/events/{event_id}/rating"): PUBLIC,
    ("GET", "/grid/areas"): AUTH,
    ("GET", "/grid/areas/{code}"): AUTH,
    ("POST", "/grid/areas/{code}/workers"): GRID_ASSIGNERS,
    ("POST", "/grid/areas/{code}/workers/{username}/remove"): GRID_ASSIGNERS,
    ("GET", "/grid"): AUTH,
    ("GET", "/grid/report"): PUBLIC,
    ("POST", "/grid/report"): PUBLIC,
    ("GET", "/grid/report/areas.geojson"): PUBLIC,
    ("GET", "/grid/report/locate"): PUBLIC,
    ("GET", "/grid/events/{event_id}"): AUTH,
    ("POST", "/grid/events/{event_id}/act"): AUTH,
    ("GET", "/grid/board"): GRID_COMMANDERS,
    ("GET", "/grid/inbox"): GRID_HANDLERS,
    ("GET", "/grid/map"): AUTH,
    ("GET", "/grid/map/points"): AUTH,
    ("GET", "/grid/stats"): AUTH,
    ("GET", "/open311/v2/discovery.{format}"): PUBLIC,
    ("GET", "/open311/v2/services.{format}"): PUBLIC,
    ("GET", "/open311/v2/services/{service_code}.{format}"): PUBLIC,
    ("POST", "/open311/v2/requests.{format}"): PUBLIC,
    ("GET", "/open311/v2/requests.{format}"): PUBLIC,
    ("GET", "/open311/v2/requests/{service_request_id}.{format}"): PUBLIC,
}

# Routes FastAPI itself adds (documentation), public by design.
FRAMEWORK = {"/openapi.json"}

# Logging out would end the session mid-matrix, and a login form answers 401 for bad
# credentials by design; test_web_auth covers these three.
SKIP = {("POST", "/api/v1/auth/logout"), ("POST", "/logout"), ("POST", "/login")}

ACTORS = ["anonymous", *[r.value for r in Role]]


def _routes(app) -> list[APIRoute]:
    routes = [r for r in api_routes(app.routes) if r.path not in FRAMEWORK]
    assert len(routes) >= len(EXPECT) // 2, "route discovery found too few routes"
    return routes


def _guard(route: APIRoute) -> str | None:
    for dep in route.dependant.dependencies:
        if isinstance(dep.call, Authorize):
            return dep.call.action
    return None


def test_every_route_has_a_guard_and_an_expectation(app) -> None:
    missing_guard, missing_row = [], []
    seen = set()
    for route in _routes(app):
        for method in route.methods - {"HEAD"}:
            seen.add((method, route.path))
            if _guard(route) is None:
                missing_guard.append(f"{method} {route.path}")
            if (method, route.path) not in EXPECT:
                missing_row.append(f"{method} {route.path}")
    assert not missing_guard, f"routes without authorize(): {missing_guard}"
    assert not missing_row, f"routes missing from EXPECT: {missing_row}"
    assert not set(EXPECT) - seen, f"EXPECT lists routes that do not exist: {set(EXPECT) - seen}"


def _allowed(expect: object, actor: str) -> bool:
    if expect == PUBLIC:
        return True
    if actor == "anonymous":
        return False
    if expect == AUTH:
        return True
    assert isinstance(expect, frozenset)
    return actor in expect


@pytest.fixture()
def everyone(world):
    """One user per role, all in the same department; a seeded calendar."""
    from zhili.calendar.seed import seed_from_package

    for role in Role:
        world.user(f"u.{role.value.replace('_', '-')}", "PSB", role.value)
    world.user("target.user", "PSB", "analyst")
    with world.db.session() as s:
        seed_from_package(s, loaded_by="test")
    return world


def _params(client: TestClient, actor: str) -> dict[str, Callable[[], str]]:
    def own_token() -> str:
        if actor == "anonymous":
            return "1"
        r = client.post("/api/v1/tokens", json={"name": "matrix"})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    return {
        "token_id": own_token,
        "code": lambda: "PSB",
        "username": lambda: "target.user",
        "day": lambda: "2025-10-08",
        "year": lambda: "2025",
        "month": lambda: "10",
        "action": lambda: "package_list",
        "job_id": lambda: "0" * 32,
        "request_id": lambda: "999999",
        "grant_id": lambda: "999999",
        "subscription_id": lambda: "999999",
        "delivery_id": lambda: "999999",
        "objection_id": lambda: "999999",
        "demand_id": lambda: "999999",
        "verification_id": lambda: "999999",
        "item_id": lambda: "999999",
        "name": lambda: "pension",
        "schedule_id": lambda: "999999",
        "event_id": lambda: "999999",
        "sha": lambda: "0" * 64,
        "format": lambda: "json",
        "service_code": lambda: "road-block",
        "service_request_id": lambda: "999999",
    }


@pytest.mark.parametrize("actor", ACTORS)
def test_route_role_matrix(app, client: TestClient, everyone, login, actor: str) -> None:
    if actor != "anonymous":
        login(f"u.{actor.replace('_', '-')}")
    params = _params(client, actor)
    failures = []
    for route in _routes(app):
        for method in sorted(route.methods - {"HEAD"}):
            if (method, route.path) in SKIP:
                continue
            path = route.path
            for name in route.param_convertors:
                path = path.replace("{" + name + "}", params[name]())
            r = client.request(method, path, follow_redirects=False)
            denied = r.status_code in (401, 403)
            expected_allowed = _allowed(EXPECT[(method, route.path)], actor)
            if expected_allowed == denied:
                failures.append(f"{method} {path} as {actor}: {r.status_code} {r.text[:120]}")
            if r.status_code >= 500:
                failures.append(f"{method} {path} as {actor}: server error {r.status_code}")
    assert not failures, "\n".join(failures)
