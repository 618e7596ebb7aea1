"""CKAN ``datastore_search`` parameters as guarded SQL, and CKAN's record formats.

CKAN clients page the datastore with ``limit``/``offset`` and search it with ``q``, which
the keyset REST query model deliberately lacks; so a datastore search becomes one SELECT
built as a sqlglot tree (values are literals, names quoted identifiers — no text is
spliced) and runs through the same SQL guard and engine as ``datastore_search_sql``.
``q`` is a case-insensitive substring match over the text fields (CKAN's own full-text
search needs PostgreSQL's tsvector, which a Delta table has not).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.types as pat
from sqlglot import exp

from zhili.errors import InvalidInput
from zhili.query.coerce import coerce_value, is_text

#: CKAN's datastore_search default and maximum page size.
DEFAULT_LIMIT = 100
MAX_LIMIT = 32_000
RECORDS_FORMATS = ("objects", "lists", "csv", "tsv")


def ckan_type_of_label(label: str) -> str:
    """The datastore type for an Arrow type label (``int64``, ``timestamp[us]`` …)."""
    for prefix, name in LABELS:
        if label.startswith(prefix):
            return name
    return "text"


LABELS = (
    ("int", "int"), ("uint", "int"), ("float", "float"), ("double", "float"),
    ("halffloat", "float"), ("decimal", "numeric"), ("bool", "bool"), ("date", "date"),
    ("timestamp", "timestamp"), ("time", "time"),
)  # fmt: skip


def ckan_type(type_: pa.DataType) -> str:
    """The datastore type name CKAN clients expect for an Arrow type."""
    if pat.is_integer(type_):
        return "int"
    if pat.is_floating(type_):
        return "float"
    if pat.is_decimal(type_):
        return "numeric"
    if pat.is_boolean(type_):
        return "bool"
    if pat.is_date(type_):
        return "date"
    if pat.is_timestamp(type_):
        return "timestamp"
    if pat.is_time(type_):
        return "time"
    return "text"


@dataclass(frozen=True)
class DatastoreQuery:
    """A datastore search over one table, as SQL for the guard (table named ``table``)."""

    sql: str
    count_sql: str | None
    fields: list[str]
    limit: int
    offset: int


def _bad(field: str, message: str, **params: Any) -> InvalidInput:
    return InvalidInput(f"datastore.{message}", message, field=field, **params)


def _as_list(value: Any, name: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise _bad(name, "bad_list")


def _as_dict(value: Any, name: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _bad(name, "bad_json") from None
    if not isinstance(value, dict):
        raise _bad(name, "bad_json")
    return value


def _int(data: Mapping[str, Any], name: str, default: int, maximum: int) -> int:
    raw = data.get(name, default)
    try:
        number = int(raw)
    except (TypeError, ValueError):
        raise _bad(name, "bad_int", max=maximum) from None
    if not 0 <= number <= maximum:
        raise _bad(name, "bad_int", max=maximum)
    return number


def _column(schema: pa.Schema, name: str, param: str) -> exp.Column:
    if name not in schema.names:
        raise _bad(param, "unknown_field", name=name)
    return exp.column(name, quoted=True)


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(value.isoformat() if hasattr(value, "isoformat") else str(value))


def _filters(schema: pa.Schema, filters: dict[str, Any]) -> list[exp.Expression]:
    out: list[exp.Expression] = []
    for name, wanted in filters.items():
        column = _column(schema, name, "filters")
        type_ = schema.field(name).type
        values = wanted if isinstance(wanted, list) else [wanted]
        if not values:
            raise _bad("filters", "bad_filter", name=name)
        typed = [_literal(coerce_value(v, type_, field=name)) for v in values]
        out.append(column.eq(typed[0]) if len(typed) == 1 else column.isin(*typed))
    return out


def _search(schema: pa.Schema, q: Any) -> list[exp.Expression]:
    """``q`` as text (any text field contains it) or ``{field: text}`` (each contains)."""
    if q is None or q == "":
        return []
    if isinstance(q, str) and q.lstrip().startswith("{"):
        q = _as_dict(q, "q")
    if isinstance(q, dict):
        return [_contains(_column(schema, k, "q"), str(v)) for k, v in q.items()]
    text_fields = [f.name for f in schema if is_text(f.type)]
    if not text_fields:
        raise _bad("q", "no_text_fields")
    return [exp.or_(*(_contains(exp.column(n, quoted=True), str(q)) for n in text_fields))]


def _contains(column: exp.Column, text: str) -> exp.Expression:
    """``column ILIKE '%text%' ESCAPE '\\'`` with ``%``, ``_`` and ``\\`` in text literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = exp.ILike(this=column, expression=exp.Literal.string(f"%{escaped}%"))
    return exp.Escape(this=pattern, expression=exp.Literal.string("\\"))


def _sort(schema: pa.Schema, sort: str) -> list[exp.Ordered]:
    keys: list[exp.Ordered] = []
    for part in (p.strip() for p in sort.split(",") if p.strip()):
        name, _, direction = part.partition(" ")
        name = name.strip('"')
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            raise _bad("sort", "bad_sort", value=part)
        desc = direction == "desc"
        keys.append(exp.Ordered(this=_column(schema, name, "sort"), desc=desc, nulls_first=desc))
    return keys


def build_query(
    table: str,
    schema: pa.Schema,
    data: Mapping[str, Any],
    primary_key: Sequence[str] = (),
    hidden: Sequence[str] = (),
) -> DatastoreQuery:
    """Translate CKAN's parameters into SQL over ``table``; ``hidden`` fields (personal
    items of an open resource) are neither returned nor searchable."""
    visible = pa.schema([f for f in schema if f.name not in set(hidden)])
    fields = _as_list(data.get("fields"), "fields") or visible.names
    columns = [_column(visible, name, "fields") for name in fields]
    where = _filters(visible, _as_dict(data.get("filters"), "filters")) + _search(
        visible, data.get("q")
    )
    limit = _int(data, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    offset = _int(data, "offset", 0, 10**9)
    ordered = _sort(visible, str(data.get("sort") or ""))
    named = {o.this.name for o in ordered}
    ties = list(primary_key) or visible.names  # offset paging needs a total order
    ordered += [exp.Ordered(this=exp.column(k, quoted=True)) for k in ties if k not in named]
    source = exp.Table(this=exp.to_identifier(table, quoted=True))
    select = exp.select(*columns).from_(source)
    if where:
        select = select.where(exp.and_(*where))
    count = exp.select(exp.Count(this=exp.Star())).from_(source)
    if where:
        count = count.where(exp.and_(*where))
    select = select.order_by(*ordered).limit(limit).offset(offset)
    include_total = str(data.get("include_total", "true")).lower() not in ("false", "0", "no")
    return DatastoreQuery(
        select.sql(dialect="duckdb"),
        count.sql(dialect="duckdb") if include_total else None,
        fields,
        limit,
        offset,
    )


def format_records(rows: list[dict[str, Any]], fields: Sequence[str], fmt: str) -> Any:
    """Rows in CKAN's ``records_format``: objects, lists, or CSV/TSV text without header."""
    if fmt == "objects":
        return rows
    if fmt == "lists":
        return [[row.get(f) for f in fields] for row in rows]
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
    for row in rows:
        writer.writerow(["" if row.get(f) is None else row.get(f) for f in fields])
    return out.getvalue()
