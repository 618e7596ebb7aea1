"""Catalog operations: describe, edit (versioned and attributed), find and read resources.

Every function takes the acting identity and asks the access policy; editing a resource
writes a :class:`ResourceRevision` with the whole metadata snapshot and which fields
changed, so a catalog entry's history can be audited.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, delete, func, insert, select
from sqlalchemy.orm import Session

from zhili.access import Actor, require
from zhili.audit.acts import record_act
from zhili.catalog import events, search, tableschema
from zhili.catalog.models import (
    Classification,
    Grade,
    LakeVersion,
    OpenType,
    Resource,
    ResourceRevision,
    ResourceTag,
    SharingMethod,
    SharingType,
    UpdateCycle,
)
from zhili.clock import utcnow
from zhili.errors import Conflict, InvalidInput, NotFound
from zhili.identity.models import Organization
from zhili.identity.orgs import get_org

# class-item-heading-sequence (类-项-目-顺序码); class 1 base, 2 theme, 3 department.
CODE_RE = re.compile(r"^(?P<cls>[123])-(?P<item>\d{2,3})-(?P<head>\d{2,3})-(?P<seq>\d{3,6})$")
CLASS_DIGIT = {Classification.base: "1", Classification.theme: "2", Classification.department: "3"}
EDITABLE = (
    "name", "name_en", "summary", "format", "classification", "tags", "table_schema",
    "sharing_type", "sharing_conditions", "legal_basis", "sharing_methods", "open_type",
    "open_conditions", "update_cycle", "publish_date", "related", "grade",
)  # fmt: skip


@dataclass
class ResourceSpec:
    """What a data steward fills in for a catalog entry."""

    code: str
    name: str
    provider_code: str
    classification: str
    table_schema: dict[str, Any]
    sharing_type: str
    open_type: str
    update_cycle: str
    grade: str
    summary: str = ""
    name_en: str | None = None
    format: str = "table"
    tags: list[str] = field(default_factory=list)
    sharing_conditions: str | None = None
    legal_basis: str | None = None
    sharing_methods: list[str] = field(default_factory=lambda: ["api"])
    open_conditions: str | None = None
    publish_date: dt.date | None = None
    related: list[str] = field(default_factory=list)


def _choice(value: Any, enum: type, name: str) -> str:
    valid = [e.value for e in enum]
    if value not in valid:
        raise InvalidInput(
            "catalog.bad_choice",
            "{field} must be one of {valid}, got {value!r}",
            field=name,
            valid=", ".join(valid),
            value=value,
        )
    return str(value)


def check_metadata(values: dict[str, Any]) -> dict[str, Any]:
    """Validate the metadata fields present in ``values`` (a spec or a change set)."""
    out = dict(values)
    for name, enum in (
        ("classification", Classification),
        ("sharing_type", SharingType),
        ("open_type", OpenType),
        ("update_cycle", UpdateCycle),
        ("grade", Grade),
    ):
        if name in out:
            out[name] = _choice(out[name], enum, name)
    if "sharing_methods" in out:
        out["sharing_methods"] = [
            _choice(m, SharingMethod, "sharing_methods") for m in out["sharing_methods"]
        ]
    if "table_schema" in out:
        out["table_schema"] = tableschema.normalise(out["table_schema"])
    if "name" in out and not str(out["name"]).strip():
        raise InvalidInput("catalog.missing_field", "{field} is required", field="name")
    if out.get("sharing_type") == SharingType.conditional and not out.get("sharing_conditions"):
        raise InvalidInput(
            "catalog.conditions_required",
            "a conditional resource must state its sharing conditions",
            field="sharing_conditions",
        )
    if out.get("sharing_type") == SharingType.none and not out.get("legal_basis"):
        raise InvalidInput(
            "catalog.legal_basis_required",
            "a resource not shared must state its legal basis",
            field="legal_basis",
        )
    for key in ("tags", "related"):
        if key in out:
            out[key] = sorted({str(t).strip() for t in out[key] if str(t).strip()})
    return out


def check_code(code: str, classification: str) -> None:
    m = CODE_RE.match(code)
    if not m:
        raise InvalidInput(
            "catalog.bad_code",
            "resource code {value!r} must look like 3-01-001-000001 (class-item-heading-sequence)",
            field="code",
            value=code,
        )
    expected = CLASS_DIGIT[Classification(classification)]
    if m.group("cls") != expected:
        raise InvalidInput(
            "catalog.code_class_mismatch",
            "code {value} starts with class {got} but a {classification} resource uses {expected}",
            field="code",
            value=code,
            got=m.group("cls"),
            classification=classification,
            expected=expected,
        )


def snapshot(resource: Resource) -> dict[str, Any]:
    """The editable metadata as JSON-ready values."""
    out: dict[str, Any] = {"code": resource.code, "provider": resource.provider.code}
    for name in EDITABLE:
        value = getattr(resource, name)
        out[name] = value.isoformat() if isinstance(value, dt.date) else value
    return out


def create_resource(session: Session, actor: Actor, spec: ResourceSpec) -> Resource:
    """Describe a new resource; stewards only for their own organization."""
    provider = (
        get_org(session, spec.provider_code)
        if spec.provider_code
        else session.get(Organization, actor.org_id or 0)
    )
    if provider is None:
        raise InvalidInput("catalog.missing_field", "{field} is required", field="provider_code")
    require(actor, "catalog.manage", provider)
    values = check_metadata({k: getattr(spec, k) for k in EDITABLE})
    check_code(spec.code, values["classification"])
    if session.scalar(select(Resource.id).where(Resource.code == spec.code)):
        raise Conflict("catalog.code_exists", "resource code {code} exists", code=spec.code)
    now = utcnow()
    resource = Resource(
        code=spec.code,
        provider_id=provider.id,
        revision=1,
        created_at=now,
        updated_at=now,
        updated_by=actor.username,
        **values,
    )
    resource.provider = provider
    session.add(resource)
    session.flush()
    _sync_tags(session, resource)
    search.index_resource(session, resource)
    session.add(
        ResourceRevision(
            resource_id=resource.id,
            revision=1,
            snapshot=snapshot(resource),
            changed_fields=list(EDITABLE),
            changed_by=actor.username,
            changed_at=now,
            note="created",
        )
    )
    record_act(
        session,
        actor,
        "catalog.create",
        resource_code=resource.code,
        provider_org_id=resource.provider_id,
    )
    return resource


def tagged(tag: str):
    """Ids of resources carrying ``tag`` (a sub-select)."""
    return select(ResourceTag.resource_id).where(ResourceTag.tag == tag)


def _sync_tags(session: Session, resource: Resource) -> None:
    session.execute(delete(ResourceTag).where(ResourceTag.resource_id == resource.id))
    session.add_all(ResourceTag(resource_id=resource.id, tag=t) for t in resource.tags)


def get_resource(session: Session, code: str) -> Resource:
    resource = session.scalar(select(Resource).where(Resource.code == code))
    if resource is None:
        raise NotFound("catalog.resource_not_found", "no resource with code {code}", code=code)
    return resource


def view_resource(session: Session, actor: Actor, code: str) -> Resource:
    require(actor, "catalog.read")
    return get_resource(session, code)


def update_resource(
    session: Session, actor: Actor, code: str, changes: dict[str, Any], note: str | None = None
) -> Resource:
    """Apply metadata changes as a new revision (nothing is written if nothing changed)."""
    resource = get_resource(session, code)
    require(actor, "catalog.manage", resource)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(
            "catalog.not_editable", "{field} cannot be changed", field=sorted(unknown)[0]
        )
    merged = {**{k: getattr(resource, k) for k in EDITABLE}, **changes}
    checked = check_metadata(merged)
    changed = [k for k in EDITABLE if checked[k] != getattr(resource, k)]
    if not changed:
        return resource
    if "classification" in changed:
        check_code(resource.code, checked["classification"])
    for name in changed:
        setattr(resource, name, checked[name])
    if "tags" in changed:
        _sync_tags(session, resource)
    search.index_resource(session, resource)
    resource.revision += 1
    resource.updated_at = utcnow()
    resource.updated_by = actor.username
    session.add(
        ResourceRevision(
            resource_id=resource.id,
            revision=resource.revision,
            snapshot=snapshot(resource),
            changed_fields=changed,
            changed_by=actor.username,
            changed_at=resource.updated_at,
            note=note,
        )
    )
    session.flush()
    record_act(
        session,
        actor,
        "catalog.edit",
        resource_code=resource.code,
        provider_org_id=resource.provider_id,
        detail={"revision": resource.revision, "changed": changed},
    )
    return resource


def revisions(session: Session, actor: Actor, code: str) -> list[ResourceRevision]:
    resource = view_resource(session, actor, code)
    stmt = (
        select(ResourceRevision)
        .where(ResourceRevision.resource_id == resource.id)
        .order_by(ResourceRevision.revision.desc())
    )
    return list(session.scalars(stmt))


def versions(session: Session, actor: Actor, code: str) -> list[LakeVersion]:
    resource = view_resource(session, actor, code)
    stmt = (
        select(LakeVersion)
        .where(LakeVersion.resource_id == resource.id)
        .order_by(LakeVersion.version.desc())
    )
    return list(session.scalars(stmt))


FACETS = ("provider", "classification", "sharing_type", "open_type", "grade", "update_cycle")


@dataclass
class CatalogPage:
    items: list[Resource]
    total: int
    facets: dict[str, list[tuple[str, int]]]
    provider_names: dict[str, str] = field(default_factory=dict)  # facet code → name


def browse(
    session: Session,
    actor: Actor,
    *,
    q: str | None = None,
    filters: dict[str, str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> CatalogPage:
    """Filter the catalog and count each facet's values.

    Facets are multi-select: a facet's counts apply every filter except its own, so
    choosing 有条件共享 still shows how many 无条件共享 there are. A text query's matches
    are materialised once in a temporary table, then every count is one GROUP BY in the
    database (nothing per entry crosses into Python)."""
    require(actor, "catalog.read")
    filters = {k: v for k, v in (filters or {}).items() if v and k in (*FACETS, "tag")}
    empty = CatalogPage(items=[], total=0, facets={name: [] for name in (*FACETS, "tag")})
    scores = search.matching(q) if q else None
    if q and scores is None:
        return empty
    conn = session.connection()
    hits = _materialise(conn, scores) if scores is not None else None
    try:
        # Counts run on narrow data: the query's matches copied with their facet columns,
        # or the resources' single-column indexes — never the wide rows with schemas.
        if hits is not None:
            ident, source = hits.c.resource_id, hits

            def col(name: str) -> Any:
                return hits.c["provider_id" if name == "provider" else name]
        else:
            ident, source = Resource.id, Resource.__table__

            def col(name: str) -> Any:
                return Resource.provider_id if name == "provider" else getattr(Resource, name)

        base = select(ident).select_from(source)

        def filtered(stmt: Any, skip: str | None = None) -> Any:
            for name, value in filters.items():
                if name == skip:
                    continue
                if name == "tag":
                    stmt = stmt.where(ident.in_(tagged(value)))
                elif name == "provider":
                    org = select(Organization.id).where(Organization.code == value)
                    stmt = stmt.where(col(name) == org.scalar_subquery())
                else:
                    stmt = stmt.where(col(name) == value)
            return stmt

        facets: dict[str, list[tuple[str, int]]] = {}
        provider_names: dict[str, str] = {}
        for name in FACETS:
            stmt = filtered(base.with_only_columns(col(name), func.count()), skip=name)
            counts = [(v, int(n)) for v, n in conn.execute(stmt.group_by(col(name)))]
            if name == "provider":
                ids = [v for v, _ in counts]
                orgs = conn.execute(
                    select(Organization.id, Organization.code, Organization.name).where(
                        Organization.id.in_(ids)
                    )
                ).all()
                codes = {i: c for i, c, _ in orgs}
                provider_names = {c: n for _, c, n in orgs}
                counts = [(codes[v], n) for v, n in counts]
            facets[name] = sorted(((str(v), n) for v, n in counts), key=lambda x: (-x[1], x[0]))
        tag_stmt = select(ResourceTag.tag, func.count()).group_by(ResourceTag.tag)
        if hits is not None or set(filters) - {"tag"}:
            tag_stmt = tag_stmt.where(
                ResourceTag.resource_id.in_(filtered(base, skip="tag").subquery().select())
            )
        tag_stmt = tag_stmt.order_by(func.count().desc(), ResourceTag.tag).limit(30)
        facets["tag"] = [(str(t), int(n)) for t, n in conn.execute(tag_stmt)]
        everything = filtered(base)
        total = int(conn.execute(everything.with_only_columns(func.count())).scalar() or 0)
        order = (hits.c.score.desc(), hits.c.code) if hits is not None else (Resource.code,)
        page_ids = list(
            conn.execute(everything.order_by(*order).limit(limit).offset(offset)).scalars()
        )
    finally:
        if hits is not None:
            hits.drop(conn)
    loaded = {r.id: r for r in session.scalars(select(Resource).where(Resource.id.in_(page_ids)))}
    return CatalogPage(
        items=[loaded[i] for i in page_ids],
        total=total,
        facets=facets,
        provider_names=provider_names,
    )


def _materialise(conn: Any, scores: Any) -> Table:
    """Copy a text query's matches, with score and facet columns, into a temporary table
    once; every facet count then reads this narrow table."""
    hits = Table(
        f"zh_hits_{uuid.uuid4().hex[:12]}",
        MetaData(),
        Column("resource_id", Integer, primary_key=True),
        Column("score", Integer),
        Column("provider_id", Integer),
        *(Column(name, String(40)) for name in FACETS[1:]),
        Column("code", String(40)),
        prefixes=["TEMPORARY"],
    )
    hits.create(conn)
    matched = scores.subquery()
    rows = select(
        matched.c.resource_id,
        matched.c.score,
        Resource.provider_id,
        *(getattr(Resource, name) for name in FACETS[1:]),
        Resource.code,
    ).join(Resource, Resource.id == matched.c.resource_id)
    conn.execute(insert(hits).from_select([c.name for c in hits.columns], rows))
    return hits


def record_version(
    session: Session,
    resource: Resource,
    *,
    version: int,
    mode: str,
    rows_written: int,
    total_rows: int,
    size: int,
    source: str | None,
    by: str | None,
    quality: dict[str, Any] | None = None,
) -> LakeVersion:
    """Note a committed lake version in the catalog (called after the Delta commit) and
    tell the listeners of :mod:`zhili.catalog.events` (subscriptions), in this transaction."""
    row = LakeVersion(
        resource_id=resource.id,
        version=version,
        mode=mode,
        rows_written=rows_written,
        total_rows=total_rows,
        bytes=size,
        source=source,
        committed_by=by,
        committed_at=utcnow(),
        quality=quality,
    )
    previous = resource.current_version
    session.add(row)
    resource.current_version = version
    session.flush()
    events.version_recorded(session, resource, row, previous)
    return row
