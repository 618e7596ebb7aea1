"""Row filters of grants, from tree to use: checked against a resource's Table Schema,
written back as canonical text to store, compiled to sqlglot to run.

The tree comes from :func:`zhili.exchange.rowfilter.parse_row_filter` (see that module
for the grammar and NULL semantics). Engines only ever receive SQL generated here from
the tree — identifiers always quoted, values always literals — never the reviewer's text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from sqlglot import exp

from zhili.errors import InvalidInput
from zhili.exchange.rowfilter import (
    KEYWORDS,
    NAME,
    And,
    Between,
    Boolean,
    Compare,
    InList,
    Integer,
    IsNull,
    Like,
    Not,
    Number,
    Or,
    RowFilter,
    Text,
    Value,
)
from zhili.query.coerce import coerce_value

__all__ = ["check_row_filter", "to_sqlglot", "to_text"]


# --- checking against a Table Schema -------------------------------------------------------

#: How the lake stores each Table Schema type (``zhili.lake.schema``); others are text.
_STORED: dict[str, pa.DataType] = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),  # stored as normalised "HH:MM:SS[.ffffff]" text
    "year": pa.int32(),
}
#: Which literals may stand for a value of each type; text is the only way to write dates.
_LITERALS: dict[str, tuple[type, ...]] = {
    "integer": (Integer,),
    "year": (Integer,),
    "number": (Integer, Number),
    "boolean": (Boolean,),
    "date": (Text,),
    "datetime": (Text,),
    "time": (Text,),
}


def _literal_text(value: Value) -> str:
    if isinstance(value, Text):
        return "'" + value.value.replace("'", "''") + "'"
    if isinstance(value, Boolean):
        return "true" if value.value else "false"
    if isinstance(value, Number):
        text = format(value.value, "f")
        return text if "." in text else text + ".0"
    return str(value.value)


def check_row_filter(expr: RowFilter, table_schema: Mapping[str, Any]) -> RowFilter:
    """Check ``expr`` against a resource's Table Schema; return it with canonical values.

    Every field must exist and every value must fit its field's type: numbers for integer
    and number fields, ``true``/``false`` for booleans, text for text fields and for dates,
    datetimes and times (written in ISO 8601). Values are checked with
    :func:`zhili.query.coerce.coerce_value`, and dates and times come back in canonical
    form (a datetime without an offset is city time and comes back in UTC with ``+00:00``),
    so the engines compare in the column's own type.

    Raises:
        InvalidInput: ``rowfilter.unknown_field``, ``rowfilter.bad_value`` or
            ``rowfilter.like_needs_text``, each naming the field.
    """
    types = {f["name"]: f.get("type", "string") for f in table_schema["fields"]}

    def kind_of(field: str) -> str:
        kind = types.get(field)
        if kind is None:
            raise InvalidInput(
                "rowfilter.unknown_field",
                "The row filter names field {field}, which the resource does not have",
                field=field,
            )
        return kind

    def fit(field: str, value: Value) -> Value:
        kind = kind_of(field)
        if not isinstance(value, _LITERALS.get(kind, (Text,))):
            raise _bad_value(field, value, kind)
        raw = str(value.value) if isinstance(value, Number) else value.value
        try:
            typed = coerce_value(raw, _STORED.get(kind, pa.string()), field=field)
        except InvalidInput:
            raise _bad_value(field, value, kind) from None
        return Text(typed.isoformat()) if kind in ("date", "datetime", "time") else value

    def check(node: RowFilter) -> RowFilter:
        match node:
            case Compare(field, op, value):
                return Compare(field, op, fit(field, value))
            case InList(field, values, negated):
                return InList(field, tuple(fit(field, v) for v in values), negated)
            case Between(field, low, high):
                return Between(field, fit(field, low), fit(field, high))
            case Like(field, _, _):
                if kind_of(field) in _LITERALS:
                    raise InvalidInput(
                        "rowfilter.like_needs_text",
                        "Row filter: like needs a text field; {field} is {type}",
                        field=field,
                        type=types[field],
                    )
                return node
            case IsNull(field, _):
                kind_of(field)
                return node
            case Not(item):
                return Not(check(item))
            case And(items):
                return And(tuple(check(i) for i in items))
            case Or(items):
                return Or(tuple(check(i) for i in items))
        raise TypeError(f"not a row filter: {node!r}")

    return check(expr)


def _bad_value(field: str, value: Value, kind: str) -> InvalidInput:
    return InvalidInput(
        "rowfilter.bad_value",
        "Row filter: {value} is not a valid {type} for field {field}",
        field=field,
        value=_literal_text(value),
        type=kind,
    )


# --- rendering -------------------------------------------------------------------------------


def _name(field: str) -> str:
    if NAME.fullmatch(field) and field.lower() not in KEYWORDS:
        return field
    return '"' + field.replace('"', '""') + '"'


def to_text(expr: RowFilter) -> str:
    """The canonical text of a filter: ``parse_row_filter(to_text(e)) == e``.

    Keywords in lower case, ``!=`` for "not equal", parentheses where the tree needs them
    and after ``not``, field names quoted only when they must be.
    """
    match expr:
        case Compare(field, op, value):
            return f"{_name(field)} {op} {_literal_text(value)}"
        case InList(field, values, negated):
            items = ", ".join(_literal_text(v) for v in values)
            return f"{_name(field)} {'not in' if negated else 'in'} ({items})"
        case Between(field, low, high):
            return f"{_name(field)} between {_literal_text(low)} and {_literal_text(high)}"
        case Like(field, pattern, negated):
            word = "not like" if negated else "like"
            return f"{_name(field)} {word} {_literal_text(Text(pattern))}"
        case IsNull(field, negated):
            return f"{_name(field)} is {'not null' if negated else 'null'}"
        case Not(item):
            return f"not ({to_text(item)})"
        case And(items):
            return " and ".join(
                f"({to_text(i)})" if isinstance(i, And | Or) else to_text(i) for i in items
            )
        case Or(items):
            return " or ".join(
                f"({to_text(i)})" if isinstance(i, Or) else to_text(i) for i in items
            )
    raise TypeError(f"not a row filter: {expr!r}")


# --- compiling -------------------------------------------------------------------------------


def _column(field: str) -> exp.Column:
    return exp.Column(this=exp.Identifier(this=field, quoted=True))


def _sql_literal(value: Value) -> exp.Expression:
    if isinstance(value, Text):
        return exp.Literal.string(value.value)
    if isinstance(value, Boolean):
        return exp.Boolean(this=value.value)
    return exp.Literal.number(_literal_text(value))  # a negative number becomes Neg(...)


def _negate(node: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Paren(this=node))


def _compile(expr: RowFilter) -> exp.Expression:
    match expr:
        case Compare(field, op, value):
            return _COMPARE[op](this=_column(field), expression=_sql_literal(value))
        case InList(field, values, negated):
            node: exp.Expression = exp.In(
                this=_column(field), expressions=[_sql_literal(v) for v in values]
            )
            return _negate(node) if negated else node
        case Between(field, low, high):
            return exp.Between(this=_column(field), low=_sql_literal(low), high=_sql_literal(high))
        case Like(field, pattern, negated):
            like = exp.Like(this=_column(field), expression=exp.Literal.string(pattern))
            node = exp.Escape(this=like, expression=exp.Literal.string("\\"))
            return _negate(node) if negated else node
        case IsNull(field, negated):
            node = exp.Is(this=_column(field), expression=exp.Null())
            return _negate(node) if negated else node
        case Not(item):
            return _negate(_compile(item))
        case And(items) | Or(items):
            join = exp.And if isinstance(expr, And) else exp.Or
            parts = [_wrapped(i) for i in items]
            return functools.reduce(lambda a, b: join(this=a, expression=b), parts)
    raise TypeError(f"not a row filter: {expr!r}")


def _wrapped(expr: RowFilter) -> exp.Expression:
    node = _compile(expr)
    return exp.Paren(this=node) if isinstance(expr, And | Or | Between) else node


_COMPARE: dict[str, type[exp.Binary]] = {
    "=": exp.EQ,
    "!=": exp.NEQ,
    "<": exp.LT,
    "<=": exp.LTE,
    ">": exp.GT,
    ">=": exp.GTE,
}


def to_sqlglot(expr: RowFilter) -> exp.Expression:
    """The filter as a sqlglot boolean expression, for any dialect sqlglot writes.

    Field names become quoted identifiers and values literals; ``like`` carries
    ``ESCAPE '\\'``. The result is self-contained (``and``, ``or`` and ``between`` come back
    in parentheses), so an engine may AND its ``.sql(dialect=...)`` into a WHERE clause as
    it is.

    Example:
        >>> to_sqlglot(parse_row_filter("age >= 60 or x is null")).sql(dialect="duckdb")
        '("age" >= 60 OR "x" IS NULL)'
    """
    return _wrapped(expr)
