"""Counts for the home page: organizations by level and kind, users by role."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.access import Actor, require
from zhili.identity.models import User, UserRole
from zhili.identity.orgs import org_counts


@dataclass(frozen=True, slots=True)
class Overview:
    orgs_by_level: dict[str, int]
    orgs_by_kind: dict[str, int]
    users: int
    users_by_role: dict[str, int]
    me: User | None


def overview(session: Session, actor: Actor) -> Overview:
    require(actor, "page.home")
    counts = org_counts(session)
    by_role = {
        role: n
        for role, n in session.execute(select(UserRole.role, func.count()).group_by(UserRole.role))
    }
    me = session.get(User, actor.user_id) if actor.user_id else None
    return Overview(
        orgs_by_level=counts["level"],
        orgs_by_kind=counts["kind"],
        users=session.scalar(select(func.count(User.id))) or 0,
        users_by_role=by_role,
        me=me,
    )
