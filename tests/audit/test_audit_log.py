"""Appending: canonical form, the chain as written, group commit, threads and processes,
and a log the application cannot change."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from audit_data import append_in_child, event, fill
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from zhili.access import Actor
from zhili.audit import (
    GENESIS,
    AuditEntry,
    AuditEvent,
    AuditLog,
    append,
    canonical,
    canonical_json,
    entry_hash,
    fingerprint,
)
from zhili.audit.chain import HASHED, iso
from zhili.audit.verify import verify
from zhili.db import Database


def _recomputed(e: AuditEntry) -> str:
    values = {name: getattr(e, name) for name in HASHED}
    values["at"] = iso(e.at)
    values["fields"] = canonical_json(e.fields)
    values["detail"] = canonical_json(e.detail)
    return entry_hash(*(values[name] for name in HASHED))


def test_canonical_is_plain_sorted_compact_json() -> None:
    values = {
        "action": 'a"b\\c',
        "actor_id": 7,
        "actor_username": "王伟",
        "at": "2026-11-24T01:02:03.456789+00:00",
        "detail": canonical_json({"z": 1, "a": [1.5, None, "区\n"]}),
        "error_code": None,
        "fields": canonical_json(["姓名", "id"]),
        "grant_id": None,
        "kind": "access",
        "latency_ms": 0.1,
        "org_id": 3,
        "outcome": "ok",
        "prev_hash": GENESIS,
        "provider_org_id": 4,
        "purpose": "tab\there\u0001",
        "query_fingerprint": None,
        "resource_code": "X",
        "row_count": 10**12,
        "seq": 1,
        "system": None,
        "version": 0,
    }
    expected = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(*(values[k] for k in HASHED)) == expected
    assert values["detail"] == '{"a":[1.5,null,"区\\n"],"z":1}'


def test_records_form_a_chain_from_genesis(db: Database) -> None:
    log = AuditLog(db)
    records = [log.record(event(i)) for i in range(1, 4)]
    assert [r.seq for r in records] == [1, 2, 3]
    with db.session() as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [e.prev_hash for e in rows] == [GENESIS, rows[0].hash, rows[1].hash]
    assert [e.hash for e in rows] == [r.hash for r in records]
    assert all(_recomputed(e) == e.hash for e in rows)


def test_values_round_trip(db: Database) -> None:
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    actor = Actor(kind="token", user_id=5, username="wang", org_id=9, system="低保系统")
    e = AuditEvent.access(
        actor,
        "exchange.read",
        at=at,
        fields=("姓名", "身份证号"),
        detail={"区": "和平区", "n": [1, 2.0]},
        latency_ms=3,
        row_count=12,
        query_fingerprint=fingerprint({"where": [["age", ">", 60]]}),
    )
    AuditLog(db).record(e)
    with db.session() as s:
        got = s.scalars(select(AuditEntry)).one()
    assert (got.actor_id, got.actor_username, got.org_id, got.system) == (5, "wang", 9, "低保系统")
    assert got.kind == "access" and got.at == at and got.at.tzinfo is not None
    assert got.fields == ["姓名", "身份证号"] and got.detail == {"区": "和平区", "n": [1, 2.0]}
    assert got.latency_ms == 3.0 and isinstance(got.latency_ms, float)
    assert _recomputed(got) == got.hash
    admin = AuditEvent.admin(actor, "grant.revoke", system=None)
    assert admin.kind == "admin" and admin.system is None


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "read"},
        {"outcome": "maybe"},
        {"action": ""},
        {"action": "x" * 65},
        {"at": dt.datetime(2026, 1, 1)},
        {"latency_ms": float("nan")},
        {"detail": {"when": dt.date(2026, 1, 1)}},
        {"purpose": "nul\x00"},
        {"fields": "name"},
    ],
)
def test_bad_events_fail_where_they_are_made(bad: dict) -> None:
    with pytest.raises((ValueError, TypeError)):
        AuditEvent(**{"action": "exchange.read", **bad})


def _all_in_one_group(log: AuditLog, threads: list[threading.Thread]) -> None:
    """Start ``threads`` (each records once) while a commit seems in progress, so they all
    queue, then let one of them write the whole group; wait for all."""
    log._write_lock.acquire()
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(log._queue) < len(threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    log._write_lock.release()
    with log._done:
        log._done.notify_all()
    for t in threads:
        t.join(10)


def test_group_commit_writes_queued_records_in_one_transaction(db: Database) -> None:
    log = AuditLog(db)
    writes: list[int] = []
    real = log._write

    def counting(events, alsos):
        writes.append(len(events))
        return real(events, alsos)

    log._write = counting  # type: ignore[method-assign]
    results: list = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(log.record(event(i))))
        for i in range(1, 9)
    ]
    _all_in_one_group(log, threads)
    assert writes == [8]
    assert sorted(r.seq for r in results) == list(range(1, 9))
    assert verify(db).ok


def test_a_bad_entry_fails_only_its_caller(db: Database) -> None:
    log = AuditLog(db)
    poisoned = event(2)
    object.__setattr__(poisoned, "kind", None)  # past validation: the write itself fails
    outcomes: dict[int, object] = {}

    def call(i: int, e: AuditEvent) -> None:
        try:
            outcomes[i] = log.record(e).seq
        except TypeError as exc:
            outcomes[i] = exc

    threads = [
        threading.Thread(target=call, args=(i, e))
        for i, e in ((1, event(1)), (2, poisoned), (3, event(3)))
    ]
    _all_in_one_group(log, threads)
    assert isinstance(outcomes[2], TypeError)
    assert sorted(v for k, v in outcomes.items() if k != 2) == [1, 2]  # type: ignore[type-var]
    assert verify(db).entries == 2


def _day_row(day: dt.date):
    """Work for ``also``: a calendar row, to see whether it committed with the entry."""
    from zhili.calendar.models import CalendarDay

    def write(conn) -> None:
        conn.execute(CalendarDay.__table__.insert().values(day=day, is_workday=True))

    return write


def _days(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM calendar_days")).scalar_one())


def test_also_commits_with_the_entry_or_neither_commits(db: Database) -> None:
    log = AuditLog(db)
    log.record(event(1), also=_day_row(dt.date(2026, 1, 5)))
    assert (_days(db), verify(db).entries) == (1, 1)

    def failing(conn) -> None:
        _day_row(dt.date(2026, 1, 6))(conn)
        raise RuntimeError("metering failed")

    with pytest.raises(RuntimeError):
        log.record(event(2), also=failing)
    with pytest.raises(DBAPIError):  # the same day again: the insert itself fails
        log.record(event(3), also=_day_row(dt.date(2026, 1, 5)))
    assert (_days(db), verify(db).entries) == (1, 1)


def test_a_failing_also_in_a_group_fails_only_its_caller(db: Database) -> None:
    log = AuditLog(db)
    outcomes: dict[int, object] = {}

    def call(i: int, day: dt.date) -> None:
        try:
            outcomes[i] = log.record(event(i), also=_day_row(day)).seq
        except DBAPIError as exc:
            outcomes[i] = exc

    days = {1: dt.date(2026, 2, 2), 2: dt.date(2026, 2, 2), 3: dt.date(2026, 2, 3)}
    threads = [threading.Thread(target=call, args=(i, d)) for i, d in days.items()]
    _all_in_one_group(log, threads)
    failed = [i for i, v in outcomes.items() if isinstance(v, DBAPIError)]
    assert len(failed) == 1 and failed[0] in (1, 2)  # whichever came second
    assert (_days(db), verify(db).entries) == (2, 2)


def test_shared_log_is_one_per_database_and_closed_with_it(database_url: str) -> None:
    from zhili.audit import log_of, shared_log

    db = Database(database_url)
    try:
        assert shared_log(db) is shared_log(db)
        with db.session() as s:
            assert log_of(s) is shared_log(db)
        from sqlalchemy.orm import Session

        with Session(db.engine) as bare:
            assert log_of(bare) is None  # not a Database's session: no appender to find
    finally:
        db.dispose()
    assert db.services == {}


def test_session_wrote_sees_the_first_write(db: Database) -> None:
    from zhili.audit import session_wrote
    from zhili.calendar.models import CalendarDay

    with db.session() as s:
        assert not session_wrote(s)
        s.execute(text("SELECT count(*) FROM audit_entries")).scalar()
        assert not session_wrote(s)  # reading takes no write lock
        s.add(CalendarDay(day=dt.date(2026, 3, 2), is_workday=True))
        s.flush()
        assert session_wrote(s)
    with db.session() as s:
        assert not session_wrote(s)


def test_threads_and_a_second_appender_keep_one_chain(db: Database) -> None:
    first, second = AuditLog(db), AuditLog(db)  # two appenders: as two workers would be
    errors: list[BaseException] = []

    def work(log: AuditLog, k: int) -> None:
        try:
            for i in range(25):
                log.record(event(k * 100 + i))
            log.record_many(event(k * 100 + 50 + i) for i in range(10))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(first if k % 2 else second, k)) for k in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    result = verify(db)
    assert result.ok, result.message
    assert result.entries == 8 * 35


def test_processes_append_to_one_chain(db: Database) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        done = list(pool.map(append_in_child, [db.url] * 3, [1, 2, 3], [40] * 3))
    AuditLog(db).record(event(1))
    assert sum(done) == 120
    result = verify(db)
    assert result.ok and result.entries == 121, result.message


def test_append_commits_and_rolls_back_with_the_act(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        append(s, [event(1)])
        raise RuntimeError("the act failed")
    with db.session() as s:
        records = append(s, [event(2), event(3)])
    assert [r.seq for r in records] == [1, 2]
    assert verify(db).entries == 2


def test_appends_inside_concurrent_request_transactions(db: Database) -> None:
    """What the exchange does: each read appends in its own request's transaction, which
    may have written nothing before — no two may take the same head."""
    errors: list[BaseException] = []

    def request(k: int) -> None:
        try:
            for i in range(15):
                with db.session() as s:
                    s.execute(text("SELECT COUNT(*) FROM audit_entries"))
                    append(s, [event(k * 100 + i)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=request, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    result = verify(db)
    assert result.ok and result.entries == 90, result.message


def test_the_application_cannot_change_the_log(db: Database) -> None:
    fill(db, 3)
    with pytest.raises(DBAPIError, match="append-only"), db.session() as s:
        s.scalars(select(AuditEntry).where(AuditEntry.seq == 2)).one().purpose = "nothing"
    with pytest.raises(DBAPIError, match="append-only"), db.session() as s:
        s.delete(s.scalars(select(AuditEntry).where(AuditEntry.seq == 3)).one())
    for sql in ("UPDATE audit_entries SET row_count = 0", "DELETE FROM audit_entries"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(sql))
    result = verify(db)
    assert result.ok and result.entries == 3


def test_fingerprint_is_stable() -> None:
    a = fingerprint({"b": 1, "a": ["x", 2]})
    assert a == fingerprint({"a": ["x", 2], "b": 1}) and len(a) == 64
    assert fingerprint("SELECT 1") != fingerprint("SELECT 2")


def test_sqlite_appenders_queue_in_the_kernel_beside_the_database(db: Database) -> None:
    log = AuditLog(db)
    log.record(event(1))
    path = log._lock_path()
    if db.url.startswith("sqlite"):
        assert path == db.url.split("///", 1)[-1] + ".audit-lock"
        assert Path(path).exists()  # processes wait on its flock, not in SQLite's sleeps
    else:
        assert path is None  # PostgreSQL: the advisory lock queues them already
    assert verify(db).ok
