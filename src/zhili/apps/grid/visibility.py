"""Who may see and act on which event — the event-level half of deny by default.

The policy (``zhili.access.policy``) says which roles may command, handle or verify at
all; this module narrows each to the events of one's own place in the tree:

* a commander (指挥长) commands the events whose current command area is run from inside
  their organization's subtree, and sees every event located in an area their
  organization runs (also once escalated above them);
* a handler (处置人员) handles and sees events dispatched to their department;
* a grid worker (网格员) verifies and sees the events of the grids they walk;
* whoever reported an event, or follows it with an account, sees it;
* platform admins and auditors see everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.orm import Session

from zhili.access import Actor, Role, can
from zhili.apps.grid.area_tree import area_tree
from zhili.apps.grid.areas import command_org
from zhili.apps.grid.event_models import EventDepartment, EventFollower, GridEvent
from zhili.apps.grid.models import GridArea, GridMember
from zhili.identity.models import Organization

SEE_ALL = frozenset({Role.platform_admin, Role.auditor})


@dataclass(frozen=True, slots=True)
class OrgTarget:
    """An access target standing for one organization (its materialised path)."""

    org_path: str


NOWHERE = OrgTarget("\x00")  # inside no subtree: only global roles match


def _target(org: Organization | None) -> OrgTarget:
    return OrgTarget(org.path) if org is not None else NOWHERE


def may_command(session: Session, actor: Actor, event: GridEvent) -> bool:
    """Register, dispatch, transfer, merge, close: the current command area's centre."""
    return can(actor, "grid.command", _target(command_org(session, event.command_area_id)))


def may_handle(session: Session, actor: Actor, event: GridEvent) -> bool:
    """Acknowledge, handle, return: a department the event is dispatched to now."""
    departments = session.scalars(
        select(Organization)
        .join(EventDepartment, EventDepartment.department_id == Organization.id)
        .where(EventDepartment.event_id == event.id, EventDepartment.active.is_(True))
    )
    return any(can(actor, "grid.handle", _target(org)) for org in departments)


def may_verify(session: Session, actor: Actor, event: GridEvent) -> bool:
    """Verify on site: a worker who walks the event's grid, or a commander of it."""
    if not can(actor, "grid.verify", _target(command_org(session, event.area_id))):
        return False
    return Role.commander in actor.roles or _walks(session, actor, event.area_id)


def _walks(session: Session, actor: Actor, area_id: int) -> bool:
    if actor.user_id is None or Role.grid_worker not in actor.roles:
        return False
    return (
        session.scalar(
            select(GridMember.id).where(
                GridMember.user_id == actor.user_id, GridMember.area_id == area_id
            )
        )
        is not None
    )


def may(session: Session, actor: Actor, event: GridEvent, role: str) -> bool:
    """Whether ``actor`` may take an action of ``role`` (workflow roles) on ``event``."""
    if role == "command":
        return may_command(session, actor, event)
    if role == "handle":
        return may_handle(session, actor, event)
    if role == "verify":
        return may_verify(session, actor, event)
    return False


def org_subtree(actor: Actor) -> Select[tuple[int]]:
    """The ids of the actor's organization and every organization below it."""
    return select(Organization.id).where(Organization.path.startswith(actor.org_path or "\x00"))


def _outermost(paths: Iterable[str]) -> list[str]:
    """Sorted materialised paths without those inside an earlier one: a district's
    subtree already holds its streets', so one prefix test per branch is enough."""
    kept: list[str] = []
    for path in paths:
        if not kept or not path.startswith(kept[-1]):
            kept.append(path)
    return kept


def visible_filter(session: Session, actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause on ``GridEvent`` selecting the events ``actor`` may see."""
    if not actor.is_authenticated:
        return false()
    if actor.roles & SEE_ALL:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if actor.user_id is not None:
        clauses.append(GridEvent.reporter_id == actor.user_id)
        followed = select(EventFollower.event_id).where(EventFollower.user_id == actor.user_id)
        clauses.append(GridEvent.id.in_(followed))
    if Role.commander in actor.roles and actor.org_id is not None:
        runs = select(GridArea.path).where(GridArea.org_id.in_(org_subtree(actor)))
        for path in _outermost(session.scalars(runs.order_by(GridArea.path)))[:50]:
            inside = select(GridArea.id).where(GridArea.path.startswith(path))
            clauses.append(GridEvent.area_id.in_(inside))
    if Role.handler in actor.roles and actor.org_id is not None:
        dispatched = select(EventDepartment.event_id).where(
            EventDepartment.department_id.in_(org_subtree(actor))
        )
        clauses.append(GridEvent.id.in_(dispatched))
    if Role.grid_worker in actor.roles and actor.user_id is not None:
        walked = select(GridMember.area_id).where(GridMember.user_id == actor.user_id)
        clauses.append(GridEvent.area_id.in_(walked))
    return or_(*clauses) if clauses else false()


def commanded_area_ids(session: Session, actor: Actor) -> set[int]:
    """The areas ``actor`` commands — those of their organization's subtree, and every
    area below — read off the in-memory tree (a district commander: some 1,600 ids)."""
    if Role.commander not in actor.roles or actor.org_id is None:
        return set()
    orgs = set(session.scalars(org_subtree(actor)))
    tree = area_tree(session)
    return tree.subtree_ids(n.id for n in tree.nodes.values() if n.org_id in orgs)


def can_see_event(session: Session, actor: Actor, event: GridEvent) -> bool:
    """Whether ``actor`` may see ``event`` (its details, timeline and photos)."""
    found = session.scalar(
        select(GridEvent.id).where(GridEvent.id == event.id, visible_filter(session, actor))
    )
    return found is not None
