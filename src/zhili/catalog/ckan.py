"""The catalog in CKAN's shapes (Action API v3), so CKAN clients and harvesters work
against zhili unchanged.

Mapping: a CKAN *package* (dataset) is a catalog resource, named by its resource code;
its CKAN *organization* is the provider (name = lower-cased organization code); each
package has one CKAN *resource* — the resource's current table, id ``<code>.data``, which
the datastore actions read. Anonymous callers see published (open) resources only;
signed-in callers see the whole catalog's metadata.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.access import Actor, can
from zhili.catalog import search, service
from zhili.catalog.models import OpenType, Resource
from zhili.errors import InvalidInput, NotFound
from zhili.identity.models import Organization

CKAN_VERSION = "2.10.4"
FQ_FIELDS = {
    "organization": "provider",
    "tags": "tag",
    "sharing_type": "sharing_type",
    "open_type": "open_type",
    "classification": "classification",
    "grade": "grade",
    "update_cycle": "update_cycle",
}
SORTS = {
    "name": Resource.code,
    "title": Resource.name,
    "metadata_modified": Resource.updated_at,
    "metadata_created": Resource.created_at,
}
_FQ_TERM = re.compile(r'(\+?-?)([a-z_]+):(?:"([^"]*)"|(\S+))')


def _visible(stmt, actor: Actor):
    if can(actor, "catalog.read"):
        return stmt
    return stmt.where(Resource.open_type.in_([OpenType.open, OpenType.conditional]))


def org_name(org: Organization) -> str:
    return org.code.lower()


def organization_dict(org: Organization, count: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": org_name(org),
        "name": org_name(org),
        "title": org.name,
        "display_name": org.name,
        "description": org.name_en or "",
        "type": "organization",
        "is_organization": True,
        "state": "active",
        "approval_status": "approved",
        "created": org.created_at.isoformat(),
        "image_url": "",
    }
    if count is not None:
        out["package_count"] = count
    return out


def resource_dict(r: Resource, base_url: str) -> dict[str, Any]:
    return {
        "id": f"{r.code}.data",
        "package_id": r.code,
        "name": r.name,
        "description": "Current version of the table",
        "format": "CSV",
        "url": f"{base_url}/api/v1/catalog/{r.code}/datapackage",
        "datastore_active": r.current_version is not None,
        "state": "active",
        "position": 0,
        "created": r.created_at.isoformat(),
        "last_modified": r.updated_at.isoformat(),
        "schema": r.table_schema,
    }


def package_dict(r: Resource, base_url: str) -> dict[str, Any]:
    extras = {
        "resource_code": r.code,
        "classification": r.classification,
        "sharing_type": r.sharing_type,
        "sharing_conditions": r.sharing_conditions or "",
        "open_type": r.open_type,
        "update_cycle": r.update_cycle,
        "grade": r.grade,
        "current_version": "" if r.current_version is None else str(r.current_version),
    }
    return {
        "id": r.code,
        "name": r.code,
        "title": r.name,
        "notes": r.summary,
        "type": "dataset",
        "state": "active",
        "private": r.open_type == OpenType.closed,
        "url": f"{base_url}/catalog/{r.code}",
        "license_id": "notspecified",
        "metadata_created": r.created_at.isoformat(),
        "metadata_modified": r.updated_at.isoformat(),
        "organization": organization_dict(r.provider),
        "owner_org": org_name(r.provider),
        "tags": [{"name": t, "display_name": t, "state": "active"} for t in r.tags],
        "num_tags": len(r.tags),
        "resources": [resource_dict(r, base_url)],
        "num_resources": 1,
        "extras": [{"key": k, "value": v} for k, v in extras.items()],
        "title_translated": {"zh": r.name, "en": r.name_en or ""},
    }


def _get(session: Session, actor: Actor, name: str) -> Resource:
    stmt = _visible(select(Resource).where(Resource.code == name), actor)
    resource = session.scalar(stmt)
    if resource is None:
        raise NotFound("ckan.not_found", "Not found: {id}", id=name)
    return resource


def package_list(session: Session, actor: Actor, limit: int | None, offset: int) -> list[str]:
    stmt = _visible(select(Resource.code), actor).order_by(Resource.code).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def package_show(session: Session, actor: Actor, name: str, base_url: str) -> dict[str, Any]:
    return package_dict(_get(session, actor, name), base_url)


def resource_show(session: Session, actor: Actor, rid: str, base_url: str) -> dict[str, Any]:
    return resource_dict(_get(session, actor, rid.removesuffix(".data")), base_url)


def parse_fq(fq: str) -> dict[str, str]:
    """Solr-style ``field:value`` filters (``organization:x tags:"y z"``) → our filters."""
    out: dict[str, str] = {}
    rest = fq
    for match in _FQ_TERM.finditer(fq):
        sign, field, quoted, bare = match.groups()
        if "-" in sign:
            raise InvalidInput("ckan.fq_negation", "negated fq terms are not supported", field="fq")
        if field not in FQ_FIELDS:
            raise InvalidInput(
                "ckan.fq_field",
                "fq field {value!r} is not supported; use one of {valid}",
                field="fq",
                value=field,
                valid=", ".join(FQ_FIELDS),
            )
        out[FQ_FIELDS[field]] = (quoted if quoted is not None else bare).strip()
        rest = rest.replace(match.group(0), " ")
    if rest.replace("AND", " ").strip():
        raise InvalidInput("ckan.fq_syntax", "cannot read fq {value!r}", field="fq", value=fq)
    return out


def package_search(
    session: Session,
    actor: Actor,
    *,
    q: str = "",
    fq: str = "",
    rows: int = 10,
    start: int = 0,
    sort: str = "",
    facet_fields: list[str] | None = None,
    base_url: str,
) -> dict[str, Any]:
    filters = parse_fq(fq) if fq else {}
    if org := filters.get("provider"):
        filters["provider"] = org.upper()
    stmt = _visible(select(Resource), actor).join(
        Organization, Resource.provider_id == Organization.id
    )
    ranked = None
    query = "" if q.strip() in ("", "*:*") else q
    if query:
        scores = search.matching(query)
        if scores is None:
            return _empty(sort)
        ranked = scores.subquery()
        stmt = stmt.join(ranked, ranked.c.resource_id == Resource.id)
    for name, value in filters.items():
        if name == "tag":
            stmt = stmt.where(Resource.id.in_(service.tagged(value)))
        elif name == "provider":
            stmt = stmt.where(Organization.code == value)
        else:
            stmt = stmt.where(getattr(Resource, name) == value)
    count = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = _order(sort, ranked)
    rows_ = session.scalars(stmt.order_by(*order).limit(rows).offset(start))
    results = [package_dict(r, base_url) for r in rows_]
    facets: dict[str, dict[str, int]] = {}
    search_facets: dict[str, Any] = {}
    for field in facet_fields or []:
        counts = _facet(session, stmt, field)
        facets[field] = counts
        search_facets[field] = {
            "title": field,
            "items": [{"name": k, "display_name": k, "count": n} for k, n in counts.items()],
        }
    return {
        "count": count,
        "results": results,
        "sort": sort or "score desc, metadata_modified desc",
        "facets": facets,
        "search_facets": search_facets,
    }


def _empty(sort: str) -> dict[str, Any]:
    return {"count": 0, "results": [], "sort": sort, "facets": {}, "search_facets": {}}


def _order(sort: str, ranked: Any) -> list[Any]:
    if not sort:
        return [ranked.c.score.desc(), Resource.code] if ranked is not None else [Resource.code]
    out = []
    for part in sort.split(","):
        bits = part.split()
        name = bits[0] if bits else ""
        desc = len(bits) > 1 and bits[1].lower() == "desc"
        if name == "score":
            if ranked is not None:
                out.append(ranked.c.score.desc() if desc else ranked.c.score)
            continue
        if name not in SORTS:
            raise InvalidInput("ckan.sort", "cannot sort by {value!r}", field="sort", value=name)
        out.append(SORTS[name].desc() if desc else SORTS[name])
    return [*out, Resource.code]


def _facet(session: Session, stmt: Any, field: str) -> dict[str, int]:
    sub = stmt.subquery()
    if field == "tags":
        from zhili.catalog.models import ResourceTag

        q = (
            select(ResourceTag.tag, func.count())
            .where(ResourceTag.resource_id.in_(select(sub.c.id)))
            .group_by(ResourceTag.tag)
        )
    elif field == "organization":
        q = (
            select(func.lower(Organization.code), func.count())
            .join(sub, sub.c.provider_id == Organization.id)
            .group_by(Organization.code)
        )
    elif field in FQ_FIELDS and field not in ("tags", "organization"):
        col = sub.c[FQ_FIELDS[field]]
        q = select(col, func.count()).group_by(col)
    else:
        raise InvalidInput(
            "ckan.facet_field", "cannot facet on {value!r}", field="facet.field", value=field
        )
    return {str(k): int(n) for k, n in session.execute(q)}


def organization_list(session: Session, actor: Actor, all_fields: bool) -> list[Any]:
    stmt = (
        _visible(select(Organization, func.count(Resource.id)), actor)
        .join(Resource, Resource.provider_id == Organization.id)
        .group_by(Organization.id)
        .order_by(Organization.code)
    )
    rows = session.execute(stmt).all()
    if all_fields:
        return [organization_dict(org, n) for org, n in rows]
    return [org_name(org) for org, _ in rows]


def organization_show(
    session: Session, actor: Actor, name: str, include_datasets: bool, base_url: str
) -> dict[str, Any]:
    org = session.scalar(select(Organization).where(func.lower(Organization.code) == name.lower()))
    if org is None:
        raise NotFound("ckan.not_found", "Not found: {id}", id=name)
    packages = list(
        session.scalars(
            _visible(select(Resource).where(Resource.provider_id == org.id), actor).order_by(
                Resource.code
            )
        )
    )
    out = organization_dict(org, len(packages))
    if include_datasets:
        out["packages"] = [package_dict(r, base_url) for r in packages]
    return out


def facet_list(value: Any) -> list[str]:
    """``facet.field`` arrives as a JSON-encoded list (GET) or a list (POST)."""
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            "ckan.facet_field", "facet.field must be a JSON list", field="facet.field", value=value
        ) from None
    if not isinstance(parsed, list):
        raise InvalidInput(
            "ckan.facet_field", "facet.field must be a JSON list", field="facet.field", value=value
        )
    return [str(v) for v in parsed]
