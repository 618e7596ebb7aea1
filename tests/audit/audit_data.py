"""Audit test helpers: varied events, and an attacker with the database owner's rights who
lifts the append-only triggers and rewrites rows with raw SQL (what the chain must expose)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import text

from zhili.audit import AuditEvent, AuditLog, canonical, guard
from zhili.audit.chain import HASHED
from zhili.audit.verify import _select
from zhili.db import Database

T0 = dt.datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=dt.UTC)


def event(i: int, **values: Any) -> AuditEvent:
    """The i-th of a varied stream: Chinese text, quotes, nulls, floats, nested detail."""
    base: dict[str, Any] = {
        "action": "exchange.read" if i % 5 else "grant.revoke",
        "kind": "access" if i % 5 else "admin",
        "at": T0 + dt.timedelta(seconds=i, microseconds=i),
        "actor_id": 100 + i % 7,
        "actor_username": f"user{i % 7}",
        "org_id": 10 + i % 3,
        "system": "低保核查系统" if i % 2 else None,
        "grant_id": i % 4 or None,
        "purpose": f'核查 "低保" 资格 #{i}\n',
        "resource_code": f"330100-01-{i % 3:04d}",
        "provider_org_id": 20 + i % 3,
        "version": i % 5,
        "fields": ["name", "id_number", "地址"][: 1 + i % 3],
        "row_count": i * 10,
        "query_fingerprint": hashlib.sha256(str(i).encode()).hexdigest(),
        "outcome": ("ok", "denied", "error")[i % 3],
        "error_code": "access.denied" if i % 3 == 1 else None,
        "latency_ms": i * 0.5 if i % 4 else None,
        "detail": {"page": i, "filter": {"区": "和平区", "n": [1, 2.5, None]}},
    }
    base.update(values)
    return AuditEvent(**base)


def fill(db: Database, n: int) -> AuditLog:
    log = AuditLog(db)
    log.record_many(event(i) for i in range(1, n + 1))
    return log


def attack(db: Database, *statements: str, **params: Any) -> None:
    """Raw SQL with the append-only triggers lifted, in one transaction."""
    with db.engine.begin() as conn, guard.lifted(conn):
        for stmt in statements:
            conn.execute(text(stmt), params)


def row_hash(db: Database, seq: int, prev: str | None = None, new_seq: int | None = None) -> str:
    """What the hash of entry ``seq`` would be with ``prev_hash``/``seq`` replaced: the
    attacker's tool for forging entries that hash correctly."""
    with db.engine.connect() as conn:
        dialect = conn.dialect.name
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(_select(dialect, True), (seq - 1, seq, 1))
        values = list(cursor.fetchone())[1:]
    if prev is not None:
        values[HASHED.index("prev_hash")] = prev
    if new_seq is not None:
        values[HASHED.index("seq")] = new_seq
    return hashlib.sha256(canonical(*values).encode()).hexdigest()


def stored_hash(db: Database, seq: int) -> str:
    with db.engine.connect() as conn:
        return str(
            conn.execute(text("SELECT hash FROM audit_entries WHERE seq = :s"), {"s": seq}).scalar()
        )


def shift_up(db: Database, from_seq: int) -> None:
    """Renumber entries ``from_seq…`` one up, leaving a free ``from_seq`` (two steps, so no
    primary key collides on the way)."""
    attack(
        db,
        "UPDATE audit_entries SET seq = -seq WHERE seq >= :s",
        "UPDATE audit_entries SET seq = 1 - seq WHERE seq < 0",
        s=from_seq,
    )


def copy_as(db: Database, source: int, seq: int, prev: str, digest: str) -> None:
    """Insert a copy of entry ``source`` at ``seq`` with the given links (a forgery)."""
    cols = [c for c in ("hash", *HASHED) if c not in ("seq", "prev_hash", "hash")]
    names = ", ".join(cols)
    attack(
        db,
        f"INSERT INTO audit_entries (seq, prev_hash, hash, {names}) "
        f"SELECT :seq, :prev, :digest, {names} FROM audit_entries WHERE seq = :source",
        seq=seq,
        prev=prev,
        digest=digest,
        source=source,
    )


def rehash_forward(db: Database, from_seq: int) -> None:
    """Recompute prev_hash and hash of every entry from ``from_seq`` on, as an attacker
    covering their tracks would: the chain becomes self-consistent again."""
    prev = stored_hash(db, from_seq - 1) if from_seq > 1 else "0" * 64
    with db.engine.connect() as conn:
        last = int(conn.execute(text("SELECT MAX(seq) FROM audit_entries")).scalar())
    for seq in range(from_seq, last + 1):
        digest = row_hash(db, seq, prev=prev)
        attack(
            db,
            "UPDATE audit_entries SET prev_hash = :p, hash = :h WHERE seq = :s",
            p=prev,
            h=digest,
            s=seq,
        )
        prev = digest


def append_in_child(url: str, worker: int, n: int) -> int:
    """A separate process appending through its own AuditLog (another uvicorn worker)."""
    db = Database(url)
    try:
        log = AuditLog(db)
        for i in range(n):
            log.record(event(1000 * worker + i))
        return n
    finally:
        db.dispose()
