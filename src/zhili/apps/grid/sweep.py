"""The warning and escalation sweep (预警 and 督办): every minute, open events whose stage
passed 80 % of its time limit are flagged as warned, and those past 100 % are escalated
to the command centre one level up.

Set-based and in batches, each batch its own transaction, so a sweep over a million open
events neither holds locks for long nor loses its work when it stops half-way:

* a **warning** is not a state change. It only sets ``warned_seq = stage_seq`` (the stage
  has been warned about); ``seq`` — the row version — is left alone, so a handler acting
  on the event at that moment is not refused. Boards show the stage as 预警 while
  ``warned_seq == stage_seq`` and ``due_at`` is still ahead; no step is written. An
  escalation marks its stage warned too (escalations run first), so no row is written
  twice in one sweep.
* an **escalation** is a step (``escalate``, state unchanged, data ``from_level``,
  ``to_level``, ``due_at``): the command area moves to its parent (its level with it; the
  city stays the city), ``supervised`` is set, ``escalations`` counts, ``seq`` goes up one
  and ``due_at`` moves one limit of the stage on — from the missed due time, or from now
  when that is still past (a sweep catching up escalates each event once, not once per
  missed limit). So an escalated event is never due again in the same or a repeated
  sweep, and a sweep interrupted and restarted escalates nothing twice.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a handler holding an
event is not waited for; two sweepers never share a row); on SQLite writes are serialised.
Either way every update is conditioned on the ``seq`` that was read, so an event changed
by a handler in between is left for the next batch rather than escalated on stale data.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, select, text, true, update
from sqlalchemy.orm import Session, aliased

from zhili.apps.grid.event_models import EventStep, GridEvent
from zhili.apps.grid.models import EventCategory, GridArea
from zhili.calendar.service import WorkCalendar
from zhili.clock import utcnow
from zhili.db import Database
from zhili.errors import InvalidInput
from zhili.jobs.runner import periodic

log = logging.getLogger("zhili.grid.sweep")

SWEEP_SECONDS = 60
BATCH = 5000


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did: events warned (an escalated event's stage counts as warned and
    is not counted here), escalated, batches committed, time taken."""

    warned: int
    escalated: int
    batches: int
    seconds: float


@dataclass(frozen=True, slots=True)
class _Due:
    """One claimed overdue event and what its escalation writes."""

    id: int
    seq: int
    state: str
    from_level: str
    area_id: int
    to_level: str
    due_at: dt.datetime | None


class NextDue:
    """The next escalation time per (limit, missed due time), computed once per distinct
    pair: a million events share few limits and, per limit, the working-time arithmetic
    of a day-limit depends only on the local date."""

    def __init__(
        self, calendar: WorkCalendar, limits: Mapping[int, Mapping[str, Any]], now: dt.datetime
    ) -> None:
        self.calendar, self.limits, self.now = calendar, limits, now
        self._cache: dict[tuple[Any, ...], dt.datetime | None] = {}

    def _add(self, limit: Mapping[str, Any], start: dt.datetime) -> dt.datetime:
        if limit["unit"] == "hours":
            return self.calendar.add_work_hours(start, float(limit["amount"]))
        return self.calendar.deadline(start, int(limit["amount"]))

    def __call__(self, category_id: int, stage: str | None, due: dt.datetime) -> dt.datetime | None:
        limit = (self.limits.get(category_id) or {}).get(stage or "")
        if not limit:
            return None  # the catalogue dropped the limit: the clock stops
        if limit["unit"] == "hours":
            key: tuple[Any, ...] = ("h", float(limit["amount"]), due)
        else:
            key = ("d", int(limit["amount"]), due.astimezone(self.calendar.tz).date())
        if key not in self._cache:
            self._cache[key] = self._compute(limit, due)
        return self._cache[key]

    def _compute(self, limit: Mapping[str, Any], due: dt.datetime) -> dt.datetime | None:
        try:
            nxt = self._add(limit, due)
            return nxt if nxt > self.now else self._add(limit, self.now)
        except InvalidInput as exc:
            if exc.code != "calendar.unknown_year":
                raise
            return None  # as when a stage starts in an unloaded year: no clock


def sweep(
    db: Database,
    now: dt.datetime | None = None,
    *,
    batch: int = BATCH,
    calendar: WorkCalendar | None = None,
) -> SweepReport:
    """Warn and escalate every open event due at ``now`` (see the module); idempotent."""
    started = time.perf_counter()
    now = now or utcnow()
    with db.session() as session:
        calendar = calendar or WorkCalendar.from_session(session)
        limits = dict(session.execute(select(EventCategory.id, EventCategory.time_limits)).all())
    postgres = db.engine.dialect.name == "postgresql"
    next_due = NextDue(calendar, limits, now)
    warned = escalated = batches = 0
    while True:
        with db.engine.begin() as conn:
            claimed = _claim(conn, now, batch, postgres, next_due)
            done = _escalate(conn, claimed, now, postgres) if claimed else 0
        batches += 1
        escalated += done
        if len(claimed) < batch or done == 0:
            break
    while True:  # after the escalations, which mark their stage warned as well
        with db.engine.begin() as conn:
            n = _warn_batch(conn, now, batch, postgres)
        batches += 1
        warned += n
        if n < batch:
            break
    seconds = time.perf_counter() - started
    if warned or escalated:
        log.info("grid sweep: %d warned, %d escalated in %.2f s", warned, escalated, seconds)
    return SweepReport(warned, escalated, batches, round(seconds, 3))


def _warn_batch(conn: Connection, now: dt.datetime, batch: int, postgres: bool) -> int:
    e = GridEvent
    pending = and_(e.open == true(), e.warn_at <= now, e.warned_seq != e.stage_seq)
    ids = select(e.id).where(pending).limit(batch)
    if postgres:
        ids = ids.with_for_update(skip_locked=True)
    stmt = update(e).where(e.id.in_(ids.scalar_subquery()), pending)
    return conn.execute(stmt.values(warned_seq=e.stage_seq)).rowcount


def _claim(
    conn: Connection,
    now: dt.datetime,
    batch: int,
    postgres: bool,
    next_due: Callable[[int, str | None, dt.datetime], dt.datetime | None],
) -> list[_Due]:
    """Up to ``batch`` overdue open events, oldest due first, with their escalation."""
    e, here, parent = GridEvent, aliased(GridArea), aliased(GridArea)
    query = (
        select(
            e.id,
            e.seq,
            e.state,
            e.stage,
            e.category_id,
            e.due_at,
            e.level,
            e.command_area_id,
            parent.id,
            parent.level,
        )
        .join(here, here.id == e.command_area_id)
        .outerjoin(parent, parent.id == here.parent_id)
        .where(e.open == true(), e.due_at <= now)
        .order_by(e.due_at)
        .limit(batch)
    )
    if postgres:
        query = query.with_for_update(of=e, skip_locked=True)
    out = []
    for id_, seq, state, stage, category, due, level, area, up, up_level in conn.execute(query):
        out.append(
            _Due(
                id_,
                seq,
                state,
                level,
                up or area,
                up_level or level,
                next_due(category, stage, due),
            )
        )
    return out


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


_PG_ESCALATE = text("""
WITH v AS (
  SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:seqs AS integer[]),
                       CAST(:areas AS integer[]), CAST(:from_levels AS text[]),
                       CAST(:to_levels AS text[]), CAST(:dues AS timestamptz[]),
                       CAST(:due_isos AS text[]))
    AS v(id, seq, area, from_level, to_level, due, due_iso)
), up AS (
  UPDATE grid_events AS e
     SET command_area_id = v.area, level = v.to_level, supervised = true,
         warned_seq = e.stage_seq,
         escalations = e.escalations + 1, due_at = v.due, seq = e.seq + 1, updated_at = :now
    FROM v
   WHERE e.id = v.id AND e.seq = v.seq AND e.open
  RETURNING e.id, e.seq, e.state, v.from_level, v.to_level, v.due_iso
)
INSERT INTO grid_event_steps
  (event_id, seq, action, from_state, to_state, actor_name, note, data, at)
SELECT id, seq, 'escalate', state, state, 'system', '',
       json_build_object('from_level', from_level, 'to_level', to_level, 'due_at', due_iso),
       :now
  FROM up
""")


def _escalate(conn: Connection, claimed: list[_Due], now: dt.datetime, postgres: bool) -> int:
    """Write the escalations of one batch: the events and their steps, in one transaction;
    how many were escalated (an event whose ``seq`` moved meanwhile is left)."""
    if postgres:
        params = {
            "ids": [d.id for d in claimed],
            "seqs": [d.seq for d in claimed],
            "areas": [d.area_id for d in claimed],
            "from_levels": [d.from_level for d in claimed],
            "to_levels": [d.to_level for d in claimed],
            "dues": [d.due_at for d in claimed],
            "due_isos": [_iso(d.due_at) for d in claimed],
            "now": now,
        }
        return conn.execute(_PG_ESCALATE, params).rowcount
    e = GridEvent
    stmt = (
        update(e)
        .where(e.id == bindparam("b_id"), e.seq == bindparam("b_seq"), e.open == true())
        .values(
            command_area_id=bindparam("b_area"),
            level=bindparam("b_level"),
            supervised=True,
            warned_seq=e.stage_seq,
            escalations=e.escalations + 1,
            due_at=bindparam("b_due"),
            seq=e.seq + 1,
            updated_at=now,
        )
    )
    steps = []
    for d in claimed:
        params = {"b_id": d.id, "b_seq": d.seq, "b_area": d.area_id, "b_level": d.to_level}
        if conn.execute(stmt, {**params, "b_due": d.due_at}).rowcount != 1:
            continue
        steps.append(
            {
                "event_id": d.id, "seq": d.seq + 1, "action": "escalate",
                "from_state": d.state, "to_state": d.state, "actor_name": "system",
                "note": "", "at": now,
                "data": {"from_level": d.from_level, "to_level": d.to_level,
                         "due_at": _iso(d.due_at)},
            }
        )  # fmt: skip
    if steps:
        conn.execute(insert(EventStep), steps)
    return len(steps)


@periodic("grid.sweep", every_seconds=SWEEP_SECONDS)
def _periodic(session: Session) -> None:
    """The job runners' minute sweep (every server process runs it; see the module)."""
    db = session.info.get("database")
    if isinstance(db, Database):
        sweep(db)
