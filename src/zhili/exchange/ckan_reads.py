"""CKAN's ``datastore_search`` and ``datastore_search_sql`` through the one door: the
CKAN request is checked and turned into guarded SQL by :mod:`zhili.catalog.datastore`, and
read, scoped, metered and audited by :mod:`zhili.exchange.door` like every other read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.catalog import datastore
from zhili.errors import InvalidInput
from zhili.exchange import door
from zhili.query import get_engine


def datastore_search(
    session: Session, actor: Actor, *, home: Path, data: dict[str, Any]
) -> dict[str, Any]:
    """CKAN ``datastore_search`` over a resource's current version (see
    :mod:`zhili.catalog.datastore`), through the same scoping as every read."""
    rid = str(data.get("resource_id") or data.get("id") or "")
    if not rid:
        raise InvalidInput("ckan.missing_id", "Missing value: resource_id", field="resource_id")
    fmt = str(data.get("records_format") or "objects")
    if fmt not in datastore.RECORDS_FORMATS:
        raise InvalidInput(
            "datastore.bad_format",
            "records_format must be one of {allowed}",
            field="records_format",
            allowed=", ".join(datastore.RECORDS_FORMATS),
        )
    access = door.open_access(session, actor, rid.removesuffix(door.CKAN_SUFFIX))
    snap = access.snapshot(home)
    schema = snap.files().schema
    hidden = [n for n in snap.base_files().schema.names if n not in schema.names]
    _refuse_hidden_params(data, hidden, access)
    q = datastore.build_query("t", schema, data, access.primary_key)
    engine = get_engine()
    left = access.rows_left(session)
    limit = q.limit if left is None else min(q.limit, left)
    result = engine.sql(q.sql, {"t": snap}, max_rows=max(limit, 1))
    rows = result.rows[:limit]
    total = None
    if q.count_sql is not None:
        total = next(iter(engine.sql(q.count_sql, {"t": snap}).rows[0].values()))
    door.finish(
        session,
        actor,
        access,
        rows=len(rows),
        action="exchange.datastore_search",
        version=snap.version,
        fingerprint=door.fingerprint(rid, sorted(map(str, data.items()))),
    )
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


def _refuse_hidden_params(data: dict[str, Any], hidden: list[str], access: door.Access) -> None:
    """A field outside the scope named in fields, filters, q or sort: say so (403)."""
    named: set[str] = set()
    fields = data.get("fields")
    named |= set(fields.split(",") if isinstance(fields, str) else fields or [])
    for key in ("filters", "q"):
        value = data.get(key)
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if isinstance(value, dict):
            named |= set(value)
    for part in str(data.get("sort") or "").split(","):
        named.add(part.strip().split(" ")[0].strip('"'))
    touched = sorted({n.strip() for n in named} & set(hidden))
    if touched:
        raise door.outside_scope(access, touched[0])


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
    result = door.run_sql(session, actor, home=home, sql=sql, max_rows=datastore.MAX_LIMIT)
    return {
        "sql": sql,
        "fields": [
            {"id": c.name, "type": datastore.ckan_type_of_label(c.type)} for c in result.columns
        ],
        "records": result.rows,
        "records_truncated": result.truncated,
    }
