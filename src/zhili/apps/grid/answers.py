"""A report's answers to its category's form (the Open311 service definition), checked.

The same check serves the report form, the native API and Open311 ``POST requests``, so
each refusal names the attribute's code: ``grid.answer_required``, ``grid.answer_unknown``
(a code the form does not ask, including an informational attribute) and
``grid.answer_bad_value``. What passes comes back normalized: text stripped, numbers as
numbers, datetimes as ISO-8601 with their offset (a time without one is the city's), list
answers as keys, empty optional answers left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from zhili.apps.grid.category_spec import finite, show
from zhili.clock import CITY_TZ
from zhili.errors import InvalidInput

__all__ = ["answers_from_form", "validate_answers"]

MAX_STRING = 1000
MAX_TEXT = 10_000


class HasAttributes(Protocol):
    """A category, stored (`EventCategory`) or only read (`CategorySpec`)."""

    code: str

    @property
    def attributes(self) -> Any: ...


def _bad(category: str, code: str, value: Any, expected: str) -> InvalidInput:
    return InvalidInput(
        "grid.answer_bad_value",
        "{attribute}: {value} is not {expected}.",
        category=category,
        attribute=code,
        field=code,
        value=show(value),
        expected=expected,
    )


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str | list | tuple) and not value)
        or (isinstance(value, str) and not value.strip())
    )


def _number(value: Any) -> int | float | None:
    """A number, or a text that reads as one (``1,200`` too); None otherwise."""
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", ""))
        except ValueError:
            return None
    if not finite(value):
        return None
    number = float(value)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _datetime(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CITY_TZ)
    return moment.isoformat()


def _one(category: str, attribute: Mapping[str, Any], value: Any) -> Any:
    code, datatype = attribute["code"], attribute["datatype"]
    keys = [v["key"] for v in attribute.get("values", [])]
    if datatype in ("string", "text"):
        limit = MAX_STRING if datatype == "string" else MAX_TEXT
        if not isinstance(value, str) or len(value.strip()) > limit:
            raise _bad(category, code, value, f"text of at most {limit} characters")
        return value.strip()
    if datatype == "number":
        number = _number(value)
        if number is None:
            raise _bad(category, code, value, "a number")
        return number
    if datatype == "datetime":
        moment = _datetime(value)
        if moment is None:
            raise _bad(category, code, value, "a date and time in ISO 8601 (2025-10-08T14:30)")
        return moment
    if datatype == "singlevaluelist":
        plain = isinstance(value, str | int) and not isinstance(value, bool)
        key = str(value).strip() if plain else None
        if key not in keys:
            raise _bad(category, code, value, "one of " + ", ".join(keys))
        return key
    if not isinstance(value, list | tuple) or not all(isinstance(v, str | int) for v in value):
        raise _bad(category, code, value, "a list of keys among " + ", ".join(keys))
    chosen = list(dict.fromkeys(str(v).strip() for v in value))
    wrong = [v for v in chosen if v not in keys]
    if wrong:
        raise _bad(category, code, wrong, "keys among " + ", ".join(keys))
    return chosen


def validate_answers(category: HasAttributes, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``answers`` (attribute code → value) against the category's variable
    attributes and return them normalized, in the form's order; refuse the first problem,
    naming its attribute."""
    if not isinstance(answers, Mapping):
        raise _bad(category.code, "(answers)", answers, "a mapping of attribute codes")
    asked = {a["code"]: a for a in category.attributes if a.get("variable", True)}
    for code in answers:
        if code not in asked:
            raise InvalidInput(
                "grid.answer_unknown",
                "{attribute} is not asked by category {category}; it asks: {known}.",
                category=category.code,
                attribute=str(code),
                field=str(code),
                known=", ".join(asked) or "-",
            )
    out: dict[str, Any] = {}
    for code, attribute in asked.items():
        value = answers.get(code)
        if _blank(value):
            if attribute.get("required"):
                raise InvalidInput(
                    "grid.answer_required",
                    "{attribute} ({description}) is required.",
                    category=category.code,
                    attribute=code,
                    field=code,
                    description=attribute.get("description", ""),
                )
            continue
        out[code] = _one(category.code, attribute, value)
    return out


def answers_from_form(
    items: Iterable[tuple[str, Any]], lists: Iterable[str] = ()
) -> dict[str, Any]:
    """Answers from Open311's form encoding: ``attribute[code]=v`` and, for a
    multivaluelist, ``attribute[code][]=a&attribute[code][]=b`` (also for the codes in
    ``lists`` written without ``[]``). Other fields are ignored."""
    multi = set(lists)
    out: dict[str, Any] = {}
    for name, value in items:
        if not name.startswith("attribute[") or not name.endswith("]"):
            continue
        inner = name[len("attribute[") :]
        if inner.endswith("][]"):
            out.setdefault(inner[:-3], []).append(value)
            continue
        code = inner[:-1]
        if code in multi:
            out.setdefault(code, []).append(value)
        else:
            out[code] = value
    return out


def list_codes(category: HasAttributes) -> list[str]:
    """Codes of the category's multivaluelist attributes (their form values are lists)."""
    return [a["code"] for a in category.attributes if a["datatype"] == "multivaluelist"]
