"""Reading rows of a resource over HTTP until the exchange exists: the provider's own staff
read their data; anyone reads open resources, with personal items masked. The exchange
(next issue) replaces this with the one door that checks grants and audits every read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from zhili.access import Actor, can, require
from zhili.catalog import datastore
from zhili.catalog.loading import existing_table
from zhili.catalog.masking import mask_personal
from zhili.catalog.models import OpenType, Resource
from zhili.catalog.service import get_resource
from zhili.catalog.tableschema import personal_fields
from zhili.errors import Forbidden, InvalidInput
from zhili.query import (
    Page,
    Snapshot,
    SqlResult,
    check_sql,
    export_query,
    get_engine,
    parse_params,
    referenced_tables,
)

OWN_PARAMS = ("version", "format", "bom")


def _open_for(session: Session, actor: Actor, code: str) -> tuple[Resource, bool]:
    """The resource and whether personal items must be masked for this reader."""
    resource = get_resource(session, code)
    if can(actor, "lake.preview", resource):
        return resource, False
    if resource.open_type != OpenType.open:
        require(actor, "lake.preview", resource)
    return resource, True


def _snapshot(home: Path, resource: Resource, version: int | None) -> Snapshot:
    return Snapshot(existing_table(home, resource, version).uri, version).pinned()


def read_rows(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    code: str,
    params: Sequence[tuple[str, str]],
    version: int | None = None,
) -> tuple[Page, int | None]:
    """One keyset page of rows (REST syntax of :mod:`zhili.query.params`)."""
    resource, masked = _open_for(session, actor, code)
    query = parse_params(list(params), other=OWN_PARAMS)
    snap = _snapshot(home, resource, version)
    page = get_engine().query(snap, query, primary_key=resource.table_schema.get("primaryKey"))
    if masked:
        mask_personal(page.rows, resource.table_schema)
    return page, snap.version


def export_rows(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    code: str,
    params: Sequence[tuple[str, str]],
    fmt: str,
    version: int | None = None,
    bom: bool = False,
) -> Iterator[bytes]:
    """The whole result streamed as CSV, JSONL or Parquet. Open resources read by others
    leave out personal items entirely (masking a stream would still show their shape)."""
    resource, masked = _open_for(session, actor, code)
    query = parse_params(list(params), other=OWN_PARAMS)
    if masked:
        hidden = set(personal_fields(resource.table_schema))
        fields = query.fields or tuple(f["name"] for f in resource.table_schema["fields"])
        query = replace(query, fields=tuple(f for f in fields if f not in hidden))
    snap = _snapshot(home, resource, version)
    return export_query(
        get_engine(),
        snap,
        query,
        fmt,  # type: ignore[arg-type]
        primary_key=resource.table_schema.get("primaryKey"),
        bom=bom,
    )


#: A table in SQL is a resource code, or CKAN's resource id ``<code>.data``.
CKAN_SUFFIX = ".data"
MAX_SQL_TABLES = 8


def _resolve_tables(
    session: Session, actor: Actor, home: Path, names: set[str]
) -> dict[str, tuple[Resource, Snapshot, bool]]:
    if len(names) > MAX_SQL_TABLES:
        raise InvalidInput(
            "reading.too_many_tables", "a query may read at most {max} tables",
            field="sql", max=MAX_SQL_TABLES,
        )  # fmt: skip
    out = {}
    for name in sorted(names):
        resource, masked = _open_for(session, actor, name.removesuffix(CKAN_SUFFIX))
        out[name] = (resource, _snapshot(home, resource, None), masked)
    return out


def run_sql(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    sql: str,
    max_rows: int = 10_000,
) -> SqlResult:
    """Guarded read-only SQL over the resources ``actor`` may read (tables named by
    resource code). On open resources read by others, personal items may not appear
    anywhere in the query — not in the result, and not in a WHERE that would probe them."""
    tables = _resolve_tables(session, actor, home, referenced_tables(sql))
    snaps = {name: snap for name, (_, snap, _) in tables.items()}
    checked = check_sql(sql, snaps, {name: s.files().schema for name, s in snaps.items()})
    for name, (resource, _, masked) in tables.items():
        if not masked:
            continue
        touched = sorted(
            checked.columns.get(name, frozenset()) & set(personal_fields(resource.table_schema))
        )
        if touched:
            raise Forbidden(
                "reading.personal_field",
                "{field} of {code} is personal information",
                field=touched[0], code=resource.code,
            )  # fmt: skip
    return get_engine().sql(sql, snaps, max_rows=max_rows)


def datastore_search(
    session: Session, actor: Actor, *, home: Path, data: dict[str, Any]
) -> dict[str, Any]:
    """CKAN ``datastore_search`` over a resource's current version (see
    :mod:`zhili.catalog.datastore`); open resources read by others omit personal items."""
    rid = str(data.get("resource_id") or data.get("id") or "")
    if not rid:
        raise InvalidInput("ckan.missing_id", "Missing value: resource_id", field="resource_id")
    fmt = str(data.get("records_format") or "objects")
    if fmt not in datastore.RECORDS_FORMATS:
        raise InvalidInput(
            "datastore.bad_format", "records_format must be one of {allowed}",
            field="records_format", allowed=", ".join(datastore.RECORDS_FORMATS),
        )  # fmt: skip
    resource, masked = _open_for(session, actor, rid.removesuffix(CKAN_SUFFIX))
    snap = _snapshot(home, resource, None)
    schema = snap.files().schema
    hidden = personal_fields(resource.table_schema) if masked else []
    q = datastore.build_query(
        "t", schema, data, resource.table_schema.get("primaryKey") or (), hidden
    )
    engine = get_engine()
    result = engine.sql(q.sql, {"t": snap}, max_rows=max(q.limit, 1))
    rows = result.rows if q.limit else []
    total = None
    if q.count_sql is not None:
        total = next(iter(engine.sql(q.count_sql, {"t": snap}).rows[0].values()))
    types = {f.name: datastore.ckan_type(f.type) for f in schema}
    return {
        "resource_id": rid,
        "fields": [{"id": f, "type": types[f]} for f in q.fields],
        "records": datastore.format_records(rows, q.fields, fmt),
        "records_format": fmt,
        "limit": q.limit,
        "offset": q.offset,
        "total": total,
        "total_was_estimated": False,
        "_links": _links(rid, q.limit, q.offset),
    }


def _links(rid: str, limit: int, offset: int) -> dict[str, str]:
    base = f"/api/3/action/datastore_search?resource_id={rid}&limit={limit}"
    return {"start": base, "next": f"{base}&offset={offset + limit}"}


def datastore_search_sql(
    session: Session, actor: Actor, *, home: Path, data: dict[str, Any]
) -> dict[str, Any]:
    """CKAN ``datastore_search_sql``: ``sql`` reads tables named by resource id."""
    sql = data.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidInput("ckan.missing_sql", "Missing value: sql", field="sql")
    result = run_sql(session, actor, home=home, sql=sql, max_rows=datastore.MAX_LIMIT)
    return {
        "sql": sql,
        "fields": [
            {"id": c.name, "type": datastore.ckan_type_of_label(c.type)} for c in result.columns
        ],
        "records": result.rows,
        "records_truncated": result.truncated,
    }
