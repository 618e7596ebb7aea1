"""The escalation sweep (预警, 督办) over 1M open events on PostgreSQL, 10 % of them past
their due time and 10 % more past 80 %: zhili's sweep (batches of 5,000, each its own
transaction, rows claimed FOR UPDATE SKIP LOCKED, next due time in working time, one
``escalate`` step per event) against one bare ``UPDATE … WHERE open AND due_at <= now``
on the same table (no batches, no steps, no working time; rolled back). Goal: ≤ 30 s.
A second sweep at the same moment must find nothing to do."""

from __future__ import annotations

import time

from bench.grid_data import NOW, fill_events, pg_url, seed_city
from bench.run import Case, Result, peak_rss_mb


def run(quick: bool) -> Result:
    from sqlalchemy import text

    from zhili.apps.grid.sweep import sweep
    from zhili.db import Database

    n = 50_000 if quick else 1_000_000
    db = Database(pg_url("zhili_bench_grid_sweep"))
    try:
        seed_city(db)
        started = time.perf_counter()
        fill_events(db, n, days=30, open_share=1.0, overdue_share=0.10, warn_share=0.10)
        generate = time.perf_counter() - started
        with db.engine.connect() as conn:
            due = conn.execute(
                text("SELECT count(*) FROM grid_events WHERE open AND due_at <= :now"), {"now": NOW}
            ).scalar_one()
            start = time.perf_counter()
            bare = conn.execute(
                text("UPDATE grid_events SET supervised = true, escalations = escalations + 1, "
                     "seq = seq + 1 WHERE open AND due_at <= :now"), {"now": NOW},
            ).rowcount  # fmt: skip
            baseline = time.perf_counter() - start
            conn.rollback()
        report = sweep(db, NOW)
        again = sweep(db, NOW)
        with db.engine.connect() as conn:
            steps = conn.execute(
                text("SELECT count(*), count(DISTINCT event_id) FROM grid_event_steps "
                     "WHERE action = 'escalate'")
            ).one()  # fmt: skip
    finally:
        db.dispose()
    ok = report.escalated == due == bare == steps[0] == steps[1] and again.escalated == 0
    return Result(
        metrics={
            "open_events": n,
            "due_events": due,
            "generate_s": round(generate, 1),
            "sweep_s": round(report.seconds, 2),
            "warned": report.warned,
            "escalated": report.escalated,
            "batches": report.batches,
            "escalations_per_s": round(report.escalated / report.seconds),
            "bare_update_s": round(baseline, 2),
            "second_sweep_escalated": again.escalated,
            "second_sweep_s": round(again.seconds, 2),
            "escalate_steps": steps[0],
            "peak_rss_mb": round(peak_rss_mb()),
        },
        ratio=report.seconds / baseline,
        ratio_label="sweep ÷ bare UPDATE of the due rows (lower is better)",
        goal="sweep over 1M open events ≤ 30 s; each due event escalated exactly once",
        goal_met=(report.seconds <= 30 and ok) if not quick else None,
        notes=[
            "Each due event gets one escalate step and its next due time in working time "
            "(per distinct missed due time and limit); the baseline writes no steps.",
            f"consistency check (every due event escalated once, rerun finds none): {ok}",
        ],
    )


CASE = Case(
    "grid_sweep",
    "Grid escalation sweep (督办) over 1M open events, PostgreSQL",
    "one bare UPDATE … WHERE open AND due_at <= now",
    run,
)
