"""Login, logout and "who am I" for API clients that use the session cookie."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from zhili.identity import auth
from zhili.identity.users import get_user
from zhili.web.api.schemas import LoginIn, UserOut
from zhili.web.deps import SESSION_COOKIE, CurrentActor, DbSession, SettingsDep, authorize

router = APIRouter(prefix="/api/v1", tags=["auth"])


def set_session_cookie(response: Response, new: auth.NewSession, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        new.cookie,
        httponly=True,
        samesite="lax",
        secure=secure,
        expires=new.expires_at,
    )


@router.post("/auth/login", dependencies=[Depends(authorize("page.login"))])
def login(body: LoginIn, response: Response, session: DbSession, settings: SettingsDep) -> dict:
    """Open a session (cookie) with username and password; the CSRF token for unsafe calls
    is returned in the body."""
    new = auth.login(session, body.username, body.password, settings.session_hours)
    set_session_cookie(response, new, settings.production)
    return {"user": UserOut.of(new.user).model_dump(mode="json"), "csrf_token": new.csrf_token}


@router.post("/auth/logout", dependencies=[Depends(authorize("page.login"))])
def logout(request: Request, response: Response, session: DbSession) -> dict[str, bool]:
    if cookie := request.cookies.get(SESSION_COOKIE):
        auth.logout(session, cookie)
    response.delete_cookie(SESSION_COOKIE)
    return {"ok": True}


@router.get("/me", dependencies=[Depends(authorize("account.read"))])
def me(actor: CurrentActor, session: DbSession) -> dict:
    """The caller: user, organization, roles, and for a token its scopes."""
    assert actor.username is not None
    user = get_user(session, actor.username)
    return {
        "user": UserOut.of(user).model_dump(mode="json"),
        "via": actor.kind,
        "scopes": sorted(actor.scopes) if actor.scopes is not None else None,
        "system": actor.system,
    }
