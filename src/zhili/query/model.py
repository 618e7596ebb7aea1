"""The query model: which fields, which rows, in what order, one keyset page at a time.

This is everything a consumer can ask of a table without writing SQL, and it is
deliberately small: the exchange rewrites a :class:`Query` to a grant's fields and rows
(intersect ``fields``, append ``filters``) before it reaches an engine, which is only
possible because the model is plain data rather than SQL text.

Filter operators (``Filter.op``) and the value each takes:

=========  =========================  ===================================================
op         value                      meaning
=========  =========================  ===================================================
eq, ne     one value                  ``=``, ``<>`` (SQL semantics: ``ne`` never matches NULL)
lt, le     one value                  ``<``, ``<=``
gt, ge     one value                  ``>``, ``>=``
in         1..1000 values             ``IN (...)``
not_in     1..1000 values             ``NOT IN (...)`` (never matches NULL)
between    two values ``(lo, hi)``    ``BETWEEN lo AND hi`` (both ends included)
like       a pattern (text columns)   SQL ``LIKE``: ``%`` any run, ``_`` one character,
                                      ``\\`` escapes the next character (``\\%`` is a "%")
is_null    none                       ``IS NULL``
not_null   none                       ``IS NOT NULL``
=========  =========================  ===================================================

Values may be text (as they arrive from a URL) or Python values; :func:`validate_query`
types them for the column (see :mod:`zhili.query.coerce`). Sorting puts NULLs last in
ascending order and first in descending order (NULL is "the largest value"), on every
engine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import pyarrow as pa

from zhili.errors import InvalidInput
from zhili.query.coerce import coerce_value, is_orderable, is_text, type_label
from zhili.query.cursor import Cursor
from zhili.query.messages import invalid

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_FILTERS",
    "MAX_LIMIT",
    "MAX_LIST_VALUES",
    "OPS",
    "Filter",
    "Op",
    "Query",
    "SortKey",
    "validate_query",
]

Op = Literal[
    "eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "between", "like", "is_null", "not_null"
]
OPS: tuple[str, ...] = get_args(Op)
SINGLE_OPS = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "like"})
LIST_OPS = frozenset({"in", "not_in"})
NULL_OPS = frozenset({"is_null", "not_null"})

#: Rows per page when the caller does not say.
DEFAULT_LIMIT = 100
#: Largest page: a bigger read is an export, which streams.
MAX_LIMIT = 10_000
#: Most filters in one query, and most values in one ``in`` list: bounds the SQL we build.
MAX_FILTERS = 64
MAX_LIST_VALUES = 1000


@dataclass(frozen=True)
class Filter:
    """One condition on one field; conditions of a query are ANDed."""

    field: str
    op: Op
    value: Any = None


@dataclass(frozen=True)
class SortKey:
    field: str
    desc: bool = False


@dataclass(frozen=True)
class Query:
    """What to read from one table. ``fields=None`` means every column, in table order.

    ``after`` continues from the page that returned it; ``with_total`` also counts every
    matching row (an extra scan, so only on request).
    """

    fields: tuple[str, ...] | None = None
    filters: tuple[Filter, ...] = ()
    sort: tuple[SortKey, ...] = ()
    limit: int = DEFAULT_LIMIT
    after: Cursor | None = None
    with_total: bool = False

    def __post_init__(self) -> None:
        # Accept lists from callers; keep tuples so a Query is immutable and hashable.
        if self.fields is not None and not isinstance(self.fields, tuple):
            object.__setattr__(self, "fields", tuple(self.fields))
        if not isinstance(self.filters, tuple):
            object.__setattr__(self, "filters", tuple(self.filters))
        if not isinstance(self.sort, tuple):
            object.__setattr__(self, "sort", tuple(self.sort))


def _unknown(name: str, where: str) -> InvalidInput:
    return invalid(
        "query.unknown_field",
        field=name,
        parameter=where,
    )


def _column(schema: pa.Schema, name: str, where: str) -> pa.Field:
    index = schema.get_field_index(name)
    if index < 0:
        raise _unknown(name, where)
    return schema.field(index)


def _check_orderable(column: pa.Field, what: str) -> None:
    if not is_orderable(column.type):
        raise invalid(
            "query.unsupported_type",
            field=column.name,
            type=type_label(column.type),
            parameter=what,
        )


def _values(f: Filter) -> list[Any]:
    """The filter's value as a list of scalars, checking how many the operator takes."""
    if f.op in NULL_OPS:
        if f.value not in (None, "", [], ()):
            raise invalid("query.filter_values", field=f.field, op=f.op, expected="0", count=1)
        return []
    if f.op in SINGLE_OPS:
        if isinstance(f.value, list | tuple | set | frozenset):
            raise invalid(
                "query.filter_values", field=f.field, op=f.op, expected="1", count=len(f.value)
            )
        if f.value is None:
            raise invalid("query.filter_null", field=f.field, op=f.op)
        return [f.value]
    values = list(f.value) if isinstance(f.value, list | tuple | set | frozenset) else [f.value]
    if f.op == "between" and len(values) != 2:
        raise invalid(
            "query.filter_values", field=f.field, op=f.op, expected="2", count=len(values)
        )
    if f.op in LIST_OPS and not 1 <= len(values) <= MAX_LIST_VALUES:
        raise invalid(
            "query.filter_values",
            field=f.field,
            op=f.op,
            expected=f"1-{MAX_LIST_VALUES}",
            count=len(values),
        )
    if any(v is None for v in values):
        raise invalid("query.filter_null", field=f.field, op=f.op)
    return values


def _typed_filter(f: Filter, schema: pa.Schema) -> Filter:
    if f.op not in OPS:
        raise invalid(
            "query.bad_operator",
            field=f.field,
            op=f.op,
            allowed=", ".join(OPS),
        )
    column = _column(schema, f.field, "filter")
    if f.op in NULL_OPS:
        _values(f)
        return Filter(f.field, f.op, None)
    _check_orderable(column, "filter")
    if f.op == "like" and not is_text(column.type):
        raise invalid("query.like_needs_text", field=f.field, type=type_label(column.type))
    typed = [coerce_value(v, column.type, field=f.field) for v in _values(f)]
    if f.op in SINGLE_OPS:
        return Filter(f.field, f.op, typed[0])
    return Filter(f.field, f.op, tuple(typed))


def validate_query(query: Query, schema: pa.Schema, *, max_limit: int = MAX_LIMIT) -> Query:
    """Check ``query`` against a table's columns and return it with typed filter values.

    Raises:
        InvalidInput: naming the field, operator or value at fault (``query.unknown_field``,
            ``query.bad_operator``, ``query.filter_values``, ``query.filter_null``,
            ``query.like_needs_text``, ``query.bad_value``,
            ``query.unsupported_type``, ``query.duplicate_sort``, ``query.bad_limit``,
            ``query.too_many_filters``).
    """
    fields = None
    if query.fields is not None:
        if not query.fields:
            raise invalid("query.no_fields")
        for name in query.fields:
            _column(schema, name, "fields")
        fields = tuple(dict.fromkeys(query.fields))
    if len(query.filters) > MAX_FILTERS:
        raise invalid(
            "query.too_many_filters",
            parameter="filter",
            max=MAX_FILTERS,
            count=len(query.filters),
        )
    filters = tuple(_typed_filter(f, schema) for f in query.filters)
    seen: set[str] = set()
    for key in query.sort:
        _check_orderable(_column(schema, key.field, "sort"), "sort")
        if key.field in seen:
            raise invalid(
                "query.duplicate_sort",
                field=key.field,
                parameter="sort",
            )
        seen.add(key.field)
    limit = query.limit
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= max_limit:
        raise invalid(
            "query.bad_limit",
            parameter="limit",
            value=repr(limit),
            max=max_limit,
        )
    return replace(query, fields=fields, filters=filters)
