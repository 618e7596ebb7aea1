"""Recompute the chain, streaming: keyset pages by ``seq``, plain tuples, hashlib.

Checks, entry by entry in ``seq`` order, and names the first failure:

- ``missing_seq``: ``seq`` must run 1, 2, 3, … — a deleted entry leaves a gap;
- ``hash_mismatch``: the entry's hash is not the SHA-256 of its content (an edited field,
  or an entry moved to another ``seq``);
- ``broken_link``: ``prev_hash`` is not the hash of the entry before (an inserted or
  reordered entry, or an edit whose hash was recomputed);
- ``anchor_mismatch``: the entry differs from a head recorded earlier outside the database
  (:mod:`zhili.audit.anchors`) — the only way to catch someone who rewrote an entry *and
  recomputed every hash after it*; an anchored entry that is gone is ``missing_seq``;
- ``malformed``: a stored value cannot even be put into canonical form.

Memory stays bounded (one page of tuples); rows are read raw from the driver, timestamps
and JSON as text, and hashed as they come, since ORM objects would cost more than the hashing.
Every entry's own hash is independent of the others, so a large log is split into ranges
checked by worker processes; the parent checks the links where ranges meet, which gives
exactly the verdict of one pass in order.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from zhili.audit.anchors import Anchor
from zhili.audit.chain import GENESIS, HASHED, canonical
from zhili.db import Database

PAGE = 20_000  # rows per keyset page
SPAN = 50_000  # entries per range when verifying in parallel
PARALLEL_FROM = 200_000  # below this, worker start-up costs more than it saves
REASONS = ("missing_seq", "hash_mismatch", "broken_link", "anchor_mismatch", "malformed")
_BEFORE_LINK = frozenset({"missing_seq", "hash_mismatch", "malformed"})

# Positions in a row of (hash, *HASHED).
_PREV = 1 + HASHED.index("prev_hash")
_SEQ = 1 + HASHED.index("seq")

# Timestamps come back as canonical text (``iso``) and JSON as the text stored, so each
# row goes to canonical() as it is. SQLAlchemy stores SQLite times as
# 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC); any other text simply fails to hash.
_AS_TEXT = {
    "postgresql": {
        "at": "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00'",
        "detail": "CAST(detail AS TEXT)",
        "fields": "CAST(fields AS TEXT)",
    },
    "sqlite": {"at": "substr(at, 1, 10) || 'T' || substr(at, 12) || '+00:00'"},
}


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The verdict: ``ok`` with the head, or the first broken entry and why."""

    ok: bool
    entries: int  # entries found intact (all of them when ok)
    head_seq: int  # the last intact entry
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None
    message: str = ""
    anchors_checked: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Part:
    """What checking the entries ``lo+1 … hi`` found."""

    lo: int
    first_prev: str | None  # prev_hash of entry lo+1, for the caller to link
    good_seq: int  # last entry that passed every check
    good_hash: str
    anchors_ok: int
    fail: tuple[int, str] | None  # (seq, reason)


def _select(dialect: str, bounded: bool) -> str:
    """Rows as ``(hash, *HASHED)``: timestamps and JSON as the text that was stored."""
    texts = _AS_TEXT.get(dialect, {})
    cols = ", ".join(texts.get(c, c) for c in ("hash", *HASHED))
    mark = "%s" if dialect == "postgresql" else "?"
    upper = f" AND seq <= {mark}" if bounded else ""
    return f"SELECT {cols} FROM audit_entries WHERE seq > {mark}{upper} ORDER BY seq LIMIT {mark}"


def _pages(conn: Connection, lo: int, hi: int | None, page: int) -> Iterator[list[Any]]:
    sql = _select(conn.dialect.name, hi is not None)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    after = lo
    try:
        while True:
            cursor.execute(sql, (after, page) if hi is None else (after, hi, page))
            rows = cursor.fetchall()
            if not rows:
                return
            yield rows
            after = rows[-1][_SEQ]
    finally:
        cursor.close()


def _check(
    conn: Connection,
    lo: int,
    hi: int | None,
    prev: str | None,
    anchors: Sequence[Anchor],
    page: int,
    progress: Callable[[int], None] | None = None,
) -> _Part:
    """Check entries ``lo+1 … hi`` (to the end when ``hi`` is None) in order. ``prev`` is
    the hash entry ``lo`` must have, or None to leave that first link to the caller."""
    sha = hashlib.sha256
    todo = sorted(anchors, key=lambda a: a.seq)
    ai, next_anchor = 0, (todo[0].seq if todo else -1)
    expected, first_prev = lo + 1, None
    good_seq, good_hash = lo, prev or ""
    fail: tuple[int, str] | None = None
    for rows in _pages(conn, lo, hi, page):
        for r in rows:
            seq = r[_SEQ]
            if seq != expected:
                fail = (expected, "missing_seq")
                break
            try:
                digest = sha(canonical(*r[1:]).encode()).hexdigest()
            except (TypeError, ValueError):
                fail = (seq, "malformed")
                break
            if digest != r[0]:
                fail = (seq, "hash_mismatch")
                break
            if first_prev is None:
                first_prev = r[_PREV]
            if prev is not None and r[_PREV] != prev:
                fail = (seq, "broken_link")
                break
            while seq == next_anchor:
                if todo[ai].hash != digest:
                    fail = (seq, "anchor_mismatch")
                    break
                ai += 1
                next_anchor = todo[ai].seq if ai < len(todo) else -1
            if fail:
                break
            prev, expected = digest, seq + 1
            good_seq, good_hash = seq, digest
        if fail:
            break
        if progress:
            progress(len(rows))
    if fail is None and hi is not None and expected <= hi:
        fail = (expected, "missing_seq")
    return _Part(lo, first_prev, good_seq, good_hash, ai, fail)


_worker_dbs: dict[str, Database] = {}


def _check_range(url: str, lo: int, hi: int | None, anchors: list[Anchor], page: int) -> _Part:
    """One range, in a worker process (which keeps one Database per URL)."""
    db = _worker_dbs.get(url)
    if db is None:
        db = _worker_dbs[url] = Database(url)
    with db.engine.connect() as conn:
        return _check(conn, lo, hi, None, anchors, page)


def _parallel(
    db: Database,
    total: int,
    anchors: Sequence[Anchor],
    workers: int,
    page: int,
    progress: Callable[[int], None] | None,
) -> tuple[int, str, int, tuple[int, str] | None]:
    bounds = list(range(0, total, SPAN))
    ranges = [(lo, lo + SPAN if lo + SPAN < total else None) for lo in bounds]
    context = multiprocessing.get_context("spawn")  # safe under a threaded server
    head_seq, head_hash, anchors_ok = 0, GENESIS, 0
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [
            pool.submit(
                _check_range,
                db.url,
                lo,
                hi,
                [a for a in anchors if lo < a.seq and (hi is None or a.seq <= hi)],
                page,
            )
            for lo, hi in ranges
        ]
        try:
            for future in futures:
                part = future.result()
                # At entry lo+1, a gap or a bad hash comes before its link (as in one pass).
                early = part.fail and part.fail[0] == part.lo + 1 and part.fail[1] in _BEFORE_LINK
                if not early and part.first_prev is not None and part.first_prev != head_hash:
                    return head_seq, head_hash, anchors_ok, (part.lo + 1, "broken_link")
                anchors_ok += part.anchors_ok
                if part.good_seq > part.lo:
                    head_seq, head_hash = part.good_seq, part.good_hash
                if part.fail:
                    return head_seq, head_hash, anchors_ok, part.fail
                if progress:
                    progress(part.good_seq - part.lo)
        finally:
            for future in futures:
                future.cancel()
    return head_seq, head_hash, anchors_ok, None


def _message(seq: int, reason: str, anchors: Sequence[Anchor], lost: Anchor | None) -> str:
    earlier = [a for a in anchors if a.seq < seq]
    anchor = next((a for a in anchors if a.seq == seq), None)
    when = f", recorded at {anchor.at}," if anchor and anchor.at else ""
    if reason == "missing_seq":
        if lost is not None:
            return (
                f"entry {seq} is missing: the log ends at {seq - 1}, but entry {lost.seq} "
                f"was recorded{' at ' + lost.at if lost.at else ''} (entries deleted)"
            )
        return f"entry {seq} is missing (deleted)"
    if reason == "hash_mismatch":
        return f"entry {seq} does not match its hash (its content was changed)"
    if reason == "broken_link":
        return f"entry {seq} does not link to entry {seq - 1} (inserted, removed or reordered)"
    if reason == "anchor_mismatch":
        since = f" after entry {earlier[-1].seq}" if earlier else ""
        return f"entry {seq} differs from its recorded head{when} the log was rewritten{since}"
    return f"entry {seq} cannot be read"


def verify(
    db: Database,
    *,
    anchors: Sequence[Anchor] = (),
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    page: int = PAGE,
) -> VerifyResult:
    """Recompute the whole chain and check ``anchors``; name the first broken entry.

    ``workers`` processes check ranges in parallel (default: the CPUs, for a log of at
    least :data:`PARALLEL_FROM` entries); ``progress`` is called with entries done.
    """
    start = time.perf_counter()
    anchors = sorted(anchors, key=lambda a: a.seq)
    total = count(db)
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if total >= PARALLEL_FROM else 1
    if workers > 1 and total > SPAN:
        head_seq, head_hash, anchors_ok, fail = _parallel(
            db, total, anchors, workers, page, progress
        )
    else:
        with db.engine.connect() as conn:
            part = _check(conn, 0, None, GENESIS, anchors, page, progress)
        head_seq, head_hash, anchors_ok, fail = (
            part.good_seq,
            part.good_hash,
            part.anchors_ok,
            part.fail,
        )
    lost: Anchor | None = None
    if fail is None and anchors_ok < len(anchors):  # an anchored entry lies past the end
        lost = anchors[anchors_ok]
        fail = (head_seq + 1, "missing_seq")
    seconds = time.perf_counter() - start
    if fail is None:
        return VerifyResult(
            True,
            head_seq,
            head_seq,
            head_hash,
            message=f"{head_seq} entries intact, head {head_hash}",
            anchors_checked=anchors_ok,
            seconds=seconds,
        )
    seq, reason = fail
    return VerifyResult(
        False,
        head_seq,
        head_seq,
        head_hash,
        broken_seq=seq,
        reason=reason,
        message=_message(seq, reason, anchors, lost),
        anchors_checked=anchors_ok,
        seconds=seconds,
    )


def count(db: Database) -> int:
    """The highest ``seq`` (the number of entries in an intact log): a progress total."""
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT COALESCE(MAX(seq), 0) FROM audit_entries")).scalar())
