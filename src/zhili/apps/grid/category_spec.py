"""The event catalogue (事项目录) as data: one category's spec, read and checked whole.

A category is authored in YAML or JSON with the model's own names, and its form as the
Open311 GeoReport v2 service definition's attributes, exactly::

    code: road-occupation                # the Open311 service_code
    name: 占道经营
    name_en: Street vending
    group: 市容环境
    group_en: City appearance
    department: 11120000148901681U       # the organization that handles it by default
    level: street                        # lowest level whose command centre dispatches it
    time_limits:                         # 时限 per stage, in working hours or days
      register: {amount: 2, unit: hours} # 立案
      handle: {amount: 3, unit: days}    # 处置
    attributes:
      - {code: severity, datatype: singlevaluelist, required: true, order: 1,
         description: 严重程度, values: [{key: minor, name: 轻微}, {key: major, name: 严重}]}

Nothing is stored until every category and route of an import reads: each error names the
category's code, the attribute's code and the field (``attributes.severity.values``).
Nothing here touches the database; `zhili.apps.grid.categories` checks what only it can
know (the department and areas exist) and writes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from zhili.errors import InvalidInput

__all__ = [
    "DATATYPES",
    "LEVELS",
    "LIST_DATATYPES",
    "STAGES",
    "UNITS",
    "Catalogue",
    "CategorySpec",
    "RouteSpec",
    "parse_catalogue",
    "parse_category",
    "read_catalogue_text",
]

#: The stages an event passes through, in order: 立案, 吹哨, 报到, 处置, 核查.
STAGES = ("register", "dispatch", "acknowledge", "handle", "verify")
UNITS = ("hours", "days")
#: Open311 GeoReport v2 attribute datatypes.
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LIST_DATATYPES = ("singlevaluelist", "multivaluelist")
#: Levels whose command centre may register and dispatch a category, lowest first.
LEVELS = ("community", "street", "district", "city")

CATEGORY_KEYS = ("code", "name", "name_en", "group", "group_en", "description", "keywords",
                 "department", "level", "time_limits", "attributes", "active")  # fmt: skip
ATTRIBUTE_KEYS = ("variable", "code", "datatype", "required", "datatype_description", "order",
                  "description", "description_en", "values")  # fmt: skip
VALUE_KEYS = ("key", "name", "name_en")
LIMIT_KEYS = ("amount", "unit")
ROUTE_KEYS = ("category", "area", "department")
DOCUMENT_KEYS = ("categories", "routes")
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")
ATTRIBUTE_CODE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
MAX_AMOUNT = 1000
MAX_ATTRIBUTES = 40
MAX_VALUES = 100


@dataclass(frozen=True)
class CategorySpec:
    """A checked category: the model's fields, ``department`` as an organization code and
    ``attributes`` as Open311 attribute dicts sorted by ``order``."""

    code: str
    name: str
    group: str
    department: str
    level: str
    name_en: str | None = None
    group_en: str | None = None
    description: str = ""
    keywords: tuple[str, ...] = ()
    time_limits: Mapping[str, Mapping[str, Any]] | None = None
    attributes: tuple[Mapping[str, Any], ...] = ()
    active: bool = True


@dataclass(frozen=True)
class RouteSpec:
    """Another department for ``category`` inside the subtree of grid area ``area``."""

    category: str
    area: str
    department: str


@dataclass(frozen=True)
class Catalogue:
    """A checked import: categories (codes unique) and routes (pairs unique)."""

    categories: tuple[CategorySpec, ...]
    routes: tuple[RouteSpec, ...]


# --- errors -------------------------------------------------------------------------------


def show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[:200]
    except (ValueError, TypeError, RecursionError):  # e.g. a YAML alias to itself
        return repr(value)[:200]


def finite(value: Any) -> bool:
    """A real number (not a bool, not NaN or ±∞, not too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def bad(category: str, field: str, value: Any, expected: str, **extra: Any) -> InvalidInput:
    """``grid.category_bad_value`` naming the category, the field path and the value."""
    return InvalidInput(
        "grid.category_bad_value",
        "Category {category}, {field}: {value} is not {expected}.",
        category=category or "(no code)",
        field=field or "(top level)",
        value=show(value),
        expected=expected,
        **extra,
    )


def _mapping(
    value: Any, category: str, field: str, allowed: Sequence[str], required: Sequence[str] = ()
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise bad(category, field, value, "a mapping")
    for key in value:
        if key not in allowed:
            raise InvalidInput(
                "grid.category_unknown_key",
                "Category {category}, {field}: unknown key {key}; allowed: {allowed}.",
                category=category or "(no code)",
                field=field or "(top level)",
                key=str(key),
                allowed=", ".join(allowed),
            )
    for key in required:
        if value.get(key) is None:
            raise InvalidInput(
                "grid.category_missing_key",
                "Category {category}, {field}: the key {key} is required.",
                category=category or "(no code)",
                field=field or "(top level)",
                key=key,
            )
    return dict(value)


def _text(value: Any, category: str, field: str, max_len: int, *, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str) or (not optional and not value.strip()):
        raise bad(category, field, value, "text")
    if len(value.strip()) > max_len:
        raise bad(category, field, value, f"text of at most {max_len} characters")
    return value.strip()


def _bool(value: Any, category: str, field: str) -> bool:
    if not isinstance(value, bool):
        raise bad(category, field, value, "true or false")
    return value


# --- one category -------------------------------------------------------------------------


def _time_limits(value: Any, code: str) -> dict[str, dict[str, Any]]:
    limits = _mapping(value if value is not None else {}, code, "time_limits", STAGES)
    out = {}
    for stage in STAGES:
        if stage not in limits:
            continue
        where = f"time_limits.{stage}"
        limit = _mapping(limits[stage], code, where, LIMIT_KEYS, required=LIMIT_KEYS)
        unit = limit["unit"]
        if unit not in UNITS:
            raise bad(code, f"{where}.unit", unit, "hours or days")
        amount = limit["amount"]
        whole = unit == "days"
        ok = finite(amount) and 0 < amount <= MAX_AMOUNT
        if not ok or (whole and amount != int(amount)):
            kind = "a whole number" if whole else "a number"
            raise bad(code, f"{where}.amount", amount, f"{kind} above 0 and at most {MAX_AMOUNT}")
        out[stage] = {"amount": int(amount) if amount == int(amount) else amount, "unit": unit}
    return out


def _values(value: Any, code: str, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
        raise bad(code, where, value, f"a list of 1 to {MAX_VALUES} {{key, name}} entries")
    out, seen = [], set()
    for i, entry in enumerate(value):
        spec = _mapping(entry, code, f"{where}[{i}]", VALUE_KEYS, required=("key", "name"))
        key = spec["key"]
        if isinstance(key, bool) or not isinstance(key, str | int) or not str(key).strip():
            raise bad(code, f"{where}[{i}].key", key, "a key (text)")
        key = str(key).strip()
        if key in seen:
            raise bad(code, f"{where}[{i}].key", key, "a key not used by another value")
        seen.add(key)
        item = {"key": key, "name": _text(spec["name"], code, f"{where}[{i}].name", 200)}
        if spec.get("name_en") is not None:
            item["name_en"] = _text(spec["name_en"], code, f"{where}[{i}].name_en", 200)
        out.append(item)
    return out


def _attribute(value: Any, code: str, position: int) -> dict[str, Any]:
    raw = value.get("code") if isinstance(value, Mapping) else None
    ok = isinstance(raw, str) and ATTRIBUTE_CODE.fullmatch(raw)
    where = f"attributes.{raw}" if ok else f"attributes[{position}]"
    spec = _mapping(value, code, where, ATTRIBUTE_KEYS, required=("code", "datatype"))
    if not ok:
        raise bad(code, f"{where}.code", raw, "letters, digits, _ or - (at most 64)")

    def fail(field: str, got: Any, expected: str) -> InvalidInput:
        return bad(code, f"{where}.{field}", got, expected, attribute=raw)

    datatype = spec["datatype"]
    if datatype not in DATATYPES:
        raise fail("datatype", datatype, "one of " + ", ".join(DATATYPES))
    variable = spec.get("variable", True)
    required = spec.get("required", False)
    for field, flag in (("variable", variable), ("required", required)):
        if not isinstance(flag, bool):
            raise fail(field, flag, "true or false")
    if required and not variable:
        raise fail("required", required, "false for an attribute that is not variable")
    order = spec.get("order", position + 1)
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= 10_000:
        raise fail("order", order, "a whole number from 0 to 10000")
    description = spec.get("description")
    if not isinstance(description, str) or not description.strip() or len(description) > 500:
        raise fail("description", description, "text of at most 500 characters")
    out: dict[str, Any] = {
        "variable": variable,
        "code": raw,
        "datatype": datatype,
        "required": required,
        "datatype_description": _text(
            spec.get("datatype_description"),
            code,
            f"{where}.datatype_description",
            200,
            optional=True,
        ),
        "order": order,
        "description": description.strip(),
    }
    if spec.get("description_en") is not None:
        out["description_en"] = _text(spec["description_en"], code, f"{where}.description_en", 500)
    if datatype in LIST_DATATYPES:
        out["values"] = _values(spec.get("values"), code, f"{where}.values")
    elif "values" in spec:
        raise fail("values", spec["values"], "absent (only list datatypes have values)")
    return out


def _attributes(value: Any, code: str) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ATTRIBUTES:
        raise bad(code, "attributes", value, f"a list of at most {MAX_ATTRIBUTES} attributes")
    out, seen = [], set()
    for i, entry in enumerate(value):
        attribute = _attribute(entry, code, i)
        if attribute["code"] in seen:
            where = f"attributes.{attribute['code']}.code"
            raise bad(code, where, attribute["code"], "a code not used by another attribute",
                      attribute=attribute["code"])  # fmt: skip
        seen.add(attribute["code"])
        out.append(attribute)
    return tuple(sorted(out, key=lambda a: a["order"]))  # stable: equal orders keep file order


def _keywords(value: Any, code: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(k, str) and k.strip() for k in value):
        raise bad(code, "keywords", value, "a list of words")
    if any("," in k for k in value) or len(value) > 30:
        raise bad(code, "keywords", value, "at most 30 words without commas")
    return tuple(dict.fromkeys(k.strip() for k in value))


def parse_category(data: Any) -> CategorySpec:
    """Check one decoded category (see the module docstring) into a `CategorySpec`."""
    raw = data.get("code") if isinstance(data, Mapping) else None
    code = raw if isinstance(raw, str) and CODE.fullmatch(raw) else ""
    spec = _mapping(data, code, "", CATEGORY_KEYS,
                    required=("code", "name", "group", "department", "level"))  # fmt: skip
    if not code:
        raise bad("", "code", raw, "1 to 32 letters, digits or dashes")
    level = spec["level"]
    if level not in LEVELS:
        raise bad(code, "level", level, "one of " + ", ".join(LEVELS))
    department = spec["department"]
    if not isinstance(department, str) or not department.strip() or len(department) > 32:
        raise bad(code, "department", department, "an organization's code")
    return CategorySpec(
        code=code,
        name=_text(spec["name"], code, "name", 200),
        name_en=_text(spec.get("name_en"), code, "name_en", 200, optional=True) or None,
        group=_text(spec["group"], code, "group", 100),
        group_en=_text(spec.get("group_en"), code, "group_en", 100, optional=True) or None,
        description=_text(spec.get("description"), code, "description", 2000, optional=True),
        keywords=_keywords(spec.get("keywords"), code),
        department=department.strip(),
        level=level,
        time_limits=_time_limits(spec.get("time_limits"), code),
        attributes=_attributes(spec.get("attributes"), code),
        active=_bool(spec.get("active", True), code, "active"),
    )


# --- a whole import -----------------------------------------------------------------------


def _route(value: Any, position: int) -> RouteSpec:
    where = f"routes[{position}]"
    spec = _mapping(value, "", where, ROUTE_KEYS, required=ROUTE_KEYS)
    for key in ROUTE_KEYS:
        if not isinstance(spec[key], str) or not spec[key].strip() or len(spec[key]) > 32:
            raise bad(str(spec.get("category", "")), f"{where}.{key}", spec[key], "a code")
    return RouteSpec(spec["category"].strip(), spec["area"].strip(), spec["department"].strip())


def parse_catalogue(data: Any) -> Catalogue:
    """Check a decoded import: a list of categories, or ``{categories: [...], routes:
    [{category, area, department}]}`` (keys starting ``x-`` are ignored). Codes must be
    unique within it."""
    if isinstance(data, list):
        data = {"categories": data}
    if isinstance(data, Mapping):  # x-…: YAML anchors to share limits and attributes
        data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    document = _mapping(data, "", "", DOCUMENT_KEYS)
    items = document.get("categories") or []
    routes_in = document.get("routes") or []
    if not isinstance(items, list):
        raise bad("", "categories", items, "a list of categories")
    if not isinstance(routes_in, list):
        raise bad("", "routes", routes_in, "a list of {category, area, department}")
    if not items and not routes_in:
        raise bad("", "categories", items, "a list with at least one category or route")
    categories, seen = [], set()
    for item in items:
        spec = parse_category(item)
        if spec.code in seen:
            raise bad(spec.code, "code", spec.code, "a code not used by another category")
        seen.add(spec.code)
        categories.append(spec)
    routes, pairs = [], set()
    for i, item in enumerate(routes_in):
        route = _route(item, i)
        if (route.category, route.area) in pairs:
            raise bad(route.category, f"routes[{i}].area", route.area,
                      "an area not routed twice for the category")  # fmt: skip
        pairs.add((route.category, route.area))
        routes.append(route)
    return Catalogue(tuple(categories), tuple(routes))


def read_catalogue_text(text: str, *, name: str = "") -> Any:
    """Decode YAML or JSON text (JSON is YAML, but its errors read better as JSON)."""
    as_json = text.lstrip()[:1] in ("{", "[")
    try:
        return json.loads(text) if as_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(
            "grid.catalogue_syntax",
            "The event catalogue {name} is not valid {format}: {problem}",
            name=name or "(text)",
            format="JSON" if as_json else "YAML",
            problem=" ".join(str(exc).split())[:300],
        ) from None
