"""One handler for every error: RFC 9457 problem details for machines, a page for people.

The body always has ``type``, ``title``, ``status``, ``detail`` and our stable ``code``;
an error's parameters (the row, field or value at fault) are added as extension members.
Unexpected exceptions are logged with their traceback and answered with a bare 500.
Under ``/open311/`` errors take the GeoReport v2 error format instead (Open311 clients
read nothing else).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from zhili.errors import ZhiliError
from zhili.i18n import negotiate, translate

log = logging.getLogger("zhili.web")
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://zhili.example/problems/"
_RESERVED = {"type", "title", "status", "detail", "instance", "code"}


def wants_page(request: Request) -> bool:
    """Browsers navigating pages get HTML; API clients and htmx fragments get JSON."""
    path = request.url.path
    if path.startswith(("/api/", "/healthz", "/readyz", "/openapi", "/docs")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _locale(request: Request) -> str:
    return getattr(request.state, "locale", None) or negotiate(
        request.headers.get("accept-language"), request.cookies.get("zhili_lang")
    )


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    detail: str,
    extra: dict[str, Any] | None = None,
) -> Response:
    if request.url.path.startswith("/open311/"):  # Open311 clients read its own format
        from zhili.web.open311.router import error_response

        return error_response(request, status, detail)
    locale = _locale(request)
    title = translate(f"status.{status}", locale)
    if wants_page(request):
        if status == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        from zhili.web.templating import render

        return render(
            request,
            "error.html",
            {"status": status, "title": title, "detail": detail, "code": code},
            status_code=status,
        )
    body: dict[str, Any] = {
        "type": TYPE_BASE + code.replace(".", "/"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
    }
    for key, value in (extra or {}).items():
        if key not in _RESERVED:
            body[key] = value
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _zhili_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ZhiliError)
    return problem(
        request,
        status=exc.status,
        code=exc.code,
        detail=exc.message(_locale(request)),
        extra=_jsonable(exc.params),
    )


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str | int | float | bool | type(None) | list | dict):
            out[key] = value
        else:
            out[key] = str(value)
    return out


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "location": ".".join(str(p) for p in err.get("loc", ())),
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"location": "?", "message": "invalid"}
    detail = translate(
        "errors.request.invalid",
        _locale(request),
        location=first["location"],
        message=first["message"],
    )
    return problem(
        request, status=422, code="request.invalid", detail=detail, extra={"errors": errors}
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "http.not_found", 405: "http.method_not_allowed"}.get(
        exc.status_code, f"http.{exc.status_code}"
    )
    detail = translate(f"errors.{code}", _locale(request))
    if detail == f"errors.{code}":
        detail = str(exc.detail)
    return problem(request, status=exc.status_code, code=code, detail=detail)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(
        request,
        status=500,
        code="internal",
        detail=translate("errors.internal", _locale(request)),
    )


async def _busy(request: Request, exc: Exception) -> Response:
    """Every database connection of this process is taken (a burst of requests): a 503
    the client may retry, not a 500 that looks like a bug."""
    log.warning("database pool exhausted on %s %s", request.method, request.url.path)
    response = problem(
        request, status=503, code="db.busy", detail=translate("errors.db.busy", _locale(request))
    )
    response.headers["Retry-After"] = "1"
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(ZhiliError, _zhili_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PoolTimeout, _busy)
    app.add_exception_handler(Exception, _unexpected)
