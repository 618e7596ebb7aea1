"""My account: profile, language, password, and API tokens (a new secret shows once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from zhili.access import SCOPES, Actor
from zhili.errors import ZhiliError
from zhili.i18n import LOCALES
from zhili.identity import tokens, users
from zhili.web.deps import LANG_COOKIE, CurrentActor, DbSession, Locale, authorize
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
READ = [Depends(authorize("account.read"))]
TOKENS = [Depends(authorize("token.manage"))]


def _page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    new_token: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    assert actor.username is not None
    user = users.get_user(session, actor.username)
    return render(
        request,
        "account.html",
        {
            "user": user,
            "tokens": tokens.list_tokens(session, actor, actor.username),
            "scopes": SCOPES,
            "new_token": new_token,
            "error": error,
            "notice": notice,
        },
        status_code=status_code,
    )


@router.get("/account", dependencies=READ)
def account(request: Request, actor: CurrentActor, session: DbSession) -> Response:
    return _page(request, session, actor)


@router.post("/account/tokens", dependencies=TOKENS)
def create_token(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    name: Annotated[str, Form()] = "",
    days: Annotated[int, Form()] = 90,
    system: Annotated[str, Form()] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        issued = tokens.create_token(
            session,
            actor,
            username=actor.username or "",
            name=name,
            scopes=scopes,
            days=days,
            system=system or None,
        )
    except ZhiliError as exc:
        return _page(request, session, actor, error=exc.message(locale), status_code=exc.status)
    return _page(request, session, actor, new_token=issued.plaintext, status_code=201)


@router.post("/account/tokens/{token_id}/revoke", dependencies=TOKENS)
def revoke_token(token_id: int, actor: CurrentActor, session: DbSession) -> Response:
    tokens.revoke_token(session, actor, token_id)
    return RedirectResponse("/account", status_code=303)


@router.post("/account/password", dependencies=[Depends(authorize("account.update"))])
def change_password(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
) -> Response:
    try:
        users.change_own_password(session, actor, current, new)
    except ZhiliError as exc:
        return _page(request, session, actor, error=exc.message(locale), status_code=exc.status)
    return _page(request, session, actor, notice="account.password_changed")


@router.post("/account/language", dependencies=[Depends(authorize("account.update"))])
def set_language(
    actor: CurrentActor, session: DbSession, language: Annotated[str, Form()] = "zh-CN"
) -> Response:
    if language in LOCALES and actor.username:
        users.get_user(session, actor.username).locale = language
    response = RedirectResponse("/account", status_code=303)
    if language in LOCALES:
        response.set_cookie(LANG_COOKIE, language, samesite="lax", max_age=365 * 86400)
    return response
