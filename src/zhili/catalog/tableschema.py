"""Items (信息项) as a Frictionless Table Schema v2, with zhili's extensions:

- ``x-sensitivity`` on a field: ``none`` | ``personal`` | ``sensitive_personal``
  (个人信息 / 敏感个人信息 under PIPL), which later drives masking by default;
- ``x-unit``: the unit of a measure (e.g. 元, 平方米);
- ``format: "cn-id"`` on a string field: a GB 11643 resident ID number.

Import accepts any valid Table Schema (unknown properties are kept); export returns the
same dict with the ``$schema`` profile, so other Frictionless tools read it unchanged.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from zhili.errors import InvalidInput

PROFILE = "https://datapackage.org/profiles/2.0/tableschema.json"
TYPES = (
    "string", "integer", "number", "boolean", "date", "datetime", "time", "year",
    "yearmonth", "duration", "object", "array", "geopoint", "geojson", "any", "list",
)  # fmt: skip
SENSITIVITY = ("none", "personal", "sensitive_personal")
CONSTRAINTS = {
    "required", "unique", "enum", "pattern", "minimum", "maximum", "minLength", "maxLength",
    "exclusiveMinimum", "exclusiveMaximum", "jsonSchema",
}  # fmt: skip
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class Item:
    """One information item as the catalog pages show it."""

    name: str
    title: str | None
    type: str
    format: str | None
    unit: str | None
    description: str | None
    primary_key: bool
    required: bool
    sensitivity: str


def _bad(index: int, name: str | None, message: str, **params: Any) -> InvalidInput:
    return InvalidInput(
        "catalog.bad_table_schema",
        "field {index} ({name}): {message}",
        index=index,
        name=name or "?",
        message=message,
        field=f"fields[{index}]",
        **params,
    )


def normalise(schema: Any) -> dict[str, Any]:
    """Check a Table Schema and return a clean copy; errors name the field."""
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
        raise InvalidInput(
            "catalog.bad_table_schema_shape", "a Table Schema is an object with a fields list"
        )
    if not schema["fields"]:
        raise InvalidInput("catalog.no_fields", "a resource needs at least one item")
    out = copy.deepcopy(schema)
    out.pop("$schema", None)
    seen: set[str] = set()
    for i, f in enumerate(out["fields"]):
        if not isinstance(f, dict):
            raise _bad(i, None, "a field must be an object")
        name = f.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise _bad(
                i, str(name), "name must be letters, digits or _ (not starting with a digit)"
            )
        if name in seen:
            raise _bad(i, name, "duplicate field name")
        seen.add(name)
        ftype = f.setdefault("type", "string")
        if ftype not in TYPES:
            raise _bad(i, name, f"unknown type {ftype!r}")
        if f.get("format") == "cn-id" and ftype != "string":
            raise _bad(i, name, "format cn-id needs type string")
        sens = f.setdefault("x-sensitivity", "none")
        if sens not in SENSITIVITY:
            raise _bad(i, name, f"x-sensitivity must be one of {', '.join(SENSITIVITY)}")
        constraints = f.get("constraints", {})
        if not isinstance(constraints, dict):
            raise _bad(i, name, "constraints must be an object")
        unknown = set(constraints) - CONSTRAINTS
        if unknown:
            raise _bad(i, name, f"unknown constraint {sorted(unknown)[0]}")
        if "pattern" in constraints:
            try:
                re.compile(constraints["pattern"])
            except re.error as exc:
                raise _bad(i, name, f"pattern does not compile: {exc}") from None
        if "enum" in constraints and not isinstance(constraints["enum"], list):
            raise _bad(i, name, "enum must be a list")
    pk = out.get("primaryKey")
    if isinstance(pk, str):
        pk = out["primaryKey"] = [pk]
    if pk is not None:
        if not isinstance(pk, list) or not pk:
            raise InvalidInput("catalog.bad_primary_key", "primaryKey must name fields")
        missing = [k for k in pk if k not in seen]
        if missing:
            raise InvalidInput(
                "catalog.bad_primary_key",
                "primaryKey names {name}, which is not a field",
                name=missing[0],
                field="primaryKey",
            )
    return out


def export(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as a Table Schema v2 document."""
    return {"$schema": PROFILE, **copy.deepcopy(schema)}


def items(schema: dict[str, Any]) -> list[Item]:
    pk = set(schema.get("primaryKey") or [])
    return [
        Item(
            name=f["name"],
            title=f.get("title"),
            type=f.get("type", "string"),
            format=f.get("format"),
            unit=f.get("x-unit"),
            description=f.get("description"),
            primary_key=f["name"] in pk,
            required=bool(f.get("constraints", {}).get("required")) or f["name"] in pk,
            sensitivity=f.get("x-sensitivity", "none"),
        )
        for f in schema["fields"]
    ]


def personal_fields(schema: dict[str, Any]) -> list[str]:
    """Names of fields holding personal or sensitive personal information."""
    return [f["name"] for f in schema["fields"] if f.get("x-sensitivity", "none") != "none"]
