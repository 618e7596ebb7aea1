"""Read a Frictionless Table Schema (v2) dict into typed specs and the Arrow schema we store.

The catalog owns the full Table Schema import/export; the lake only needs to know, per
field, how to cast raw text and which constraints to check. Parsing happens once, up
front, so that an unusable schema fails with the field named before any data is read.

Storage types (what a Delta table holds):

====================  ===============================  =====================================
Table Schema type     Arrow / Delta type               note
====================  ===============================  =====================================
string (any, object,  string                           ``format: cn-id`` values stored with
array, geopoint, …)                                    an upper-case ``X``
integer               int64 / long
number                float64 / double
boolean               bool
date                  date32 / date
datetime              timestamp[us, UTC] / timestamp   a value without an offset is local
                                                       time in Asia/Shanghai (the city's
                                                       zone), then stored as UTC
time                  string ``HH:MM:SS[.ffffff]``     Delta Lake has no TIME type, so the
                                                       parsed time is stored normalised
year                  int32 / integer
====================  ===============================  =====================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pyarrow as pa

from zhili.errors import InvalidInput

Kind = Literal["string", "integer", "number", "boolean", "date", "datetime", "time", "year"]

#: Table Schema types the lake casts and stores natively.
KINDS: frozenset[str] = frozenset(
    {"string", "integer", "number", "boolean", "date", "datetime", "time", "year"}
)
#: Other Table Schema types, stored as plain text (the lake does not interpret them).
TEXT_TYPES = frozenset(
    {"any", "object", "array", "list", "geopoint", "geojson", "duration", "yearmonth"}
)
#: Named string formats we check; ``default`` means "no format".
STRING_FORMATS = frozenset({"default", "cn-id", "email", "uri", "uuid", "binary"})
DEFAULT_TRUE = ("true", "True", "TRUE", "1")
DEFAULT_FALSE = ("false", "False", "FALSE", "0")
#: Kinds whose values are ordered, so that minimum/maximum (`BOUNDS`) apply.
ORDERED_KINDS = frozenset({"integer", "number", "date", "datetime", "time", "year"})
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")

CITY_TIMEZONE = "Asia/Shanghai"

_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "time": pa.string(),
    "year": pa.int32(),
}


def _bad(field_name: str, problem: str) -> InvalidInput:
    return InvalidInput(
        "lake.bad_schema",
        "Table Schema field {field}: {problem}",
        field=field_name,
        problem=problem,
    )


@dataclass(frozen=True)
class FieldSpec:
    """One column: its storage kind, how to read text into it, and its constraints."""

    name: str
    kind: Kind
    declared_type: str = "string"
    format: str = "default"
    required: bool = False
    unique: bool = False
    enum: tuple[Any, ...] | None = None
    pattern: str | None = None
    bounds: Mapping[str, Any] = field(default_factory=dict)
    min_length: int | None = None
    max_length: int | None = None
    missing_values: tuple[str, ...] = ("",)
    true_values: tuple[str, ...] = DEFAULT_TRUE
    false_values: tuple[str, ...] = DEFAULT_FALSE
    decimal_char: str = "."
    group_char: str = ""
    bare_number: bool = True
    sensitivity: str | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.kind]

    @property
    def label(self) -> str:
        """Type as Frictionless names it in notes: ``integer``, ``string/cn-id``."""
        if self.format in ("default", "any") or self.kind not in ("string",):
            return self.declared_type
        return f"{self.declared_type}/{self.format}"


@dataclass(frozen=True)
class KeySpec:
    """A set of columns whose values must not repeat: the primary key or a unique key."""

    fields: tuple[str, ...]
    primary: bool

    @property
    def error_type(self) -> str:
        return "primary-key-error" if self.primary else "unique-error"


@dataclass(frozen=True)
class TableSpec:
    """A parsed Table Schema: fields in order, the primary key and the unique keys."""

    fields: tuple[FieldSpec, ...]
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def keys(self) -> tuple[KeySpec, ...]:
        """Every uniqueness rule: primary key first, then unique fields and unique keys."""
        out: list[KeySpec] = []
        if self.primary_key:
            out.append(KeySpec(self.primary_key, primary=True))
        for spec in self.fields:
            if spec.unique and (spec.name,) != self.primary_key:
                out.append(KeySpec((spec.name,), primary=False))
        out.extend(KeySpec(k, primary=False) for k in self.unique_keys if k != self.primary_key)
        return tuple(out)


def _str_list(value: Any, what: str, field_name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise _bad(field_name, f"{what} must be a list of strings")
    return tuple(value)


def _length(value: Any, what: str, field_name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(field_name, f"{what} must be a non-negative integer")
    return value


def _check_literal(spec_kind: str, value: Any, what: str, field_name: str) -> None:
    """Constraint values must be of the field's type (checked again by DuckDB when cast)."""
    if spec_kind in ("integer", "year"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok or (isinstance(value, str) and value.strip().lstrip("+-").isdigit())
    elif spec_kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and not (isinstance(value, float) and math.isnan(value))
        if isinstance(value, str):
            try:
                float(value)
                ok = True
            except ValueError:
                ok = False
    elif spec_kind == "boolean":
        ok = isinstance(value, bool | str)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise _bad(field_name, f"{what} value {value!r} does not fit type {spec_kind}")


def _parse_field(raw: Any, table_missing: tuple[str, ...]) -> FieldSpec:
    if not isinstance(raw, Mapping):
        raise _bad("?", "each field must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise _bad(repr(name), "a field needs a non-empty string name")
    declared = raw.get("type", "string")
    if not isinstance(declared, str):
        raise _bad(name, "type must be a string")
    if declared in KINDS:
        kind: str = declared
    elif declared in TEXT_TYPES:
        kind = "string"
    else:
        raise _bad(name, f"unknown type {declared!r}")
    fmt = raw.get("format", "default")
    if not isinstance(fmt, str) or not fmt:
        raise _bad(name, "format must be a non-empty string")
    fmt = fmt.removeprefix("fmt:")
    if kind == "string" and declared == "string" and fmt not in STRING_FORMATS:
        raise _bad(name, f"unsupported string format {fmt!r}")
    if kind in ("integer", "number", "boolean", "year") and fmt != "default":
        raise _bad(name, f"format {fmt!r} is not supported for type {kind}")

    cons = raw.get("constraints") or {}
    if not isinstance(cons, Mapping):
        raise _bad(name, "constraints must be an object")
    known = {"required", "unique", "enum", "pattern", "minLength", "maxLength", *BOUNDS}
    unknown = sorted(set(cons) - known)
    if unknown:
        raise _bad(name, f"unsupported constraint {', '.join(unknown)}")
    for flag in ("required", "unique"):
        if flag in cons and not isinstance(cons[flag], bool):
            raise _bad(name, f"constraint {flag} must be true or false")

    enum = cons.get("enum")
    if enum is not None:
        if not isinstance(enum, Sequence) or isinstance(enum, str) or not enum:
            raise _bad(name, "enum must be a non-empty list")
        for value in enum:
            _check_literal(kind, value, "enum", name)
        enum = tuple(enum)

    pattern = cons.get("pattern")
    if pattern is not None and not isinstance(pattern, str):
        raise _bad(name, "pattern must be a string")
    min_len = _length(cons.get("minLength"), "minLength", name)
    max_len = _length(cons.get("maxLength"), "maxLength", name)
    if (pattern is not None or min_len is not None or max_len is not None) and kind != "string":
        raise _bad(name, f"pattern and length constraints apply to strings, not {kind}")
    bounds = {b: cons[b] for b in BOUNDS if cons.get(b) is not None}
    if bounds and kind not in ORDERED_KINDS:
        raise _bad(name, f"{', '.join(bounds)} cannot apply to type {declared}")
    for what, value in bounds.items():
        _check_literal(kind, value, what, name)

    missing = raw.get("missingValues")
    missing_values = table_missing if missing is None else _str_list(missing, "missingValues", name)
    sensitivity = raw.get("x-sensitivity")
    return FieldSpec(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        declared_type=declared,
        format=fmt,
        required=bool(cons.get("required", False)),
        unique=bool(cons.get("unique", False)),
        enum=enum,
        pattern=pattern,
        bounds=bounds,
        min_length=min_len,
        max_length=max_len,
        missing_values=missing_values,
        true_values=_str_list(raw.get("trueValues", DEFAULT_TRUE), "trueValues", name),
        false_values=_str_list(raw.get("falseValues", DEFAULT_FALSE), "falseValues", name),
        decimal_char=str(raw.get("decimalChar", ".")),
        group_char=str(raw.get("groupChar", "")),
        bare_number=bool(raw.get("bareNumber", True)),
        sensitivity=sensitivity if isinstance(sensitivity, str) else None,
    )


def _key(value: Any, names: set[str], what: str) -> tuple[str, ...]:
    key = _str_list(value, what, what)
    if not key:
        raise _bad(what, "must name at least one field")
    for name in key:
        if name not in names:
            raise _bad(name, f"{what} names a field that does not exist")
    if len(set(key)) != len(key):
        raise _bad(what, "names a field twice")
    return key


def parse_table_schema(table_schema: Mapping[str, Any] | TableSpec) -> TableSpec:
    """The typed view of a Table Schema dict; raises ``lake.bad_schema`` naming the field.

    A primary key makes its fields required (as Frictionless does).
    """
    if isinstance(table_schema, TableSpec):
        return table_schema
    if not isinstance(table_schema, Mapping):
        raise _bad("-", "the schema must be an object")
    raw_fields = table_schema.get("fields")
    if not isinstance(raw_fields, Sequence) or isinstance(raw_fields, str) or not raw_fields:
        raise _bad("-", "the schema needs a non-empty fields list")
    missing = _str_list(table_schema.get("missingValues", [""]), "missingValues", "-")
    fields = [_parse_field(f, missing) for f in raw_fields]
    names = [f.name for f in fields]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _bad(name, "the name is used twice")
        seen.add(name)
    pk_raw = table_schema.get("primaryKey")
    primary = _key(pk_raw, seen, "primaryKey") if pk_raw else ()
    uniques_raw = table_schema.get("uniqueKeys") or []
    if not isinstance(uniques_raw, Sequence) or isinstance(uniques_raw, str):
        raise _bad("uniqueKeys", "must be a list of field lists")
    uniques = tuple(_key(k, seen, "uniqueKeys") for k in uniques_raw)
    if primary:
        fields = [replace(f, required=True) if f.name in primary else f for f in fields]
    return TableSpec(tuple(fields), primary, uniques)


def arrow_schema(table_schema: Mapping[str, Any] | TableSpec) -> pa.Schema:
    """The Arrow schema a table with this Table Schema is stored with (see module doc)."""
    spec = parse_table_schema(table_schema)
    return pa.schema([pa.field(f.name, f.arrow_type, nullable=True) for f in spec.fields])
