"""CKAN-compatible Action API at /api/3/action/ (GET with query parameters or POST with a
JSON body), answering in CKAN's envelope ``{help, success, result | error}`` so ckanapi,
harvesters and portals that speak CKAN work against zhili unchanged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.catalog import ckan
from zhili.errors import InvalidInput, ZhiliError
from zhili.exchange import ckan_reads
from zhili.web.deps import CurrentActor, DbSession, SettingsDep, authorize

router = APIRouter(tags=["CKAN Action API"])
ERROR_TYPES = {
    401: "Authorization Error",
    403: "Authorization Error",
    404: "Not Found Error",
    409: "Validation Error",
    422: "Validation Error",
    400: "Validation Error",
}


def _int(data: dict[str, Any], name: str, default: int, maximum: int = 1000) -> int:
    value = data.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            "ckan.bad_int", "{field} must be an integer", field=name, value=value
        ) from None
    if number < 0 or number > maximum:
        raise InvalidInput(
            "ckan.bad_int", "{field} must be between 0 and {max}", field=name, max=maximum
        )
    return number


def _bool(data: dict[str, Any], name: str) -> bool:
    return str(data.get(name, "")).lower() in ("true", "1", "yes")


def _id(data: dict[str, Any]) -> str:
    value = data.get("id") or data.get("name")
    if not value:
        raise InvalidInput("ckan.missing_id", "Missing value: id", field="id")
    return str(value)


Action = Callable[[Session, Actor, dict[str, Any], str, Path], Any]

ACTIONS: dict[str, Action] = {
    "status_show": lambda s, a, d, base, home: {
        "ckan_version": ckan.CKAN_VERSION,
        "site_url": base,
        "site_title": "城市智理 zhili",
        "site_description": "City big-data bureau data sharing platform",
        "locale_default": "zh_Hans_CN",
        "extensions": ["zhili", "datastore"],
    },
    "package_list": lambda s, a, d, base, home: ckan.package_list(
        s, a, _int(d, "limit", 100_000, 100_000) if "limit" in d else None, _int(d, "offset", 0)
    ),
    "package_show": lambda s, a, d, base, home: ckan.package_show(s, a, _id(d), base),
    "resource_show": lambda s, a, d, base, home: ckan.resource_show(s, a, _id(d), base),
    "package_search": lambda s, a, d, base, home: ckan.package_search(
        s,
        a,
        q=str(d.get("q", "")),
        fq=str(d.get("fq", "")),
        rows=_int(d, "rows", 10),
        start=_int(d, "start", 0, 10**9),
        sort=str(d.get("sort", "")),
        facet_fields=ckan.facet_list(d.get("facet.field")),
        base_url=base,
    ),
    "organization_list": lambda s, a, d, base, home: ckan.organization_list(
        s, a, _bool(d, "all_fields")
    ),
    "organization_show": lambda s, a, d, base, home: ckan.organization_show(
        s, a, _id(d), _bool(d, "include_datasets"), base
    ),
    "datastore_search": lambda s, a, d, base, home: ckan_reads.datastore_search(
        s, a, home=home, data=d
    ),
    "datastore_search_sql": lambda s, a, d, base, home: ckan_reads.datastore_search_sql(
        s, a, home=home, data=d
    ),
}


def envelope(request: Request, action: str, status: int, body: dict[str, Any]) -> JSONResponse:
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {"help": f"{base}/api/3/action/help_show?name={action}", **body}, status_code=status
    )


async def _data(request: Request) -> dict[str, Any]:
    data: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        body = await request.body()
        if body:
            try:
                parsed = await request.json()
            except ValueError:
                raise InvalidInput("ckan.bad_json", "the request body is not JSON") from None
            if not isinstance(parsed, dict):
                raise InvalidInput("ckan.bad_json", "the request body must be a JSON object")
            data.update(parsed)
    return data


async def call_action(
    action: str,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
) -> JSONResponse:
    """Run one CKAN action; anonymous callers see published datasets only."""
    fn = ACTIONS.get(action)
    if fn is None:
        return envelope(
            request,
            action,
            400,
            {"success": False, "error": {"__type": "Bad request",
                                         "message": f"Action name not known: {action}"}},
        )  # fmt: skip
    try:
        data = await _data(request)
        result = fn(session, actor, data, str(request.base_url).rstrip("/"), settings.home)
    except ZhiliError as exc:
        locale = getattr(request.state, "locale", None) or "en"
        message = exc.message(locale)
        error: dict[str, Any] = {"__type": ERROR_TYPES.get(exc.status, "Error"), "message": message}
        if exc.status in (400, 409, 422):
            error[str(exc.params.get("field", "message"))] = [message]
        return envelope(request, action, exc.status, {"success": False, "error": error})
    return envelope(request, action, 200, {"success": True, "result": result})


# CKAN serves the same actions under /api/3/action and /api/action (ckanapi's default).
for _path in ("/api/3/action/{action}", "/api/action/{action}"):
    for _method in ("GET", "POST"):
        router.add_api_route(
            _path,
            call_action,
            methods=[_method],
            dependencies=[Depends(authorize("portal.read"))],
            operation_id=f"ckan_{_method.lower()}{'_v3' if '/3/' in _path else ''}",
            include_in_schema="/3/" in _path,
        )
