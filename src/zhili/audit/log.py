"""Appending to the chain: group commit in one process, one writer at a time across all.

Every append runs in a transaction that first takes the chain's lock, then reads the head
(last ``seq`` and ``hash``) from the database — never from memory, since another worker may
have appended since — and inserts the new entries linked to it:

- PostgreSQL: ``pg_advisory_xact_lock``, released by commit or rollback;
- SQLite: ``BEGIN IMMEDIATE`` takes the database's single write lock up front (a
  transaction that has written already holds it).

Within a process, :class:`AuditLog` batches concurrent callers: each queues its events; the
one that finds nobody writing writes everything queued in one transaction (one fsync) and
wakes the others. A caller returns only once its entry is committed — no row leaves
the exchange unless its audit record is durable — but a busy server pays one commit per
batch, not per read. Two appenders that somehow race can never fork the chain: ``seq`` is
the primary key, so the second insert of a ``seq`` fails.

A ticket may carry work that must commit as one unit with its entry (the exchange meters a
grant's usage this way), run in the batch's transaction under the chain lock. Every part
of a process finds its appender with :func:`shared_log`, so a server's requests, jobs and
apps all share one queue per database.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own busy wait alone
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from zhili.audit.chain import GENESIS, entry_hash, iso
from zhili.audit.events import AuditEvent, AuditRecord
from zhili.audit.models import AuditEntry
from zhili.db import Database, make_engine

# pg_advisory_xact_lock key of the chain: b"zhili:au" as a signed 64-bit integer.
CHAIN_LOCK_KEY = int.from_bytes(b"zhili:au", "big", signed=True)
# Entries per transaction in record_many. Each transaction rewrites about one index page per
# distinct resource, grant and user it names, so bigger batches write less per entry; the
# chain lock is held for well under a second per batch.
BATCH = 20_000

_HEAD = text("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")


def head(conn: Connection) -> tuple[int, str]:
    """The chain's last ``(seq, hash)``; ``(0, GENESIS)`` for an empty log."""
    row = conn.execute(_HEAD).first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def lock_chain(conn: Connection) -> None:
    """Serialise appenders across processes until this transaction ends, so the head read
    next is still the head at the insert.

    PostgreSQL: the chain's advisory lock. SQLite: its one write lock — ``BEGIN IMMEDIATE``
    when the connection is not in a transaction yet; one that is has written already (the
    driver begins transactions at the first write) and so holds it.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})
    elif conn.dialect.name == "sqlite" and not _in_transaction(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # busy_timeout: waits, does not fail


def _in_transaction(conn: Connection) -> bool:
    raw: Any = conn.connection.dbapi_connection
    return bool(raw.in_transaction)


# Insert order of the columns; values are bound raw (no SQLAlchemy type processing), so the
# JSON columns hold exactly the canonical text that was hashed.
_COLUMNS: tuple[str, ...] = tuple(c.name for c in AuditEntry.__table__.columns)


def _insert_sql(dialect: str) -> str:
    if dialect == "postgresql":
        marks = ", ".join(
            "CAST(%s AS JSON)" if c in ("fields", "detail") else "%s" for c in _COLUMNS
        )
    else:
        marks = ", ".join("?" for _ in _COLUMNS)
    return f"INSERT INTO audit_entries ({', '.join(_COLUMNS)}) VALUES ({marks})"


def _rows(
    events: Sequence[AuditEvent], seq: int, prev: str, sqlite: bool
) -> tuple[list[tuple[object, ...]], list[str]]:
    """The rows to insert (in :data:`_COLUMNS` order) and their hashes."""
    rows: list[tuple[object, ...]] = []
    hashes: list[str] = []
    for e in events:
        seq += 1
        at = iso(e.at)
        digest = entry_hash(
            e.action,
            e.actor_id,
            e.actor_username,
            at,
            e.detail_json,
            e.error_code,
            e.fields_json,
            e.grant_id,
            e.kind,
            e.latency_ms,
            e.org_id,
            e.outcome,
            prev,
            e.provider_org_id,
            e.purpose,
            e.query_fingerprint,
            e.resource_code,
            e.row_count,
            seq,
            e.system,
            e.version,
        )
        rows.append(
            (
                seq,
                # SQLAlchemy's own SQLite format ("YYYY-MM-DD HH:MM:SS.ffffff", UTC), so the
                # ORM reads these rows like any other.
                f"{at[:10]} {at[11:26]}" if sqlite else e.at,
                e.kind,
                e.action,
                e.actor_id,
                e.actor_username,
                e.org_id,
                e.system,
                e.grant_id,
                e.purpose,
                e.resource_code,
                e.provider_org_id,
                e.version,
                e.fields_json,
                e.row_count,
                e.query_fingerprint,
                e.outcome,
                e.error_code,
                e.latency_ms,
                e.detail_json,
                prev,
                digest,
            )
        )
        hashes.append(digest)
        prev = digest
    return rows, hashes


def append(bind: Connection | Session, events: Sequence[AuditEvent]) -> list[AuditRecord]:
    """Append ``events`` inside the caller's transaction; they commit (or roll back) with it.

    For a read or an act whose record must be one unit with it. The chain lock
    (:func:`lock_chain`) is held until that transaction ends: append last and commit soon.
    The commit is the caller's, with the caller's durability (on SQLite the application's
    ``synchronous=NORMAL``; :class:`AuditLog` commits with ``FULL``).
    """
    if not events:
        return []
    conn = bind.connection() if isinstance(bind, Session) else bind
    dialect = conn.dialect.name
    lock_chain(conn)
    seq, prev = head(conn)
    rows, hashes = _rows(events, seq, prev, dialect == "sqlite")
    conn.exec_driver_sql(_insert_sql(dialect), rows)  # type: ignore[arg-type]
    return [
        AuditRecord(seq + i, digest, e.at)
        for i, (digest, e) in enumerate(zip(hashes, events, strict=True), 1)
    ]


#: Work run in an append's transaction before its entries are inserted (see the module doc).
Also = Callable[[Connection], None]


@dataclass(eq=False)
class _Ticket:
    events: Sequence[AuditEvent]
    also: Also | None = None
    records: list[AuditRecord] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class AuditLog:
    """The appender a process shares (the web app keeps one; so may a worker).

    It writes through an engine of its own so that, on SQLite, every audit commit fsyncs
    the WAL (``synchronous=FULL``) without changing the durability of the application's
    other connections (``durable=False`` keeps the database's default), with a larger
    page cache for the indexes.

    Example::

        log = AuditLog(db)
        log.record(AuditEvent.access(actor, "exchange.read", resource_code="…", row_count=100))
    """

    def __init__(self, db: Database, *, durable: bool = True) -> None:
        self.db = db
        self.durable = durable
        self._engine: Engine | None = None
        self._queue: list[_Ticket] = []
        self._done = threading.Condition()  # guards the queue; notified after each commit
        self._write_lock = threading.Lock()  # held by the one thread writing

    def record(self, event: AuditEvent, *, also: Also | None = None) -> AuditRecord:
        """Append one event; returns once it is committed — together with ``also``'s
        writes, if given (a failure of either fails both)."""
        return self._submit([event], also)[0]

    def record_many(self, events: Iterable[AuditEvent]) -> list[AuditRecord]:
        """Append many events in order, :data:`BATCH` per transaction; returns once all
        are committed. Entries of other threads may interleave between transactions."""
        out: list[AuditRecord] = []
        batch: list[AuditEvent] = []
        for event in events:
            batch.append(event)
            if len(batch) >= BATCH:
                out += self._submit(batch)
                batch = []
        if batch:
            out += self._submit(batch)
        return out

    def close(self) -> None:
        """Close the appender's connections (it reopens them when used again)."""
        with self._write_lock:
            if self._engine is not None and self._engine is not self.db.engine:
                self._engine.dispose()
            self._engine = None

    def _submit(self, events: Sequence[AuditEvent], also: Also | None = None) -> list[AuditRecord]:
        """Queue ``events``; lead a group commit when nobody is writing, else wait for the
        writer to take them along. Followers wait on a condition, not on the write lock,
        so a committed caller returns at once instead of queueing behind the next batch."""
        ticket = _Ticket(events, also)
        with self._done:
            self._queue.append(ticket)
        while True:
            if self._write_lock.acquire(blocking=False):
                try:
                    if not ticket.done:  # still queued: write everything queued
                        with self._done:
                            group, self._queue = self._queue, []
                        self._commit(group)
                finally:
                    self._write_lock.release()
                    with self._done:
                        self._done.notify_all()
                break
            with self._done:
                if ticket.done:
                    break
                if self._write_lock.locked():  # its holder notifies when it is done
                    self._done.wait(1.0)
        if ticket.error is not None:
            raise ticket.error
        return ticket.records

    def _commit(self, group: list[_Ticket]) -> None:
        events = [e for t in group for e in t.events]
        try:
            records = self._write(events, [t.also for t in group if t.also is not None])
        except BaseException as exc:
            if len(group) == 1 or not isinstance(exc, Exception):
                _fail(group, exc)
                return
            for t in group:  # one caller's bad entry must not fail the others
                try:
                    t.records, t.done = self._write(t.events, [t.also] if t.also else []), True
                except Exception as one:
                    _fail([t], one)
            return
        i = 0
        for t in group:
            t.records, t.done = records[i : i + len(t.events)], True
            i += len(t.events)

    def _writer(self) -> Engine:
        if self._engine is None:
            url = self.db.url
            if not url.startswith("sqlite") or ":memory:" in url or url == "sqlite://":
                self._engine = self.db.engine  # PostgreSQL's durability is the server's
            else:
                self._engine = make_engine(url)
                pragmas = _WRITER_PRAGMAS + (("PRAGMA synchronous=FULL",) if self.durable else ())
                sa_event.listen(self._engine, "connect", functools.partial(_pragmas, pragmas))
        return self._engine

    def _write(self, events: Sequence[AuditEvent], alsos: Sequence[Also]) -> list[AuditRecord]:
        with self._queue_turn(), self._writer().connect() as conn:  # closing rolls back
            lock_chain(conn)  # first: every writer takes its locks in the same order
            for also in alsos:
                also(conn)
            records = append(conn, events)
            conn.commit()
        return records

    @contextlib.contextmanager
    def _queue_turn(self) -> Iterator[None]:
        """On a SQLite file, wait for the other processes' appenders in the kernel
        (``flock`` on a file beside the database) before asking SQLite for its write
        lock: a process refused that lock polls for it with growing sleeps (1, 2, 5 … ms),
        and under load those sleeps, not the work, set the pace. The flock wakes the next
        waiter the moment the holder's commit is done. A convenience for speed only: the
        chain's safety rests on ``lock_chain`` as before."""
        path = self._lock_path()
        if path is None:
            yield
            return
        with open(path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _lock_path(self) -> str | None:
        url = self.db.url
        if fcntl is None or not url.startswith("sqlite") or ":memory:" in url:
            return None
        path = url.split("///", 1)[-1]
        return path + ".audit-lock" if path else None


_SHARED_LOCK = threading.Lock()


def shared_log(db: Database) -> AuditLog:
    """The appender of ``db`` that everything in this process shares (kept among the
    database's services, closed by its ``dispose``), so concurrent callers share commits."""
    with _SHARED_LOCK:
        log = db.services.get("audit_log")
        if log is None:
            log = db.services["audit_log"] = AuditLog(db)
        assert isinstance(log, AuditLog)
        return log


def log_of(session: Session) -> AuditLog | None:
    """The shared appender of the database ``session`` belongs to (None for a session not
    made by a :class:`~zhili.db.Database`)."""
    db = session.info.get("database")
    return shared_log(db) if isinstance(db, Database) else None


def session_wrote(session: Session) -> bool:
    """Whether ``session``'s transaction has written (and so may hold the write lock the
    shared appender would wait for). SQLite begins a transaction only at the first write;
    PostgreSQL assigns a transaction id only then."""
    if not session.in_transaction():
        return False
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        return _in_transaction(conn)
    if conn.dialect.name == "postgresql":
        return conn.exec_driver_sql("SELECT pg_current_xact_id_if_assigned()").scalar() is not None
    return True


def _fail(tickets: list[_Ticket], exc: BaseException) -> None:
    """Hand ``exc`` to the callers waiting on ``tickets``."""
    for t in tickets:
        t.error, t.done = exc, True


# Random index keys (resources, grants, orgs) touch many pages per batch: a page cache of
# 64 MiB keeps them in memory instead of SQLite's default 2 MiB.
_WRITER_PRAGMAS = ("PRAGMA cache_size=-65536",)


def _pragmas(statements: tuple[str, ...], dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    for stmt in statements:
        cur.execute(stmt)
    cur.close()
