"""Organizations: a tree kept with a materialised path so subtree checks are one prefix test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.access import Actor, require
from zhili.audit.acts import record_act
from zhili.errors import Conflict, InvalidInput, NotFound
from zhili.identity.models import LEVEL_ORDER, Organization, OrgKind, OrgLevel

CODE_MAX = 32


@dataclass(frozen=True, slots=True)
class OrgSpec:
    """What it takes to create or update an organization."""

    code: str
    name: str
    level: str
    kind: str
    parent_code: str | None = None
    name_en: str | None = None
    region_code: str | None = None
    geometry: dict[str, Any] | None = None


def check_spec(spec: OrgSpec) -> None:
    """Validate one spec's own fields (not its parent)."""
    if not spec.code or len(spec.code) > CODE_MAX or not spec.code.isalnum():
        raise InvalidInput(
            "identity.bad_org_code",
            "organization code {value!r} must be 1–32 letters or digits",
            field="code",
            value=spec.code,
        )
    if not spec.name.strip():
        raise InvalidInput("identity.missing_field", "{field} is required", field="name")
    if spec.level not in OrgLevel.__members__:
        raise InvalidInput(
            "identity.bad_org_level",
            "level {value!r} is not one of {valid}",
            field="level",
            value=spec.level,
            valid=", ".join(OrgLevel),
        )
    if spec.kind not in OrgKind.__members__:
        raise InvalidInput(
            "identity.bad_org_kind",
            "kind {value!r} is not one of {valid}",
            field="kind",
            value=spec.kind,
            valid=", ".join(OrgKind),
        )


def get_org(session: Session, code: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.code == code))
    if org is None:
        raise NotFound("identity.org_not_found", "no organization with code {code}", code=code)
    return org


def view_org(session: Session, actor: Actor, code: str) -> Organization:
    """One organization, for anyone allowed to read the tree."""
    require(actor, "org.read")
    return get_org(session, code)


def check_parent(spec: OrgSpec, parent: Organization | None) -> None:
    """A child sits at its parent's level or below (a department under the city is fine)."""
    if parent is None:
        return
    if LEVEL_ORDER[OrgLevel(spec.level)] < LEVEL_ORDER[OrgLevel(parent.level)]:
        raise InvalidInput(
            "identity.bad_org_parent_level",
            "{code} at level {level} cannot sit under {parent} at level {parent_level}",
            field="parent_code",
            code=spec.code,
            level=spec.level,
            parent=parent.code,
            parent_level=parent.level,
        )


def upsert_org(session: Session, spec: OrgSpec) -> tuple[Organization, bool]:
    """Create or update by code, without an access check (callers check). Returns
    (org, created)."""
    check_spec(spec)
    parent = get_org(session, spec.parent_code) if spec.parent_code else None
    check_parent(spec, parent)
    org = session.scalar(select(Organization).where(Organization.code == spec.code))
    created = org is None
    if org is None:
        org = Organization(code=spec.code)
        session.add(org)
    elif parent is not None and parent.path.startswith(org.path or "//"):
        raise InvalidInput(
            "identity.org_cycle",
            "{code} cannot be placed under its own descendant {parent}",
            field="parent_code",
            code=spec.code,
            parent=spec.parent_code,
        )
    org.name = spec.name.strip()
    org.name_en = spec.name_en
    org.level = spec.level
    org.kind = spec.kind
    org.parent_id = parent.id if parent else None
    org.region_code = spec.region_code
    if spec.geometry is not None:
        org.geometry = spec.geometry
    session.flush()
    new_path = f"{parent.path if parent else '/'}{org.id}/"
    if not created and org.path != new_path:
        old = org.path
        for child in session.scalars(
            select(Organization).where(Organization.path.startswith(old, autoescape=True))
        ):
            child.path = new_path + child.path[len(old) :]
    org.path = new_path
    return org, created


def create_org(session: Session, actor: Actor, spec: OrgSpec) -> Organization:
    """Create one organization; an org admin may only add inside their own subtree."""
    parent = get_org(session, spec.parent_code) if spec.parent_code else None
    require(actor, "org.manage", parent)
    if parent is None:
        require(actor, "org.manage", TOP_LEVEL)
    if session.scalar(select(Organization.id).where(Organization.code == spec.code)):
        raise Conflict(
            "identity.org_exists", "organization code {code} already exists", code=spec.code
        )
    org, _ = upsert_org(session, spec)
    record_act(session, actor, "org.create",
               detail={"code": org.code, "name": org.name, "parent": spec.parent_code})  # fmt: skip
    return org


class _TopLevel:
    """A target outside every subtree: only global roles may act on the whole tree."""

    org_path = "\x00"


TOP_LEVEL = _TopLevel()


def list_orgs(
    session: Session,
    actor: Actor,
    *,
    level: str | None = None,
    kind: str | None = None,
    parent_code: str | None = None,
    q: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> tuple[list[Organization], int]:
    """Organizations matching the filters, in tree order, with the total count."""
    require(actor, "org.read")
    stmt = select(Organization)
    if level:
        stmt = stmt.where(Organization.level == level)
    if kind:
        stmt = stmt.where(Organization.kind == kind)
    if parent_code:
        parent = get_org(session, parent_code)
        stmt = stmt.where(Organization.parent_id == parent.id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            Organization.name.like(like)
            | Organization.code.like(like)
            | Organization.name_en.like(like)
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Organization.path).limit(limit).offset(offset)).all()
    return list(rows), total


def org_counts(session: Session) -> dict[str, dict[str, int]]:
    """Number of organizations by level and by kind, for dashboards."""
    out: dict[str, dict[str, int]] = {}
    for name, column in (("level", Organization.level), ("kind", Organization.kind)):
        rows = session.execute(select(column, func.count()).group_by(column))
        out[name] = {str(key): int(n) for key, n in rows}
    return out


def bulk_upsert_orgs(session: Session, specs: list[OrgSpec]) -> int:
    """Create or update many organizations at once (parents listed before children);
    two flushes in all, so the demo city's thousands of units load in about a second.
    Returns how many were created. Callers check access."""
    codes = [s.code for s in specs]
    known: dict[str, Organization] = {}
    for start in range(0, len(codes), 1000):
        chunk = codes[start : start + 1000]
        for org in session.scalars(select(Organization).where(Organization.code.in_(chunk))):
            known[org.code] = org
    wanted_parents = {s.parent_code for s in specs if s.parent_code} - set(codes) - set(known)
    for org in session.scalars(select(Organization).where(Organization.code.in_(wanted_parents))):
        known[org.code] = org
    created = 0
    for spec in specs:
        check_spec(spec)
        parent = known.get(spec.parent_code) if spec.parent_code else None
        if spec.parent_code and parent is None:
            raise NotFound(
                "identity.org_not_found", "no organization with code {code}", code=spec.parent_code
            )
        check_parent(spec, parent)
        org = known.get(spec.code)
        if org is None:
            org = Organization(code=spec.code, path="/")
            session.add(org)
            known[spec.code] = org
            created += 1
        org.name = spec.name.strip()
        org.name_en = spec.name_en
        org.level = spec.level
        org.kind = spec.kind
        org.parent = parent
        org.region_code = spec.region_code
        if spec.geometry is not None:
            org.geometry = spec.geometry
    session.flush()
    for spec in specs:
        org = known[spec.code]
        parent = known.get(spec.parent_code) if spec.parent_code else None
        org.path = f"{parent.path if parent else '/'}{org.id}/"
    session.flush()
    return created
