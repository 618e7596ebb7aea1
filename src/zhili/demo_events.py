"""Load the demo city's year of grid events (`zhili.synth.grid_events`) into the workflow
tables, laid on the official working calendar.

Each planned path is replayed step by step: a step lands its working hours after the one
before (`WorkCalendar.add_work_hours`), each stage runs on its category's limit, a stage
past its limit is escalated (督办) one level up at its due time and again one limit later,
and whatever would happen after now has not happened yet — so the most recent events are
still open in every state, some warned, some overdue. Rows go in with bulk inserts (no
per-event round trips); a second run adds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from zhili.apps.grid.categories import deadline
from zhili.apps.grid.event_models import (
    EventDepartment,
    EventFollower,
    EventNotice,
    EventStep,
    GridEvent,
)
from zhili.apps.grid.models import EventCategory, GridArea
from zhili.apps.grid.workflow import STAGE_OF, TRANSITIONS
from zhili.calendar.service import WorkCalendar
from zhili.db import Database
from zhili.errors import InvalidInput
from zhili.synth.city import City
from zhili.synth.grid_events import PlannedEvent, plan_events

CHUNK = 5000
MAX_ESCALATIONS = 3
#: code length of an area of each level in the demo city's codes
CODE_LEN = {"district": 6, "street": 9, "community": 12}
TOLD = {"closed": "closed", "rejected": "rejected", "merged": "merged"}


@dataclass
class _Replay:
    """One event while its path is replayed."""

    event: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    stage_work: float = 0.0


def _limit_hours(limits: dict[str, dict[str, Any]], daily: float) -> dict[str, float]:
    return {
        stage: float(v["amount"]) * (1 if v["unit"] == "hours" else daily)
        for stage, v in limits.items()
    }


def _enter(r: _Replay, cat: EventCategory, state: str, at: dt.datetime, cal: WorkCalendar) -> None:
    e = r.event
    stage = STAGE_OF.get(state)
    e["stage"], e["stage_seq"] = stage, e["seq"]
    e["stage_started_at"] = at if stage else None
    try:
        due = deadline(cat, stage, at, cal) if stage else None
    except InvalidInput as exc:  # a year whose holiday notice is not loaded: no clock
        if exc.code != "calendar.unknown_year":
            raise
        due = None
    e["stage_due_at"] = e["due_at"] = due
    e["warn_at"] = cal.add_work_hours(at, cal.working_time_between(at, due) * 0.8) if due else None
    r.stage_work = 0.0


def _escalate(
    r: _Replay, limit: float, until: dt.datetime, parents: dict[int, int], levels: dict[int, str],
    cal: WorkCalendar,
) -> None:  # fmt: skip
    """督办 at each due time passed before ``until`` (one level up each time)."""
    e = r.event
    while e["due_at"] is not None and e["due_at"] <= until and e["escalations"] < MAX_ESCALATIONS:
        parent = parents.get(e["command_area_id"])
        before = e["level"]
        if parent is not None:
            e["command_area_id"], e["level"] = parent, levels[parent]
        e["seq"] += 1
        e["escalations"] += 1
        e["supervised"] = True
        r.steps.append(
            _step(e, e["seq"], "escalate", e["state"], e["state"], e["due_at"],
                  {"from_level": before, "to_level": e["level"]})
        )  # fmt: skip
        e["due_at"] = cal.add_work_hours(e["due_at"], limit)


def _step(
    e: dict[str, Any], seq: int, action: str, before: str | None, after: str, at: dt.datetime,
    data: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    system = action in ("escalate",) or (
        e["source"] in ("grid_worker", "hotline") and action in ("register", "dispatch")
    )
    return {
        "event_id": e["id"], "area_id": e["area_id"], "seq": seq, "action": action,
        "from_state": before,
        "to_state": after, "actor_id": None,
        "actor_name": "system" if system else _actor_name(action), "org_id": None,
        "note": "", "data": data, "stage": data.get("stage"), "late": data.get("late"),
        "work_minutes": data.get("work_minutes"), "at": at,
    }  # fmt: skip


def _actor_name(action: str) -> str:
    role = TRANSITIONS[action].role if action in TRANSITIONS else "report"
    return {"command": "指挥中心", "handle": "处置部门", "verify": "网格员"}.get(role, "上报人")


def _replay(
    p: PlannedEvent, e: dict[str, Any], cat: EventCategory, limits: dict[str, float],
    now: dt.datetime, cal: WorkCalendar, parents: dict[int, int], levels: dict[int, str],
) -> _Replay:  # fmt: skip
    r = _Replay(e)
    t = p.reported_at
    for action, hours in p.path:
        at = t if action == "report" else cal.add_work_hours(t, hours)
        if e["stage"] is not None:
            _escalate(r, limits.get(e["stage"], 8.0), min(at, now), parents, levels, cal)
        if at > now:
            break
        target = "reported" if action == "report" else TRANSITIONS[action].target
        data: dict[str, Any] = {}
        keeps = e["state"] == "acknowledged" and target == "in_progress"
        r.stage_work += hours
        if action != "report" and e["stage"] is not None and not keeps:
            data = {"stage": e["stage"], "work_minutes": round(r.stage_work * 60, 1)}
            if e["stage_due_at"] is not None:
                data["late"] = at > e["stage_due_at"]
        if action == "dispatch":
            data |= {"departments": [e["_dept_code"]], "lead": e["_dept_code"]}
        e["seq"] += 1
        r.steps.append(_step(e, e["seq"], action, e["state"] if e["seq"] > 1 else None,
                             target, at, data))  # fmt: skip
        e["state"] = target
        if action == "reopen":
            e["reopened"] += 1
        if not keeps:
            _enter(r, cat, target, at, cal)
        t = at
    if e["state"] in TOLD:
        e["open"], e["closed_at"] = False, t
        e["stage"] = e["warn_at"] = e["stage_due_at"] = e["due_at"] = None
    return r


def _areas(session: Session) -> tuple[dict[str, int], dict[int, int], dict[int, str]]:
    ids, parents, levels = {}, {}, {}
    for area_id, code, level, parent in session.execute(
        select(GridArea.id, GridArea.code, GridArea.level, GridArea.parent_id)
    ):
        ids[code], levels[area_id] = area_id, level
        if parent is not None:
            parents[area_id] = parent
    return ids, parents, levels


def _command_code(grid: str, level: str, root: str) -> str:
    return root if level == "city" else grid[: CODE_LEN[level]]


def load_events(db: Database, city: City, n: int, *, now: dt.datetime, seed: int) -> int:
    """Plan and load ``n`` events over the year before ``now`` (nothing when any exist)."""
    with db.session() as s:
        have = s.scalar(select(func.count()).select_from(GridEvent)) or 0
        if have or n <= 0:
            return have
        cal = WorkCalendar.from_session(s)
        daily = cal.daily_working_time.total_seconds() / 3600
        cats = list(s.scalars(select(EventCategory).order_by(EventCategory.id)))
        if not cats:
            return 0
        limits = [_limit_hours(c.time_limits or {}, daily) for c in cats]
        plan = plan_events(
            city, [(c.code, c.name, lim) for c, lim in zip(cats, limits, strict=True)], n, now, seed
        )
        ids, parents, levels = _areas(s)
        depts = {c.id: c.department.code for c in cats}
        events, steps, departments, followers = [], [], [], []
        for i, p in enumerate(plan, start=1):
            cat = cats[p.category]
            command = ids[_command_code(p.grid, cat.level, city.root.code)]
            e: dict[str, Any] = {
                "id": i, "category_id": cat.id, "area_id": ids[p.grid], "command_area_id": command,
                "level": cat.level, "lon": p.lon, "lat": p.lat, "address": "",
                "description": p.description, "answers": {}, "source": p.source,
                "external_id": f"12345-{i:08d}" if p.source == "hotline" else None,
                "reporter_id": None, "reporter_name": None,
                "reporter_contact": _phone(i) if p.source == "hotline" else None,
                "state": "reported", "open": True, "seq": 0, "stage": None, "stage_seq": 0,
                "stage_started_at": None, "warn_at": None, "stage_due_at": None, "due_at": None,
                "warned_seq": 0, "escalations": 0, "supervised": False, "reopened": 0,
                "lead_department_id": cat.department_id,
                "merged_into_id": p.merge_with + 1 if p.merge_with is not None else None,
                "rating": None, "rating_comment": None, "rated_at": None,
                "reported_at": p.reported_at, "closed_at": None, "updated_at": now,
                "_dept_code": depts[cat.id],
            }  # fmt: skip
            r = _replay(p, e, cat, limits[p.category], now, cal, parents, levels)
            if e["state"] == "closed" and p.rating is not None:
                e["rating"], e["rated_at"] = p.rating, e["closed_at"]
            if e["state"] not in ("reported", "registered", "rejected", "merged"):
                departments.append(_lead(i, cat.department_id, p.reported_at))
            if p.source in ("public", "open311", "hotline"):
                token = hashlib.sha256(f"demo-{seed}-{i}".encode()).hexdigest()
                followers.append({"event_id": i, "user_id": None, "token_hash": token,
                                  "contact": e["reporter_contact"]})  # fmt: skip
            if e["state"] != "merged":
                e["merged_into_id"] = None
            e.pop("_dept_code")
            events.append(e)
            steps.extend(r.steps)
        _insert(s, GridEvent, events)
        _insert(s, EventStep, steps)
        _insert(s, EventDepartment, departments)
        _insert(s, EventFollower, followers)
        _notices(s, {e["id"]: e["state"] for e in events})
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT setval(pg_get_serial_sequence('grid_events', 'id'), "
                           "(SELECT max(id) FROM grid_events))"))  # fmt: skip
        return len(events)


def _phone(i: int) -> str:
    """A caller's number of the hotline export (made up, 11 digits, starting 13)."""
    return f"13{(i * 7919) % 10**9:09d}"


def _lead(event_id: int, department_id: int, at: dt.datetime) -> dict[str, Any]:
    return {"event_id": event_id, "department_id": department_id, "lead": True,
            "active": True, "dispatched_at": at}  # fmt: skip


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(model.__table__), rows[start : start + CHUNK])


def _notices(session: Session, states: dict[int, str]) -> None:
    rows = [
        {"follower_id": fid, "event_id": eid, "kind": TOLD[states[eid]], "params": {}}
        for fid, eid in session.execute(select(EventFollower.id, EventFollower.event_id))
        if states.get(eid) in TOLD
    ]
    _insert(session, EventNotice, rows)
