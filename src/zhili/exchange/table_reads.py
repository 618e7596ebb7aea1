"""Whole tables through the one door, for the scenario apps: a verification job reads its
roster and references as Arrow tables, opened, scoped, masked, metered and audited by
:mod:`zhili.exchange.door` like every other read — the app never reads the lake itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.errors import Forbidden, ZhiliError
from zhili.exchange import auditing
from zhili.exchange.door import Access, Basis, fingerprint, finish, open_access, refuse_hidden_query
from zhili.query import get_engine
from zhili.query.model import Query

__all__ = ["TableRead", "read_table", "refuse_over_quota"]


@dataclass(frozen=True)
class TableRead:
    """What :func:`read_table` delivered: the rows, the version they come from, on which
    basis, and which items arrived masked (a grant's masking is never undone)."""

    table: pa.Table
    version: int
    basis: Basis
    masked: tuple[str, ...] = ()


def read_table(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    code: str,
    columns: Sequence[str],
    action: str = "exchange.verify_read",
    version: int | None = None,
    whole: bool = True,
) -> TableRead:
    """Items ``columns`` of every row ``actor`` may read, as one Arrow table — for the
    scenario apps (a verification job reads its roster and references this way).

    Opened like :func:`export_rows`: the grant re-checked, its items, row filter and
    masks applied inside the engine, the rows metered and the read audited as ``action``.
    With ``whole`` a result the grant's row quota would cut short is refused up front
    (403 ``exchange.read_over_quota``, audited, nothing metered): half a reference would
    make a verification silently wrong. Without it the quota cuts the table short.
    """
    access = open_access(session, actor, code, action)
    query = Query(fields=tuple(columns))
    refuse_hidden_query(query, access)
    access = replace(access, fields=tuple(columns))  # the audit names the items read
    snap = access.snapshot(home, version)
    left = access.rows_left(session)
    engine = get_engine()
    print_ = fingerprint(code, tuple(columns), action)
    try:
        if whole and left is not None:
            refuse_over_quota(session, actor, access, engine.count(snap, query), left, action)
        reader = engine.stream(snap, query, primary_key=access.primary_key or None)
        batches, rows = [], 0
        for batch in reader:
            if left is not None and rows + batch.num_rows > left:
                batch = batch.slice(0, left - rows)
            batches.append(batch)
            rows += batch.num_rows
            if left is not None and rows >= left:
                reader.close()
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except Forbidden:
        raise
    except ZhiliError as exc:
        finish(
            session,
            actor,
            access,
            rows=0,
            action=action,
            version=snap.version,
            fingerprint=print_,
            outcome=f"error:{exc.code}",
        )
        raise
    finish(
        session,
        actor,
        access,
        rows=table.num_rows,
        action=action,
        version=snap.version,
        fingerprint=print_,
    )
    masked = tuple(name for name, _ in access.scope.masks) if access.scope else ()
    return TableRead(table, snap.version, access.basis, masked)


def refuse_over_quota(
    session: Session, actor: Actor, access: Access, needed: int, left: int | None, action: str
) -> None:
    """403 ``exchange.read_over_quota`` (audited) when reading ``needed`` rows whole would
    go past what the grant may still deliver today."""
    if left is None or needed <= left:
        return
    assert access.grant is not None
    code = access.resource.code
    auditing.record_denial(
        session,
        actor,
        action=action,
        resource_code=code,
        provider_org_id=access.resource.provider_id,
        code="exchange.read_over_quota",
    )
    raise Forbidden(
        "exchange.read_over_quota",
        "reading {code} whole needs {rows} rows; grant {id} has {left} left today",
        code=code,
        rows=needed,
        left=left,
        id=access.grant.id,
    )
