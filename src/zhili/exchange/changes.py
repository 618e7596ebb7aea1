"""The changes feed (订阅 · 拉取): the rows a version added or changed since an earlier one.

A subscription's notice says *that* a version landed; the rows are read here, through the
one door like every read. Both versions are opened as snapshots of the **same** access —
the grant's fields, row filter and masks, or the provider's whole table — so the
difference is computed on exactly what the reader may see::

    SELECT * FROM until_version EXCEPT SELECT * FROM since_version

A row whose visible values changed comes back in its new state; a row that appeared comes
back; a row that disappeared (or left the grant's row filter) is counted in ``removed``:
by key when the resource's primary key is delivered unmasked (rows of ``since`` whose key
no longer occurs), otherwise by whole row (then a changed row's old state counts as well).
With such a key the rows come ordered by it, and ``next_cursor`` continues a truncated
answer; the call is metered (rows delivered) and audited as ``exchange.changes``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from sqlglot import exp

from zhili.access import Actor
from zhili.errors import InvalidInput, ZhiliError
from zhili.exchange import door
from zhili.query import Column, Snapshot, get_engine
from zhili.query.coerce import coerce_value, to_json_value

ACTION = "exchange.changes"
#: Rows one call returns at most (``limit`` defaults to this).
MAX_ROWS = 10_000
_NEW, _OLD = "zhili_until", "zhili_since"


@dataclass(frozen=True)
class Changes:
    """One answer of the feed: rows of ``until`` not in ``since`` (at most ``limit``)."""

    code: str
    grant_id: int | None
    since: int
    until: int
    rows: list[dict[str, Any]]
    columns: list[Column]
    removed: int
    key: tuple[str, ...]
    truncated: bool
    next_cursor: str | None


def read_changes(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    since: int,
    until: int | None = None,
    grant_id: int | None = None,
    code: str | None = None,
    limit: int = MAX_ROWS,
    after: str | None = None,
) -> Changes:
    """The rows added or changed between versions ``since`` and ``until`` (default: the
    current version) of the resource of grant ``grant_id`` (read under that grant) or of
    resource ``code`` (read under whatever the door allows the actor)."""
    if (grant_id is None) == (code is None):
        raise ValueError("name either grant_id or code")
    if isinstance(limit, bool) or not 1 <= limit <= MAX_ROWS:
        raise InvalidInput(
            "query.bad_limit", "limit must be 1…{max}", parameter="limit", value=limit,
            max=MAX_ROWS,
        )  # fmt: skip
    if grant_id is not None:
        access = door.open_grant(session, actor, grant_id, ACTION)
    else:
        access = door.open_access(session, actor, str(code), ACTION)
    new = access.snapshot(home, until)
    old = access.snapshot(home, since)
    assert new.version is not None and old.version is not None
    if old.version > new.version:
        raise InvalidInput(
            "exchange.bad_since",
            "since ({since}) must not be after until ({until})",
            field="since",
            since=old.version,
            until=new.version,
        )
    key = access.primary_key
    left = access.rows_left(session)
    cap = limit if left is None else max(min(limit, left), 1)
    tables = {_NEW: new, _OLD: old}
    fp = door.fingerprint(access.resource.code, grant_id, old.version, new.version, limit, after)
    engine = get_engine()
    try:
        result = engine.sql(added_sql(key, _after(after, key, new)), tables, max_rows=cap)
        counted = engine.sql(removed_sql(key), tables, max_rows=1)
    except ZhiliError as exc:
        door.finish(
            session, actor, access, rows=0, action=ACTION, version=new.version,
            fingerprint=fp, outcome=f"error:{exc.code}",
        )  # fmt: skip
        raise
    rows = result.rows
    door.finish(
        session, actor, access, rows=len(rows), action=ACTION, version=new.version,
        fingerprint=fp,
    )  # fmt: skip
    next_cursor = None
    if result.truncated and key and rows:
        next_cursor = encode_cursor([rows[-1][k] for k in key])
    return Changes(
        code=access.resource.code,
        grant_id=access.grant.id if access.grant is not None else None,
        since=old.version,
        until=new.version,
        rows=rows,
        columns=result.columns,
        removed=int(next(iter(counted.rows[0].values()))),
        key=key,
        truncated=result.truncated,
        next_cursor=next_cursor,
    )


def _quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def added_sql(key: Sequence[str], after: str | None = None) -> str:
    """Rows of ``until`` not in ``since``; ordered by ``key`` (and after a cursor) if any."""
    diff = f'SELECT * FROM "{_NEW}" EXCEPT SELECT * FROM "{_OLD}"'
    if not key:
        return diff
    where = f" WHERE {after}" if after else ""
    order = ", ".join(_quote(k) for k in key)
    return f'SELECT * FROM ({diff}) AS "zhili_d"{where} ORDER BY {order}'


def removed_sql(key: Sequence[str]) -> str:
    """How many rows of ``since`` are gone from ``until`` (by key when there is one)."""
    cols = ", ".join(_quote(k) for k in key) if key else "*"
    return (
        f'SELECT count(*) AS "removed" FROM '
        f'(SELECT {cols} FROM "{_OLD}" EXCEPT SELECT {cols} FROM "{_NEW}") AS "zhili_r"'
    )


def encode_cursor(values: Sequence[Any]) -> str:
    text = json.dumps([to_json_value(v) for v in values], ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _bad_cursor() -> InvalidInput:
    return InvalidInput("exchange.bad_cursor", "after is not a cursor of this feed", field="after")


def _after(cursor: str | None, key: Sequence[str], snap: Snapshot) -> str | None:
    """``(k1, k2, …) > (v1, v2, …)`` spelled out portably, values typed for their column
    and rendered as SQL literals by sqlglot (the guard re-parses the whole statement)."""
    if cursor is None:
        return None
    if not key:
        raise _bad_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _bad_cursor() from None
    if not isinstance(values, list) or len(values) != len(key):
        raise _bad_cursor()
    schema = snap.files().schema
    typed = [
        exp.convert(coerce_value(v, schema.field(k).type, field=k))
        for k, v in zip(key, values, strict=True)
    ]
    terms = []
    for i, name in enumerate(key):
        parts = [f"{_quote(key[j])} = {typed[j].sql(dialect='duckdb')}" for j in range(i)]
        parts.append(f"{_quote(name)} > {typed[i].sql(dialect='duckdb')}")
        terms.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(terms)
