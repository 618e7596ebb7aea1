"""Login and logout pages, and the language switch."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from zhili.errors import ZhiliError
from zhili.i18n import LOCALES
from zhili.identity import auth
from zhili.identity.secrets import same
from zhili.web.api.auth import set_session_cookie
from zhili.web.deps import (
    ANON_CSRF_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    DbSession,
    Locale,
    SettingsDep,
    authorize,
)
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
PUBLIC = [Depends(authorize("page.login"))]


def safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login page cannot redirect elsewhere."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", dependencies=PUBLIC)
def login_page(request: Request, locale: Locale, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", dependencies=PUBLIC)
def login_submit(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = getattr(request.state, "session_csrf", None) or request.cookies.get(
        ANON_CSRF_COOKIE, ""
    )
    error: str | None = None
    if not expected or not same(csrf_token, expected):
        error = ZhiliError("auth.csrf").message(locale)
    else:
        try:
            new = auth.login(session, username, password, settings.session_hours)
        except ZhiliError as exc:
            error = exc.message(locale)
        else:
            response = RedirectResponse(safe_next(next), status_code=303)
            set_session_cookie(response, new, settings.production)
            if new.user.locale in LOCALES:
                response.set_cookie(LANG_COOKIE, new.user.locale, samesite="lax")
            return response
    return render(
        request,
        "login.html",
        {"next": safe_next(next), "error": error, "username": username},
        status_code=401 if error else 200,
    )


@router.post("/logout", dependencies=PUBLIC)
def logout(request: Request, session: DbSession) -> Response:
    if cookie := request.cookies.get(SESSION_COOKIE):
        auth.logout(session, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{code}", dependencies=[Depends(authorize("i18n.switch"))])
def switch_language(code: str, next: str | None = None) -> Response:
    """Remember the chosen UI language in a cookie and go back."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LOCALES:
        response.set_cookie(LANG_COOKIE, code, samesite="lax", max_age=365 * 86400)
    return response
