"""Users: one organization each, a set of roles, an argon2 password."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.access import Actor, Role, parse_role, require
from zhili.audit.acts import record_act
from zhili.errors import Conflict, InvalidInput, NotFound
from zhili.identity.models import Organization, User, UserRole
from zhili.identity.orgs import get_org
from zhili.identity.passwords import check_strength, hash_password, verify_password

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True, slots=True)
class UserSpec:
    username: str
    display_name: str
    org_code: str
    roles: tuple[str, ...]
    password: str


class _UserTarget:
    """The access target for a user in an organization (used before the row exists)."""

    def __init__(self, org: Organization) -> None:
        self.org_path = org.path


def _check_roles(actor: Actor, roles: tuple[str, ...]) -> list[str]:
    parsed = sorted({parse_role(r).value for r in roles})
    if Role.platform_admin in parsed:
        require(actor, "role.grant_admin")
    return parsed


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("identity.user_not_found", "no user named {username}", username=username)
    return user


def create_user(session: Session, actor: Actor, spec: UserSpec) -> User:
    """Create a user; 409 when the username is taken."""
    username = spec.username.strip().lower()
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            "identity.bad_username",
            "username {value!r}: 2–64 lowercase letters, digits, '.', '_' or '-'",
            field="username",
            value=spec.username,
        )
    org = get_org(session, spec.org_code)
    require(actor, "user.manage", _UserTarget(org))
    roles = _check_roles(actor, spec.roles)
    check_strength(spec.password)
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(
            "identity.user_exists", "username {username} is already taken", username=username
        )
    user = User(
        username=username,
        display_name=spec.display_name.strip() or username,
        org_id=org.id,
        password_hash=hash_password(spec.password),
    )
    user.role_rows = [UserRole(role=r) for r in roles]
    session.add(user)
    session.flush()
    record_act(
        session,
        actor,
        "user.create",
        detail={"user": username, "org": org.code, "roles": list(roles)},
    )
    return user


def set_roles(session: Session, actor: Actor, username: str, roles: tuple[str, ...]) -> User:
    """Replace a user's roles."""
    user = get_user(session, username)
    require(actor, "user.manage", _UserTarget(user.org))
    parsed = _check_roles(actor, roles)
    if Role.platform_admin in user.roles and Role.platform_admin not in parsed:
        require(actor, "role.grant_admin")
    before = sorted(user.roles)
    keep = [row for row in user.role_rows if row.role in parsed]
    have = {row.role for row in keep}
    user.role_rows = keep + [UserRole(role=r) for r in parsed if r not in have]
    session.flush()
    record_act(
        session,
        actor,
        "user.roles",
        detail={"user": user.username, "before": before, "after": sorted(parsed)},
    )
    return user


def set_active(session: Session, actor: Actor, username: str, active: bool) -> User:
    """Deactivate (or reactivate) a user; a deactivated user's sessions and tokens stop."""
    user = get_user(session, username)
    require(actor, "user.manage", _UserTarget(user.org))
    if not active and user.id == actor.user_id:
        raise InvalidInput("identity.cannot_deactivate_self", "you cannot deactivate yourself")
    user.is_active = active
    session.flush()
    record_act(
        session,
        actor,
        "user.activate" if active else "user.deactivate",
        detail={"user": user.username},
    )
    return user


def set_password(session: Session, actor: Actor, username: str, password: str) -> User:
    """Set a password: one's own, or as a manager of the user's organization."""
    user = get_user(session, username)
    if user.id != actor.user_id:
        require(actor, "user.manage", _UserTarget(user.org))
    check_strength(password)
    user.password_hash = hash_password(password)
    session.flush()
    return user


def view_user(session: Session, actor: Actor, username: str) -> User:
    user = get_user(session, username)
    if user.id != actor.user_id:
        require(actor, "user.read", _UserTarget(user.org))
    return user


def list_users(
    session: Session,
    actor: Actor,
    *,
    org_code: str | None = None,
    role: str | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[User], int]:
    """Users the actor may see: everyone for admins and auditors, their subtree for org
    admins."""
    require(actor, "user.read")
    stmt = select(User).join(Organization, User.org_id == Organization.id)
    if not actor.roles & {Role.platform_admin, Role.auditor}:
        stmt = stmt.where(Organization.path.startswith(actor.org_path or "\x00", autoescape=True))
    if org_code:
        stmt = stmt.where(Organization.code == org_code)
    if role:
        stmt = stmt.where(User.role_rows.any(UserRole.role == parse_role(role).value))
    if q:
        like = f"%{q}%"
        stmt = stmt.where(User.username.like(like) | User.display_name.like(like))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(User.username).limit(limit).offset(offset)).all()
    return list(rows), total


def change_own_password(session: Session, actor: Actor, current: str, new: str) -> User:
    """Change one's own password; the current one must be given (422 when wrong: the
    caller is logged in, so this is bad input, not a failed authentication)."""
    require(actor, "account.update")
    user = get_user(session, actor.username or "")
    if not verify_password(user.password_hash, current):
        raise InvalidInput(
            "identity.wrong_current_password", "the current password is wrong", field="current"
        )
    return set_password(session, actor, user.username, new)
