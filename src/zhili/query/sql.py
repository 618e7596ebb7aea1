"""Pure SQL builders for the query model: text plus bound parameters, no database.

Every value travels as a ``$n`` parameter; only identifiers (quoted here) and integers we
computed (``LIMIT``) are written into the text. The SQL is DuckDB's dialect; engines with
another dialect transpile it (:mod:`zhili.query.dialect`).

Keyset pagination, never ``OFFSET``: the sort is made total by appending the primary key
(or, for a table without one, every column), and the next page starts strictly after the
last row of the previous one. With one direction and non-NULL keys that is a row-value
comparison ``(a, b) > ($1, $2)``; otherwise it is expanded into the equivalent OR-chain,
which also places NULLs where the ORDER BY puts them (last ascending, first descending).
A redundant bound on the leading key (``a >= $1``) is added because a plain comparison is
what the parquet reader can check against row-group statistics to skip data.

Without a primary key a sort can have exact ties; then the condition is "not before the
last row" and the engine skips the ``ties`` rows the cursor says were already returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pyarrow as pa

from zhili.errors import InvalidInput
from zhili.query.coerce import coerce_value
from zhili.query.cursor import bad_cursor, sort_fingerprint
from zhili.query.messages import invalid
from zhili.query.model import OPS, Filter, Query, SortKey

__all__ = [
    "KEY_PREFIX",
    "Sql",
    "count_sql",
    "export_sql",
    "key_alias",
    "quote_ident",
    "select_sql",
    "total_sort",
]

#: Prefix of the extra columns a page query returns: the sort keys of each row, from which
#: the engine builds the next cursor (and which it drops from the rows it returns).
KEY_PREFIX = "__zhili_k"

_COMPARE = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class Sql(NamedTuple):
    """A statement and its parameter values, in ``$n`` order."""

    text: str
    params: list[Any]


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (a ``"`` inside is doubled)."""
    if "\x00" in name:
        raise invalid("query.bad_name", name=repr(name))
    return '"' + name.replace('"', '""') + '"'


def key_alias(index: int) -> str:
    return f"{KEY_PREFIX}{index}"


class _Params:
    """Collects values and hands out their ``$n`` placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _check_key(columns: pa.Schema, primary_key: Sequence[str]) -> None:
    for name in primary_key:
        if columns.get_field_index(name) < 0:
            raise invalid(
                "query.unknown_field",
                field=name,
                parameter="primary_key",
            )


def total_sort(
    sort: Sequence[SortKey], columns: pa.Schema, primary_key: Sequence[str] | None
) -> tuple[SortKey, ...]:
    """``sort`` plus the primary key (or every column when there is none), ascending."""
    tie_breakers = list(primary_key) if primary_key else list(columns.names)
    _check_key(columns, tie_breakers)
    used = {k.field for k in sort}
    return (*sort, *(SortKey(name) for name in tie_breakers if name not in used))


def _condition(f: Filter, p: _Params) -> str:
    col = quote_ident(f.field)
    if f.op in _COMPARE:
        return f"{col} {_COMPARE[f.op]} {p.add(f.value)}"
    if f.op in ("in", "not_in"):
        items = ", ".join(p.add(v) for v in f.value)
        return f"{col} {'IN' if f.op == 'in' else 'NOT IN'} ({items})"
    if f.op == "between":
        low, high = f.value
        return f"{col} BETWEEN {p.add(low)} AND {p.add(high)}"
    if f.op == "like":
        return f"{col} LIKE {p.add(f.value)} ESCAPE '\\'"
    if f.op == "is_null":
        return f"{col} IS NULL"
    if f.op == "not_null":
        return f"{col} IS NOT NULL"
    raise invalid("query.bad_operator", op=f.op, field=f.field, allowed=", ".join(OPS))


def _filters(query: Query, p: _Params) -> list[str]:
    return [_condition(f, p) for f in query.filters]


def _order_by(keys: Sequence[SortKey]) -> str:
    return ", ".join(
        f"{quote_ident(k.field)} {'DESC NULLS FIRST' if k.desc else 'ASC NULLS LAST'}" for k in keys
    )


@dataclass(frozen=True)
class _Key:
    """One sort key with the cursor's value for it, already typed."""

    col: str
    desc: bool
    nullable: bool
    value: Any
    placeholder: str | None  # None when the value is NULL


def _cursor_keys(
    query: Query, keys: Sequence[SortKey], columns: pa.Schema, unique: set[str], p: _Params
) -> list[_Key]:
    assert query.after is not None
    query.after.check(sort_fingerprint([(k.field, k.desc) for k in keys]))
    if len(query.after.values) != len(keys):
        raise bad_cursor("it holds the wrong number of values")
    out = []
    for key, raw in zip(keys, query.after.values, strict=True):
        column = columns.field(key.field)
        try:
            value = coerce_value(raw, column.type, field=key.field)
        except InvalidInput:
            raise bad_cursor(f"bad value for {key.field}") from None
        nullable = column.nullable and key.field not in unique
        if value is None and not nullable:
            raise bad_cursor(f"NULL for {key.field}")
        placeholder = None if value is None else p.add(value)
        out.append(_Key(quote_ident(key.field), key.desc, nullable, value, placeholder))
    return out


def _equal(k: _Key) -> str:
    return f"{k.col} IS NULL" if k.placeholder is None else f"{k.col} = {k.placeholder}"


def _later(k: _Key) -> str | None:
    """Rows strictly after ``k.value`` in this key's order (None: there are none)."""
    if k.desc:  # NULLs first: after a NULL come all values; after a value, smaller ones
        return f"{k.col} IS NOT NULL" if k.placeholder is None else f"{k.col} < {k.placeholder}"
    if k.placeholder is None:  # ascending, NULLs last: nothing after a NULL
        return None
    if k.nullable:
        return f"({k.col} > {k.placeholder} OR {k.col} IS NULL)"
    return f"{k.col} > {k.placeholder}"


def _leading_bound(k: _Key) -> str | None:
    """A plain bound on the first key that the OR-chain implies, for row-group pruning."""
    if k.placeholder is None:
        return None
    if k.desc:
        return f"{k.col} <= {k.placeholder}"
    if k.nullable:
        return f"({k.col} >= {k.placeholder} OR {k.col} IS NULL)"
    return f"{k.col} >= {k.placeholder}"


def _after(keys: list[_Key], strict: bool) -> list[str]:
    """Conditions selecting the rows after (``strict``) or not before the cursor."""
    same_direction = len({k.desc for k in keys}) == 1
    if strict and same_direction and not any(k.nullable or k.placeholder is None for k in keys):
        op = "<" if keys[0].desc else ">"
        if len(keys) == 1:
            return [f"{keys[0].col} {op} {keys[0].placeholder}"]
        left = ", ".join(k.col for k in keys)
        right = ", ".join(str(k.placeholder) for k in keys)
        bound = _leading_bound(keys[0])
        return [c for c in (bound, f"({left}) {op} ({right})") if c]
    terms: list[list[str]] = []
    for i, key in enumerate(keys):
        later = _later(key)
        if later is not None:
            terms.append([*(_equal(k) for k in keys[:i]), later])
    if not strict:
        terms.append([_equal(k) for k in keys])
    if not terms:
        return ["FALSE"]
    chain = " OR ".join("(" + " AND ".join(t) + ")" for t in terms)
    bound = _leading_bound(keys[0]) if len(keys) > 1 else None
    return [c for c in (bound, f"({chain})") if c]


def _projection(query: Query, columns: pa.Schema) -> list[str]:
    names = list(query.fields) if query.fields is not None else list(columns.names)
    return [quote_ident(n) for n in names]


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def select_sql(
    table_ref: str,
    query: Query,
    columns: pa.Schema,
    primary_key: Sequence[str] | None = None,
    *,
    window: Any = None,
) -> Sql:
    """One keyset page of ``query`` from the relation named ``table_ref``.

    The statement returns the requested fields, then one column per key of the total sort
    (``__zhili_k0``, ...), and ``limit + 1`` rows (plus the cursor's ties) so the caller
    can tell whether there is a next page. ``query`` must be validated.

    ``window`` bounds the leading sort key (``>=`` when it sorts descending, ``<=``
    ascending); see :mod:`zhili.query.window` for when that is safe.

    Raises:
        InvalidInput: ``query.bad_cursor`` when ``query.after`` belongs to another sort.
    """
    p = _Params()
    keys = total_sort(query.sort, columns, primary_key)
    select = [*_projection(query, columns)]
    select += [f"{quote_ident(k.field)} AS {quote_ident(key_alias(i))}" for i, k in enumerate(keys)]
    conditions = _filters(query, p)
    ties = 0
    if query.after is not None:
        unique = set(primary_key or ())
        cursor_keys = _cursor_keys(query, keys, columns, unique, p)
        conditions += _after(cursor_keys, strict=bool(primary_key))
        ties = 0 if primary_key else query.after.ties
    if window is not None:
        lead = keys[0]
        op = ">=" if lead.desc else "<="
        conditions.append(f"{quote_ident(lead.field)} {op} {p.add(window)}")
    text = (
        f"SELECT {', '.join(select)} FROM {quote_ident(table_ref)}{_where(conditions)}"
        f" ORDER BY {_order_by(keys)} LIMIT {int(query.limit) + 1 + int(ties)}"
    )
    return Sql(text, p.values)


def count_sql(table_ref: str, query: Query) -> Sql:
    """The exact number of rows matching ``query``'s filters (cursor and limit ignored)."""
    p = _Params()
    where = _where(_filters(query, p))
    return Sql(f'SELECT count(*) AS "count" FROM {quote_ident(table_ref)}{where}', p.values)


def export_sql(
    table_ref: str,
    query: Query,
    columns: pa.Schema,
    primary_key: Sequence[str] | None = None,
) -> Sql:
    """Every row matching ``query``, for streaming out: no limit, no cursor.

    Rows are sorted only when the query asks for a sort (made total with the key); an
    unsorted export streams in storage order, which needs no memory for sorting.
    """
    if query.after is not None:
        raise invalid(
            "query.export_after",
            parameter="after",
        )
    p = _Params()
    text = (
        f"SELECT {', '.join(_projection(query, columns))} FROM {quote_ident(table_ref)}"
        f"{_where(_filters(query, p))}"
    )
    if query.sort:
        text += f" ORDER BY {_order_by(total_sort(query.sort, columns, primary_key))}"
    return Sql(text, p.values)
