"""API tokens for machines: ``zhl_<prefix>_<secret>``, shown once, stored as a hash,
limited to scopes, expiring, revocable, with the last use recorded."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from zhili.access import READ_SCOPES, SCOPES, Actor, require
from zhili.audit.acts import record_act
from zhili.clock import utcnow
from zhili.errors import InvalidInput, NotFound, Unauthorized
from zhili.identity.models import ApiToken, User
from zhili.identity.secrets import digest, new_secret, same
from zhili.identity.users import get_user

TOKEN_RE = re.compile(r"^zhl_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{20,100})$")
MAX_DAYS = 366
# Recording every call would turn each read into a write; a minute's precision is enough.
LAST_USE_PRECISION = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: ApiToken
    plaintext: str


def _prefix() -> str:
    return "".join(c for c in new_secret(18) if c.isalnum())[:12].ljust(12, "0")


def create_token(
    session: Session,
    actor: Actor,
    *,
    username: str,
    name: str,
    scopes: list[str] | None = None,
    days: int = 90,
    system: str | None = None,
) -> IssuedToken:
    """Issue a token for ``username`` (oneself, or anyone for a platform admin)."""
    owner = get_user(session, username)
    require(actor, "token.manage", _Owned(owner.id))
    if not name.strip():
        raise InvalidInput("identity.missing_field", "{field} is required", field="name")
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(
            "identity.bad_token_days",
            "days must be between 1 and {max}, got {value}",
            field="days",
            value=days,
            max=MAX_DAYS,
        )
    chosen = sorted(set(scopes)) if scopes else list(READ_SCOPES)
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise InvalidInput(
            "identity.bad_scope",
            "unknown scope {value}; valid scopes: {valid}",
            field="scopes",
            value=", ".join(unknown),
            valid=", ".join(SCOPES),
        )
    secret = new_secret(32)
    prefix = _prefix()
    now = utcnow()
    token = ApiToken(
        prefix=prefix,
        secret_hash=digest(secret),
        name=name.strip(),
        user_id=owner.id,
        scopes=chosen,
        system=system,
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
    )
    session.add(token)
    session.flush()
    record_act(
        session,
        actor,
        "token.create",
        system=system,
        detail={"owner": owner.username, "prefix": prefix, "scopes": chosen, "days": days},
    )
    return IssuedToken(token=token, plaintext=f"zhl_{prefix}_{secret}")


class _Owned:
    def __init__(self, user_id: int) -> None:
        self.user_id = user_id


def list_tokens(session: Session, actor: Actor, username: str) -> list[ApiToken]:
    owner = get_user(session, username)
    require(actor, "token.manage", _Owned(owner.id))
    stmt = select(ApiToken).where(ApiToken.user_id == owner.id).order_by(ApiToken.id.desc())
    return list(session.scalars(stmt))


def get_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("identity.token_not_found", "no API token {id}", id=token_id)
    require(actor, "token.manage", token)
    return token


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    """Revoke now; the next call with the token is refused."""
    token = get_token(session, actor, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
        record_act(session, actor, "token.revoke", detail={"prefix": token.prefix})
    return token


def revoke_by_prefix(session: Session, actor: Actor, prefix: str) -> ApiToken:
    token = session.scalar(  # one query: the token, its user, their org and roles
        select(ApiToken)
        .where(ApiToken.prefix == prefix)
        .options(joinedload(ApiToken.user).joinedload(User.role_rows))
    )
    if token is None:
        raise NotFound("identity.token_not_found", "no API token {id}", id=prefix)
    return revoke_token(session, actor, token.id)


def resolve_token(session: Session, raw: str, ip: str | None = None) -> Actor:
    """The actor a bearer token stands for; a 401 saying why when it does not."""
    match = TOKEN_RE.match(raw.strip())
    if not match:
        raise Unauthorized("auth.token_malformed", "the API token is malformed")
    prefix, secret = match.groups()
    token = session.scalar(  # one query: the token, its user, their org and roles
        select(ApiToken)
        .where(ApiToken.prefix == prefix)
        .options(joinedload(ApiToken.user).joinedload(User.role_rows))
    )
    if token is None or not same(token.secret_hash, digest(secret)):
        raise Unauthorized("auth.token_unknown", "the API token is not valid")
    now = utcnow()
    if token.revoked_at is not None:
        raise Unauthorized("auth.token_revoked", "the API token was revoked")
    if token.expires_at <= now:
        raise Unauthorized("auth.token_expired", "the API token expired")
    user: User = token.user
    if not user.is_active:
        raise Unauthorized("auth.user_inactive", "this account is deactivated")
    if (
        token.last_used_at is None
        or now - token.last_used_at >= LAST_USE_PRECISION
        or token.last_used_ip != ip
    ):
        token.last_used_at = now
        token.last_used_ip = ip
    return Actor(
        kind="token",
        user_id=user.id,
        username=user.username,
        org_id=user.org_id,
        org_path=user.org.path,
        roles=user.roles,
        scopes=frozenset(token.scopes),
        token_id=token.id,
        system=token.system,
    )
