"""Statistics of grid governance over HTTP: ``GET /api/v1/grid/stats`` — one breakdown
per request (``group``), narrowed to the events the caller may see. Thin: the figures are
``zhili.apps.grid.stats``'s; this module only reads the query."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from zhili.apps.grid import stats
from zhili.clock import CITY_TZ
from zhili.errors import InvalidInput
from zhili.web.deps import CurrentActor, DbSession, authorize

router = APIRouter(prefix="/api/v1/grid", tags=["grid"])
READ = [Depends(authorize("grid.event.read"))]
GROUPS = ("overview", "level", "area", "category", "stage", "day", "heat")


def moment(value: str | None, field: str, *, end: bool = False) -> dt.datetime | None:
    """An ISO date or date-time (no offset: the city's time). A bare date is the start of
    that day — for ``until`` the end of it, so ``since=2025-03-01&until=2025-03-31`` is
    all of March."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if end else 0)
            return dt.datetime.combine(day, dt.time(), CITY_TZ)
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "grid.stats_bad_time", "{field}: {value!r} is not an ISO 8601 date or time",
            field=field, value=value,
        ) from None  # fmt: skip
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CITY_TZ)


@router.get("/stats", dependencies=READ)
def grid_stats(
    actor: CurrentActor,
    session: DbSession,
    group: Annotated[str, Query(description=f"one of {', '.join(GROUPS)}")] = "overview",
    area: Annotated[str | None, Query(description="an area's code: its subtree")] = None,
    since: Annotated[str | None, Query(description="ISO date or time, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO date (inclusive) or time")] = None,
    level: Annotated[str, Query(description="group=area: the level")] = "district",
) -> dict[str, Any]:
    """One breakdown of the events the caller may see (see docs/grid.md, Statistics)."""
    if group not in GROUPS:
        raise InvalidInput(
            "grid.stats_bad_group", "{value!r} is not one of {valid}",
            field="group", value=group, valid=", ".join(GROUPS),
        )  # fmt: skip
    kw: dict[str, Any] = {
        "area": area or None,
        "since": moment(since, "since"),
        "until": moment(until, "until", end=True),
    }
    data: Any
    if group == "overview":
        data = stats.overview(session, actor, **kw)
    elif group == "level":
        data = stats.by_level(session, actor, **kw)
    elif group == "area":
        data = stats.by_area(session, actor, level=level, **kw)
    elif group == "category":
        data = stats.by_category(session, actor, **kw)
    elif group == "stage":
        data = stats.time_per_stage(session, actor, **kw)
    elif group == "day":
        data = stats.per_day(session, actor, **kw)
    else:
        data = stats.heat(session, actor, **kw)
    window = {k: (v.isoformat() if v else None) for k, v in kw.items() if k != "area"}
    return {"group": group, "area": kw["area"], **window, "data": data}
