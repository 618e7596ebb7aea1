"""The stage clock of an event: when each stage started, when it warns (80 % of its time
limit), when it is due (100 %), all in working time by the official calendar with 调休.

The clock of the stage being left is read off into the step (stage, working minutes
spent, late or not), so time per stage and on-time rates are sums over steps rather than
guesses from the event's last state.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from zhili.apps.grid.categories import deadline
from zhili.apps.grid.event_models import EventState, GridEvent
from zhili.apps.grid.workflow import STAGE_OF
from zhili.calendar.service import WorkCalendar
from zhili.errors import InvalidInput

WARN_SHARE = 0.8


def _keeps_clock(event: GridEvent, state: str, action: str) -> bool:
    """Starting work (报到 → 处置中) and a co-department's 报到 do not restart the stage."""
    if event.state == EventState.acknowledged and state == EventState.in_progress:
        return True
    return state == event.state and action == "acknowledge"


def _limits(
    event: GridEvent, stage: str, calendar: WorkCalendar, now: dt.datetime
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(warn at, due at) of ``stage`` starting ``now``; none without a limit or when the
    calendar does not know the year yet (the step says so)."""
    try:
        due = deadline(event.category, stage, now, calendar)
        if due is None:
            return None, None
        warn = calendar.add_work_hours(now, calendar.working_time_between(now, due) * WARN_SHARE)
    except InvalidInput as exc:
        if exc.code != "calendar.unknown_year":
            raise
        return None, None
    return warn, due


def enter_state(
    event: GridEvent, state: str, action: str, calendar: WorkCalendar, now: dt.datetime
) -> dict[str, Any]:
    """Move ``event``'s clock into ``state`` (the step about to be written is seq + 1) and
    return what the step records of the stage left behind."""
    left: dict[str, Any] = {}
    if event.stage is not None and event.stage_started_at is not None:
        if _keeps_clock(event, state, action):
            return left
        try:
            spent = calendar.working_time_between(event.stage_started_at, now)
            left["work_minutes"] = round(spent.total_seconds() / 60, 1)
        except InvalidInput as exc:
            if exc.code != "calendar.unknown_year":
                raise
        left["stage"] = event.stage
        if event.stage_due_at is not None:
            left["late"] = now > event.stage_due_at
    stage = STAGE_OF.get(state)
    event.stage = stage
    event.stage_seq = event.seq + 1
    event.stage_started_at = now if stage else None
    warn, due = _limits(event, stage, calendar, now) if stage else (None, None)
    event.warn_at, event.stage_due_at, event.due_at = warn, due, due
    return left
