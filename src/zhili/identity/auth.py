"""Authentication: password login into a DB-backed session, and resolving a request's
credentials (session cookie or bearer token) to an :class:`Actor`.

Sessions live in the database, not in process memory, so any worker can serve any request
and logging out (or deactivating a user) takes effect everywhere at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.clock import utcnow
from zhili.errors import Unauthorized
from zhili.identity.models import LoginSession, User
from zhili.identity.passwords import hash_password, verify_password
from zhili.identity.secrets import digest, new_secret

# Verifying against a real hash for unknown users keeps login timing uniform.
_DUMMY_HASH = hash_password("not-a-real-password")


@dataclass(frozen=True, slots=True)
class NewSession:
    cookie: str
    csrf_token: str
    expires_at: dt.datetime
    user: User


def actor_for(user: User) -> Actor:
    return Actor(
        kind="user",
        user_id=user.id,
        username=user.username,
        org_id=user.org_id,
        org_path=user.org.path,
        roles=user.roles,
    )


def authenticate(session: Session, username: str, password: str) -> User:
    """The user with these credentials; one 401 for wrong name or password alike."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok:
        raise Unauthorized("auth.bad_credentials", "wrong username or password")
    if not user.is_active:
        raise Unauthorized("auth.user_inactive", "this account is deactivated")
    return user


def login(session: Session, username: str, password: str, hours: int) -> NewSession:
    """Check the password and open a session; the cookie value is returned only here."""
    user = authenticate(session, username, password)
    now = utcnow()
    secret = new_secret()
    row = LoginSession(
        secret_hash=digest(secret),
        user_id=user.id,
        csrf_token=new_secret(24),
        created_at=now,
        expires_at=now + dt.timedelta(hours=hours),
        last_seen_at=now,
    )
    user.last_login_at = now
    session.add(row)
    session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
    session.flush()
    return NewSession(
        cookie=secret, csrf_token=row.csrf_token, expires_at=row.expires_at, user=user
    )


def session_user(session: Session, cookie: str) -> tuple[User, LoginSession] | None:
    """The user behind a session cookie, or None when it is unknown or expired."""
    row = session.scalar(select(LoginSession).where(LoginSession.secret_hash == digest(cookie)))
    now = utcnow()
    if row is None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if row.last_seen_at is None or now - row.last_seen_at > dt.timedelta(minutes=1):
        row.last_seen_at = now
    return user, row


def logout(session: Session, cookie: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.secret_hash == digest(cookie)))
