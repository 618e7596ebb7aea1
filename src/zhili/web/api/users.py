"""Users: list (scoped to what the caller may see), create, view, change roles/state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from zhili.access import ROLES
from zhili.identity import users
from zhili.web.api.schemas import Page, UserIn, UserOut, UserPatch
from zhili.web.deps import CurrentActor, DbSession, authorize

router = APIRouter(prefix="/api/v1/users", tags=["users"])
READ = [Depends(authorize("user.read"))]
MANAGE = [Depends(authorize("user.manage"))]


@router.get("/roles", dependencies=READ)
def roles() -> dict[str, list[str]]:
    """The roles a user can hold."""
    return {"roles": list(ROLES)}


@router.get("", dependencies=READ)
def list_users(
    actor: CurrentActor,
    session: DbSession,
    org: str | None = None,
    role: str | None = None,
    q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[UserOut]:
    rows, total = users.list_users(
        session, actor, org_code=org, role=role, q=q, limit=limit, offset=offset
    )
    return Page[UserOut](
        total=total, limit=limit, offset=offset, items=[UserOut.of(u) for u in rows]
    )


@router.post("", dependencies=MANAGE, status_code=201)
def create_user(body: UserIn, actor: CurrentActor, session: DbSession) -> UserOut:
    spec = users.UserSpec(
        username=body.username,
        display_name=body.display_name,
        org_code=body.org_code,
        roles=tuple(body.roles),
        password=body.password,
    )
    return UserOut.of(users.create_user(session, actor, spec))


@router.get("/{username}", dependencies=READ)
def get_user(username: str, actor: CurrentActor, session: DbSession) -> UserOut:
    return UserOut.of(users.view_user(session, actor, username))


@router.patch("/{username}", dependencies=MANAGE)
def patch_user(username: str, body: UserPatch, actor: CurrentActor, session: DbSession) -> UserOut:
    user = users.view_user(session, actor, username)
    if body.roles is not None:
        user = users.set_roles(session, actor, username, tuple(body.roles))
    if body.is_active is not None:
        user = users.set_active(session, actor, username, body.is_active)
    if body.password is not None:
        user = users.set_password(session, actor, username, body.password)
    return UserOut.of(user)
