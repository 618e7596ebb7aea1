"""Audit log on SQLite: append N hash-chained entries with the batch appender against a plain
INSERT of the same rows without hashing (same batches, same transactions, same durability,
same indexes), then verify the whole chain. Goals: append ≥ 20,000 entries/s; verify 1M
entries ≤ 10 s."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bench.run import Case, Result, peak_rss_mb

THREADS = 8


def _events(n: int, seed: int = 7) -> Iterator[list]:
    """Batches (the appender's BATCH) of varied access events, uniformly spread over 2,000
    users and resources and 5,000 grants (real logs are more skewed, which is cheaper)."""
    from zhili.audit import AuditEvent
    from zhili.audit.log import BATCH

    rnd = random.Random(seed)
    t0 = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    fields = [["姓名", "身份证号"], ["姓名", "地址", "联系电话"], ["统一社会信用代码", "名称"]]
    batch: list = []
    for i in range(n):
        batch.append(
            AuditEvent(
                action="exchange.read",
                at=t0 + dt.timedelta(milliseconds=i),
                actor_id=rnd.randrange(1, 2_000),
                actor_username=f"user{rnd.randrange(2_000)}",
                org_id=rnd.randrange(1, 120),
                system="低保核查系统" if i % 3 else None,
                grant_id=rnd.randrange(1, 5_000),
                purpose="核查低保对象家庭成员信息",
                resource_code=f"330100-01-{rnd.randrange(2_000):04d}",
                provider_org_id=rnd.randrange(1, 120),
                version=rnd.randrange(1, 30),
                fields=fields[i % 3],
                row_count=rnd.randrange(1, 1_000),
                query_fingerprint=hashlib.sha256(str(i % 997).encode()).hexdigest(),
                latency_ms=round(rnd.random() * 40, 3),
                detail={"engine": "duckdb", "page": i % 10},
            )
        )
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _plain(db, n: int) -> float:
    """The baseline: the same rows, batches and transactions, no hashing, no head read."""
    from zhili.audit.log import _COLUMNS, _insert_sql

    sql = _insert_sql("sqlite")
    seconds, seq = 0.0, 0
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for batch in _events(n):
            start = time.perf_counter()
            rows = []
            for e in batch:
                seq += 1
                values = {
                    **{c: getattr(e, c, None) for c in _COLUMNS},
                    "seq": seq,
                    "at": e.at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    "fields": e.fields_json,
                    "detail": e.detail_json,
                    "prev_hash": "",
                    "hash": "",
                }
                rows.append(tuple(values[c] for c in _COLUMNS))
            raw.execute("PRAGMA synchronous=FULL")
            raw.execute("PRAGMA cache_size=-65536")  # as the appender's own connections
            raw.execute("BEGIN IMMEDIATE")
            raw.executemany(sql, rows)
            raw.commit()
            seconds += time.perf_counter() - start
    return seconds


def _append(db, n: int) -> float:
    from zhili.audit import AuditLog

    log = AuditLog(db)
    seconds = 0.0
    for batch in _events(n):
        start = time.perf_counter()
        log.record_many(batch)
        seconds += time.perf_counter() - start
    return seconds


def _threaded(db, n: int) -> tuple[float, float]:
    """record() one entry at a time from THREADS threads (request handlers): entries/s and
    the mean number of entries per group commit."""
    from zhili.audit import AuditLog

    log = AuditLog(db)
    groups: list[int] = []
    write = log._write

    def counting(events):  # type: ignore[no-untyped-def]
        groups.append(len(events))
        return write(events)

    log._write = counting  # type: ignore[method-assign]
    per_thread = n // THREADS
    work = [batch for batch in _events(per_thread * THREADS, seed=11)]
    flat = [e for batch in work for e in batch]

    def run(k: int) -> None:
        for e in flat[k * per_thread : (k + 1) * per_thread]:
            log.record(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    return per_thread * THREADS / seconds, sum(groups) / len(groups)


def run(quick: bool) -> Result:
    from zhili.audit.log import BATCH
    from zhili.audit.verify import verify
    from zhili.db import Database, migrate

    load_start = os.getloadavg()[0]
    n = 100_000 if quick else 1_000_000
    threaded_n = 8_000 if quick else 40_000
    work = Path(tempfile.mkdtemp(prefix="zhili-bench-audit-"))
    try:
        dbs = {}
        for name in ("plain", "zhili", "threads"):
            url = f"sqlite:///{work / name / 'zhili.db'}"
            migrate(url)
            dbs[name] = Database(url)
        plain_s = _plain(dbs["plain"], n)
        append_s = _append(dbs["zhili"], n)
        threaded_per_s, mean_group = _threaded(dbs["threads"], threaded_n)
        parallel = verify(dbs["zhili"])
        single = verify(dbs["zhili"], workers=1)
        assert parallel.ok and single.ok and parallel.entries == n, parallel.message
        size_mb = (work / "zhili" / "zhili.db").stat().st_size / 2**20
        for db in dbs.values():
            db.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()[0]
    append_per_s = n / append_s
    plain_per_s = n / plain_s
    verify_1m = parallel.seconds * 1_000_000 / n
    ratio = append_per_s / plain_per_s
    return Result(
        metrics={
            "entries": n,
            "append_s": round(append_s, 2),
            "append_entries_per_s": round(append_per_s),
            "plain_insert_s": round(plain_s, 2),
            "plain_insert_rows_per_s": round(plain_per_s),
            "threads_record_one_at_a_time_per_s": round(threaded_per_s),
            "threads_mean_entries_per_commit": round(mean_group, 1),
            "verify_s": round(parallel.seconds, 2),
            "verify_entries_per_s": round(n / parallel.seconds),
            "verify_one_process_s": round(single.seconds, 2),
            "db_mb": round(size_mb, 1),
            "peak_rss_mib": round(peak_rss_mb()),
        },
        ratio=ratio,
        ratio_label="zhili append entries/s ÷ plain INSERT rows/s",
        goal="append ≥ 20,000 entries/s; verify 1M entries ≤ 10 s",
        goal_met=append_per_s >= 20_000 and verify_1m <= 10,
        notes=[
            f"Batches of {BATCH:,} entries per transaction, `BEGIN IMMEDIATE` and "
            "`synchronous=FULL` (one WAL fsync per commit) for both; events built untimed.",
            f"`threads_…`: {THREADS} threads each calling `record()` for single entries, as "
            "request handlers do; group commit batches whatever is queued.",
            "`verify_s` uses worker processes (one per CPU, ranges of 50,000); "
            "`verify_one_process_s` is one streaming pass."
            + ("" if not quick else " Quick mode: verify of 1M estimated as 10× this run."),
            f"1-minute load average {load_start:.1f} at the start, {load_end:.1f} at the end, "
            f"on {os.cpu_count()} CPUs: other jobs share this machine, so compare the ratio.",
        ],
    )


CASE = Case(
    name="audit_log",
    title="Audit log: append 1M hash-chained entries and verify the chain",
    baseline="plain INSERT of the same rows without hashing (same batches and transactions)",
    run=run,
)
