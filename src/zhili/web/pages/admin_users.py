"""User pages: list users the actor may see; create a user (admins, org admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from zhili.access import ROLES, Actor
from zhili.errors import ZhiliError
from zhili.identity import users
from zhili.web.deps import CurrentActor, DbSession, Locale, authorize
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _page(
    request: Request, session: DbSession, actor: Actor, status_code: int = 200, **extra: object
) -> Response:
    params = request.query_params
    role = params.get("role") or None
    q = params.get("q") or None
    try:
        page = max(int(params.get("page", "1")), 1)
    except ValueError:
        page = 1
    try:
        rows, total = users.list_users(
            session, actor, role=role, q=q, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    except ZhiliError:
        rows, total, role = [], 0, None
    return render(
        request,
        "users.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
            "filters": {"role": role, "q": q},
            "roles": ROLES,
            **extra,
        },
        status_code=status_code,
    )


@router.get("/admin/users", dependencies=[Depends(authorize("user.read"))])
def users_page(request: Request, actor: CurrentActor, session: DbSession) -> Response:
    return _page(request, session, actor)


@router.post("/admin/users", dependencies=[Depends(authorize("user.manage"))])
def create_user(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    org_code: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    spec = users.UserSpec(
        username=username,
        display_name=display_name,
        org_code=org_code,
        roles=tuple(roles or ()),
        password=password,
    )
    try:
        user = users.create_user(session, actor, spec)
    except ZhiliError as exc:
        session.rollback()
        form = {"username": username, "display_name": display_name, "org_code": org_code}
        return _page(
            request,
            session,
            actor,
            status_code=exc.status,
            error=exc.message(locale),
            form=form,
        )
    return _page(request, session, actor, status_code=201, created=user.username)


@router.post("/admin/users/{username}", dependencies=[Depends(authorize("user.manage"))])
def update_user(
    request: Request,
    username: str,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    roles: Annotated[list[str] | None, Form()] = None,
    active: Annotated[str, Form()] = "true",
) -> Response:
    """Set a user's roles and whether the account is active (one form per row)."""
    try:
        users.set_roles(session, actor, username, tuple(roles or ()))
        users.set_active(session, actor, username, active == "true")
    except ZhiliError as exc:
        session.rollback()
        return _page(request, session, actor, status_code=exc.status, error=exc.message(locale))
    return _page(request, session, actor, updated=username)
