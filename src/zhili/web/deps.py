"""Request-scoped dependencies: database session, locale, the acting identity, and the
``authorize`` guard that every route declares (the route × role test reads it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from zhili.access import ANONYMOUS, Actor, require
from zhili.audit import AuditLog
from zhili.db import Database
from zhili.errors import Forbidden
from zhili.i18n import negotiate
from zhili.identity.auth import actor_for, session_user
from zhili.identity.secrets import same
from zhili.identity.tokens import resolve_token
from zhili.settings import Settings
from zhili.web.gate import DatabaseGate

SESSION_COOKIE = "zhili_session"
LANG_COOKIE = "zhili_lang"
ANON_CSRF_COOKIE = "zhili_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_audit_log(request: Request) -> AuditLog:
    """The app's one audit appender: concurrent requests share its group commits."""
    log: AuditLog = request.app.state.audit_log
    return log


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request, committed before the response is sent; entered
    through the app's :class:`~zhili.web.gate.DatabaseGate` so a burst waits here
    instead of deadlocking the thread pool against the connection pool."""
    db: Database = request.app.state.db
    gate: DatabaseGate = request.app.state.db_gate
    async with gate.enter():
        session = db.sessions()
        try:
            yield session
            await run_in_threadpool(session.commit)
        except BaseException:
            with anyio.CancelScope(shield=True):  # a client gone away still rolls back
                await run_in_threadpool(session.rollback)
            raise
        finally:
            with anyio.CancelScope(shield=True):  # and gives its connection back
                await run_in_threadpool(session.close)


DbSession = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
AuditLogDep = Annotated[AuditLog, Depends(get_audit_log)]


def get_locale(request: Request) -> str:
    locale = negotiate(request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE))
    request.state.locale = locale
    return locale


Locale = Annotated[str, Depends(get_locale)]


def get_actor(request: Request, session: DbSession) -> Actor:
    """Bearer token first (machines), then the session cookie (people), else anonymous."""
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    actor = ANONYMOUS
    request.state.session_csrf = None
    auth = request.headers.get("authorization", "") or request.headers.get("x-ckan-api-key", "")
    if auth.startswith("zhl_"):
        auth = f"Bearer {auth}"  # CKAN clients send the bare key
    if auth:
        scheme, _, raw = auth.partition(" ")
        if scheme.lower() != "bearer" or not raw:
            from zhili.errors import Unauthorized

            raise Unauthorized("auth.bad_scheme", "use 'Authorization: Bearer <token>'")
        actor = resolve_token(session, raw, request.client.host if request.client else None)
    elif cookie := request.cookies.get(SESSION_COOKIE):
        found = session_user(session, cookie)
        if found is not None:
            user, login_session = found
            actor = actor_for(user)
            request.state.session_csrf = login_session.csrf_token
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


def csrf_token(request: Request) -> str:
    """The token forms must echo: the session's, or the anonymous double-submit cookie."""
    session_csrf = getattr(request.state, "session_csrf", None)
    if session_csrf is not None:
        return str(session_csrf)
    token = getattr(request.state, "anon_csrf", None) or request.cookies.get(ANON_CSRF_COOKIE)
    if not token:
        from zhili.identity.secrets import new_secret

        token = new_secret(24)
    request.state.anon_csrf = token
    return token


async def _sent_csrf(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request) -> None:
    """Unsafe requests authenticated by cookie must carry the CSRF token."""
    if request.method in SAFE_METHODS:
        return
    expected = csrf_token(request)
    sent = await _sent_csrf(request)
    if not sent or not same(sent, expected):
        raise Forbidden("auth.csrf", "the form expired or came from another site; reload it")


class Authorize:
    """Dependency guard declaring the access action of a route."""

    def __init__(self, action: str) -> None:
        self.action = action

    async def __call__(self, request: Request, actor: CurrentActor) -> Actor:
        require(actor, self.action)
        if actor.kind == "user" and request.method not in SAFE_METHODS:
            await check_csrf(request)
        return actor


def authorize(action: str) -> Callable[..., object]:
    """``Depends(authorize("org.read"))``: the route's one access rule."""
    return Authorize(action)
