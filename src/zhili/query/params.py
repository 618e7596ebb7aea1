r"""Read a :class:`~zhili.query.model.Query` from REST query parameters.

Syntax (every parameter optional; unknown parameters are refused so typos do not pass
silently)::

    ?fields=name,birth_date
    &filter=age:ge:60
    &filter=district_code:in:120101,120102
    &filter=birth_date:between:1950-01-01,1959-12-31
    &filter=name:like:张%
    &filter=death_date:is_null
    &sort=-birth_date,id_number
    &limit=100
    &after=<next_cursor of the previous page>
    &total=true

``fields``
    Comma-separated column names; default every column. May be repeated (lists are joined).
``filter``
    ``FIELD:OP[:VALUE]``, repeatable, all ANDed. The field is everything before the first
    ``:``, the operator the next part, the value everything after the second ``:`` (so
    values may contain ``:``, e.g. times). Operators: ``eq ne lt le gt ge`` (one value),
    ``in not_in`` (comma-separated list), ``between`` (``low,high``, both included),
    ``like`` (SQL pattern, ``%`` and ``_`` wildcards, ``\`` escapes), ``is_null``,
    ``not_null`` (no value). In a list (``in``, ``not_in``, ``between``) write a comma
    inside a value as ``\,`` and a backslash as ``\\``; other operators take the value
    as written (``eq:a,b`` compares with ``"a,b"``; ``like`` passes ``\`` to LIKE).
    Values are text, typed for the column: integers, decimals, ``true``/``false``, ISO
    dates ``2024-05-01`` and timestamps ``2024-05-01T08:00:00+08:00`` (no offset means
    local time in Asia/Shanghai).
``sort``
    Comma-separated fields, ``-`` before a field for descending. The primary key is always
    appended to make the order total. NULLs sort last ascending, first descending.
``limit``
    Rows per page, 1 to 10,000 (default 100).
``after``
    The ``next_cursor`` of the previous page, to read the next one. It only works with the
    same sort; a cursor from another query is refused (``query.bad_cursor``).
``total``
    ``true`` to count every matching row as well (an extra scan; default ``false``).

Field names containing ``:`` or ``,`` cannot be written in this syntax (the Python model
takes them).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import cast

from zhili.query.cursor import Cursor
from zhili.query.messages import invalid
from zhili.query.model import DEFAULT_LIMIT, LIST_OPS, MAX_LIMIT, OPS, Filter, Op, Query, SortKey

__all__ = ["PARAMETERS", "parse_params", "split_list"]

#: The parameter names this module reads.
PARAMETERS = frozenset({"fields", "filter", "sort", "limit", "after", "total"})
_TRUE = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

Params = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]


def split_list(text: str) -> list[str]:
    r"""Split a comma-separated list where ``\,`` is a comma and ``\\`` a backslash."""
    out: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            current.append(nxt if nxt in (",", "\\") else ch + nxt)
        elif ch == ",":
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return out


def _pairs(params: Params) -> list[tuple[str, str]]:
    if isinstance(params, Mapping):
        out: list[tuple[str, str]] = []
        for key, value in params.items():
            if isinstance(value, str):
                out.append((key, value))
            else:
                out.extend((key, v) for v in value)
        return out
    return [(k, v) for k, v in params]


def _names(text: str, parameter: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise invalid("query.empty_name", parameter=parameter, value=text)
    return names


def _filter(text: str) -> Filter:
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0].strip():
        raise invalid("query.filter_syntax", parameter="filter", value=text)
    field, op = parts[0].strip(), parts[1].strip()
    if op not in OPS:
        raise invalid(
            "query.bad_operator",
            parameter="filter",
            field=field,
            op=op,
            allowed=", ".join(OPS),
        )
    if len(parts) == 2:
        if op in ("is_null", "not_null"):
            return Filter(field, cast(Op, op))
        raise invalid(
            "query.bad_filter",
            parameter="filter",
            field=field,
            op=op,
            value=text,
        )
    raw = parts[2]
    if op in LIST_OPS or op == "between":
        return Filter(field, cast(Op, op), tuple(split_list(raw)))
    return Filter(field, cast(Op, op), raw)


def _sort(text: str) -> list[SortKey]:
    keys = []
    for name in _names(text, "sort"):
        desc = name.startswith("-")
        bare = name[1:].strip() if desc or name.startswith("+") else name
        if not bare:
            raise invalid("query.empty_name", parameter="sort", value=text)
        keys.append(SortKey(bare, desc))
    return keys


def _limit(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise invalid("query.bad_limit", parameter="limit", value=text, max=MAX_LIMIT) from None


def _flag(text: str, parameter: str) -> bool:
    try:
        return _TRUE[text.strip().lower()]
    except KeyError:
        raise invalid("query.bad_flag", parameter=parameter, value=text) from None


def _single(pairs: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in pairs if k == name]
    if len(values) > 1:
        raise invalid("query.bad_parameter", parameter=name)
    return values[0] if values else None


def parse_params(params: Params, *, other: Collection[str] = ()) -> Query:
    """Read a query from REST parameters (a mapping or ``(name, value)`` pairs).

    Values are checked for syntax only; :func:`~zhili.query.model.validate_query` checks
    them against the table. ``other`` names parameters the caller handles itself (e.g.
    ``format``); any other unknown parameter is refused.

    Raises:
        InvalidInput: naming the parameter and value at fault.
    """
    pairs = _pairs(params)
    for key, _ in pairs:
        if key not in PARAMETERS and key not in other:
            raise invalid(
                "query.unknown_parameter",
                parameter=key,
                allowed=", ".join(sorted(PARAMETERS)),
            )
    fields: list[str] | None = None
    for key, value in pairs:
        if key == "fields":
            fields = [*(fields or []), *_names(value, "fields")]
    sort: list[SortKey] = []
    for key, value in pairs:
        if key == "sort":
            sort.extend(_sort(value))
    filters = [_filter(v) for k, v in pairs if k == "filter"]
    limit_text = _single(pairs, "limit")
    after_text = _single(pairs, "after")
    total_text = _single(pairs, "total")
    return Query(
        fields=tuple(fields) if fields is not None else None,
        filters=tuple(filters),
        sort=tuple(sort),
        limit=_limit(limit_text) if limit_text is not None else DEFAULT_LIMIT,
        after=Cursor.decode(after_text) if after_text else None,
        with_total=_flag(total_text, "total") if total_text is not None else False,
    )
