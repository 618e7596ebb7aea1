"""Statistics of grid governance for the statistics page and ``GET /api/v1/grid/stats``:
how many events, how many still open, late or escalated, how fast each stage is done,
how satisfied the reporters are — per level, area, category and day, and a heat map.

Everything is one GROUP BY query in the database, narrowed to the events the actor may
see (``visibility.visible_filter``) and, optionally, to an area's subtree and a period. A
commander's figures are those of the areas they command (``commanded_area_ids``), and an
area's subtree is a list of ids from the in-memory tree, so both are one ``area_id IN``
the ``(area_id, reported_at)`` index serves:

* event figures count the events **reported** in ``[since, until)`` (index on
  ``reported_at``); "open", "overdue" (past its stage's limit) and "warning" (past 80 %)
  are as of ``now``;
* stage figures — the on-time rate and the time per stage — count the stages **completed**
  in the period: the steps that left a stage (they carry ``stage``, ``late`` and
  ``work_minutes`` in typed columns, see ``clock``), found by a partial index on the
  step's time that holds those columns;
* per day: reported per day of ``reported_at``, closed per day of ``closed_at`` (the city's
  local days).

Per-area figures group by the event's area in SQL and add the areas up to the asked
level from the in-memory tree (a city has some 25,000 areas), so no path parsing runs in
the database and the same query serves every level.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, Select, cast, false, func, select, true
from sqlalchemy.orm import Session

from zhili.access import Actor, Role, require
from zhili.apps.grid.area_tree import area_tree
from zhili.apps.grid.areas import get_area
from zhili.apps.grid.category_spec import STAGES
from zhili.apps.grid.event_models import EventState, EventStep, GridEvent
from zhili.apps.grid.models import AREA_LEVELS, EventCategory, GridArea
from zhili.apps.grid.visibility import SEE_ALL, commanded_area_ids, visible_filter
from zhili.clock import utcnow
from zhili.errors import InvalidInput

#: heat-map cell edge (metres) and how many cells at most (the heaviest first)
CELL_M = 200.0
MAX_CELLS = 20_000
_M_PER_DEG = 111_320.0
_UTC_OFFSET_HOURS = 8  # Asia/Shanghai: no DST since 1991
E = GridEvent


@dataclass(frozen=True, slots=True)
class Scope:
    """Which events and which period a figure counts."""

    #: clauses on ``GridEvent`` other than its area: visible to the actor (none: all)
    events: list[ColumnElement[bool]]
    since: dt.datetime | None
    until: dt.datetime | None
    #: the areas counted (None: every area)
    areas: list[int] | None = None

    def where(self) -> list[ColumnElement[bool]]:
        """The scope's clauses on ``GridEvent``, its areas included."""
        return [*self.events, *self.in_areas(E.area_id)]

    def in_areas(self, column: Any) -> list[ColumnElement[bool]]:
        """``column`` (an event's or a step's area) among the scope's areas."""
        if self.areas is None:
            return []
        return [column.in_(self.areas) if self.areas else false()]

    def period(self, column: Any) -> list[ColumnElement[bool]]:
        """``column`` in ``[since, until)``."""
        out = []
        if self.since is not None:
            out.append(column >= self.since)
        if self.until is not None:
            out.append(column < self.until)
        return out

    def reported(self) -> list[ColumnElement[bool]]:
        return [*self.where(), *self.period(E.reported_at)]


def scope(
    session: Session,
    actor: Actor,
    area: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Scope:
    """The events ``actor`` may see inside ``area``'s subtree (a code), and the period."""
    require(actor, "grid.event.read")
    if since is not None and until is not None and until <= since:
        raise InvalidInput("grid.stats_bad_period", "until must be after since", field="until")
    events: list[ColumnElement[bool]] = []
    inside: set[int] | None = None  # area ids (None: no area limit)
    if area is not None:
        root = get_area(session, area)
        if root.parent_id is not None:  # the whole city needs no filter
            inside = area_tree(session).subtree_ids([root.id])
    if Role.commander in actor.roles and not actor.roles & SEE_ALL:
        # a commander's figures are those of the areas they command, as one list of ids
        # the (area_id, reported_at) index serves — not the OR of every event they may
        # see (those they only follow elsewhere are on their lists, not in their figures)
        commanded = commanded_area_ids(session, actor)
        if len(commanded) < len(area_tree(session).nodes):  # the whole city: no list
            inside = commanded if inside is None else inside & commanded
    else:
        visible = visible_filter(session, actor)
        if not visible.compare(true()):
            events.append(visible)
    return Scope(events, since, until, None if inside is None else sorted(inside))


def _figures(now: dt.datetime) -> list[Any]:
    """The event counts every breakdown shows, as FILTERed aggregates."""
    return [
        func.count().label("reported"),
        func.count().filter(E.open == true()).label("open"),
        func.count().filter(E.state == EventState.closed).label("closed"),
        func.count().filter(E.open == true(), E.stage_due_at <= now).label("overdue"),
        func.count().filter(E.escalations > 0).label("escalated"),
        func.count(E.rating).label("rated"),
        func.avg(cast(E.rating, Float)).label("satisfaction"),
    ]


COUNTS = ("reported", "open", "closed", "overdue", "escalated", "rated")


def _row(m: Any) -> dict[str, Any]:
    out: dict[str, Any] = {k: int(m[k] or 0) for k in COUNTS}
    out["satisfaction"] = (
        round(float(m["satisfaction"]), 2) if m["satisfaction"] is not None else None
    )
    return out


def _stage_steps(sc: Scope) -> Select[Any]:
    """Steps that completed a stage in the period, of the scope's events: the areas by the
    step's own ``area_id``, other limits by joining the events."""
    query = select().select_from(EventStep).where(_STAGE.is_not(None), *sc.period(EventStep.at))
    query = query.where(*sc.in_areas(EventStep.area_id))
    if sc.events:
        query = query.join(E, E.id == EventStep.event_id).where(*sc.events)
    return query


#: the typed copies of ``data``'s stage, late and work_minutes (no JSON parsed per step)
_STAGE = EventStep.stage
_LATE = EventStep.late
_MINUTES = EventStep.work_minutes


def overview(
    session: Session,
    actor: Actor,
    *,
    area: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The headline figures: events reported, open, closed, rejected, merged, overdue and
    warning (as of ``now``), escalated, reopened, rated and mean rating (1–5), and the
    on-time rate of the stages completed in the period (None when none was)."""
    now = now or utcnow()
    sc = scope(session, actor, area, since, until)
    extra = {
        "rejected": func.count().filter(E.state == EventState.rejected),
        "merged": func.count().filter(E.state == EventState.merged),
        "warning": func.count().filter(E.open == true(), E.warn_at <= now, E.stage_due_at > now),
        "reopened": func.count().filter(E.reopened > 0),
    }
    query = select(*_figures(now), *(v.label(k) for k, v in extra.items())).where(*sc.reported())
    m = session.execute(query).one()._mapping
    out = _row(m) | {k: int(m[k] or 0) for k in extra}
    done, late = session.execute(
        _stage_steps(sc).add_columns(func.count(), func.count().filter(_LATE.is_(True)))
    ).one()
    out["stages_done"], out["stages_late"] = int(done or 0), int(late or 0)
    out["on_time_rate"] = round(1 - late / done, 4) if done else None
    return out


def by_level(
    session: Session,
    actor: Actor,
    *,
    area: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The figures per current command level (where escalation left each event), top down."""
    sc = scope(session, actor, area, since, until)
    query = select(E.level, *_figures(now or utcnow())).where(*sc.reported()).group_by(E.level)
    rows = {r.level: {"level": r.level, **_row(r._mapping)} for r in session.execute(query)}
    return [rows[lv] for lv in AREA_LEVELS if lv in rows]


def by_category(
    session: Session,
    actor: Actor,
    *,
    area: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The figures per category (code, names, group), most reported first."""
    sc = scope(session, actor, area, since, until)
    counted = (
        select(E.category_id, *_figures(now or utcnow()))
        .where(*sc.reported())
        .group_by(E.category_id)
        .subquery()
    )
    c = EventCategory
    query = select(c.code, c.name, c.name_en, c.group, counted).join(
        counted, counted.c.category_id == c.id
    )
    out = [
        {"code": r.code, "name": r.name, "name_en": r.name_en, "group": r.group, **_row(r._mapping)}
        for r in session.execute(query)
    ]
    return sorted(out, key=lambda r: (-r["reported"], r["code"]))


def by_area(
    session: Session,
    actor: Actor,
    *,
    level: str = "district",
    area: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The figures per area of ``level`` (where the events are, not who commands them),
    most reported first; events located above that level (no area of it holds them) are
    left out."""
    if level not in AREA_LEVELS:
        raise InvalidInput(
            "grid.stats_bad_level", "{value!r} is not one of {valid}",
            field="level", value=level, valid=", ".join(AREA_LEVELS),
        )  # fmt: skip
    sc = scope(session, actor, area, since, until)
    query = select(E.area_id, *_figures(now or utcnow())).where(*sc.reported()).group_by(E.area_id)
    rows = session.execute(query).all()
    depth = AREA_LEVELS.index(level)  # type: ignore[arg-type]
    nodes = area_tree(session).nodes
    sums: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        node = nodes.get(r.area_id)
        ids = node.path_ids() if node is not None else []
        if len(ids) <= depth:
            continue
        m, acc = r._mapping, sums[ids[depth]]
        for k in COUNTS:
            acc[k] += m[k] or 0
        if m["satisfaction"] is not None:
            acc["_rating_sum"] += float(m["satisfaction"]) * m["rated"]
    out = []
    for area_id, acc in sums.items():
        a = nodes[area_id]
        row = {k: int(acc[k]) for k in COUNTS}
        row["satisfaction"] = round(acc["_rating_sum"] / acc["rated"], 2) if acc["rated"] else None
        out.append({"code": a.code, "name": a.name, "name_en": a.name_en, "level": a.level, **row})
    return sorted(out, key=lambda r: (-r["reported"], r["code"]))


def time_per_stage(
    session: Session,
    actor: Actor,
    *,
    area: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Per stage (in workflow order): stages completed in the period, how many late, the
    on-time rate, and the mean and median working minutes they took."""
    sc = scope(session, actor, area, since, until)
    base = _stage_steps(sc)
    postgres = session.get_bind().dialect.name == "postgresql"
    columns = [
        _STAGE.label("stage"),
        func.count().label("done"),
        func.count().filter(_LATE.is_(True)).label("late"),
        func.avg(_MINUTES).label("mean"),
    ]
    if postgres:
        columns.append(func.percentile_cont(0.5).within_group(_MINUTES).label("p50"))
    rows = session.execute(base.add_columns(*columns).group_by(_STAGE)).all()
    medians = {} if postgres else _medians(session, base)
    out = []
    for r in sorted(rows, key=lambda r: STAGES.index(r.stage) if r.stage in STAGES else 99):
        p50 = r.p50 if postgres else medians.get(r.stage)
        out.append({
            "stage": r.stage, "done": int(r.done), "late": int(r.late or 0),
            "on_time_rate": round(1 - (r.late or 0) / r.done, 4) if r.done else None,
            "mean_minutes": round(float(r.mean), 1) if r.mean is not None else None,
            "p50_minutes": round(float(p50), 1) if p50 is not None else None,
        })  # fmt: skip
    return out


def _medians(session: Session, base: Select[Any]) -> dict[str, float]:
    """SQLite has no percentile: the median per stage from its ordered minutes, read one
    stage at a time with a window (row number and count), only the middle rows fetched."""
    ranked = (
        base.add_columns(
            _STAGE.label("stage"),
            _MINUTES.label("m"),
            func.row_number().over(partition_by=_STAGE, order_by=_MINUTES).label("i"),
            func.count().over(partition_by=_STAGE).label("n"),
        )
        .where(_MINUTES.is_not(None))
        .subquery()
    )
    middle = (
        select(ranked.c.stage, func.avg(ranked.c.m))
        .where(ranked.c.i.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]))
        .group_by(ranked.c.stage)
    )
    return {stage: float(v) for stage, v in session.execute(middle)}


def _local_day(session: Session, column: Any) -> Any:
    """The city's local date of a UTC timestamp column, as ISO text."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM-DD")
    return func.date(column, f"+{_UTC_OFFSET_HOURS} hours")


def per_day(
    session: Session,
    actor: Actor,
    *,
    area: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """``{"day", "reported", "closed"}`` per local day that had any, in order: events
    reported that day, events closed that day (whenever reported)."""
    sc = scope(session, actor, area, since, until)
    counts: dict[str, dict[str, Any]] = {}
    for key, column in (("reported", E.reported_at), ("closed", E.closed_at)):
        day = _local_day(session, column)
        query = (
            select(day.label("day"), func.count())
            .where(*sc.where(), *sc.period(column))
            .group_by(day)
        )
        if key == "closed":
            query = query.where(E.state == EventState.closed)
        for d, n in session.execute(query):
            counts.setdefault(str(d), {"day": str(d), "reported": 0, "closed": 0})[key] = int(n)
    return [counts[d] for d in sorted(counts)]


def heat(
    session: Session,
    actor: Actor,
    *,
    area: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    cell_m: float = CELL_M,
) -> list[list[float]]:
    """``[lon, lat, weight]`` per cell of about ``cell_m`` metres (the cell's centre and
    its events reported in the period), for an ECharts heat map; the heaviest
    ``MAX_CELLS`` cells."""
    sc = scope(session, actor, area, since, until)
    lat0 = session.scalar(select(GridArea.center_lat).where(GridArea.parent_id.is_(None))) or 0.0
    dlat = cell_m / _M_PER_DEG
    dlon = dlat / max(math.cos(math.radians(lat0)), 0.01)
    if session.get_bind().dialect.name == "postgresql":
        x, y = func.floor(E.lon / dlon), func.floor(E.lat / dlat)
    else:  # CAST truncates: shift to positive first, so it floors
        x = cast(E.lon / dlon + 1e6, Integer) - 1_000_000
        y = cast(E.lat / dlat + 1e6, Integer) - 1_000_000
    weight = func.count()
    query = (
        select(x.label("x"), y.label("y"), weight.label("w"))
        .where(*sc.reported())
        .group_by(x, y)
        .order_by(weight.desc())
        .limit(MAX_CELLS)
    )
    return [
        [round((float(cx) + 0.5) * dlon, 6), round((float(cy) + 0.5) * dlat, 6), int(w)]
        for cx, cy, w in session.execute(query)
    ]
