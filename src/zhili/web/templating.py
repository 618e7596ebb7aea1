"""Jinja2 rendering with the i18n ``t()`` function, the actor, the CSRF token and the
navigation filtered by the access policy (a link shows only if the action is allowed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from zhili.access import ANONYMOUS, can
from zhili.i18n import LOCALES, translate

TEMPLATES = Path(__file__).parent / "templates"

# (nav id, url, action) — the label is the catalog entry "nav.<id>".
NAV: tuple[tuple[str, str, str], ...] = (
    ("home", "/", "page.home"),
    ("catalog", "/catalog", "catalog.read"),
    ("exchange", "/exchange/requests", "exchange.read"),
    ("verify", "/verify", "verify.read"),
    ("grid", "/grid", "grid.read"),
    ("open", "/open", "portal.read"),
    ("report", "/grid/report", "grid.report"),
    ("orgs", "/admin/orgs", "org.read"),
    ("users", "/admin/users", "user.read"),
    ("calendar", "/admin/calendar", "calendar.read"),
    ("audit", "/audit", "audit.read"),
    ("account", "/account", "account.read"),
)

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    from zhili.web.deps import csrf_token, get_locale

    locale = getattr(request.state, "locale", None) or get_locale(request)
    actor = getattr(request.state, "actor", None) or ANONYMOUS

    def t(key: str, **params: Any) -> str:
        return translate(key, locale, **params)

    ctx: dict[str, Any] = {
        "request": request,
        "t": t,
        "locale": locale,
        "locales": LOCALES,
        "actor": actor,
        "can": lambda action, target=None: can(actor, action, target),
        "nav": [(nid, url) for nid, url, action in NAV if can(actor, action)],
        "csrf_token": csrf_token(request),
        "path": request.url.path,
    }
    ctx.update(context or {})
    html = _env.get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status_code)
    anon = getattr(request.state, "anon_csrf", None)
    if anon and request.cookies.get("zhili_csrf") != anon:
        response.set_cookie("zhili_csrf", anon, httponly=True, samesite="lax")
    return response
