"""The working-day calendar over HTTP: read a month or a day; admins load a year's notice
and correct single days."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from zhili.access import require
from zhili.calendar import notice
from zhili.calendar.service import WorkCalendar
from zhili.web.deps import CurrentActor, DbSession, authorize

router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"])
READ = [Depends(authorize("calendar.read"))]
MANAGE = [Depends(authorize("calendar.manage"))]


class NoticeIn(BaseModel):
    text: str = Field(description="CSV: date,kind,name (kind holiday|workday; a..b ranges).")
    replace: bool = False


class DayIn(BaseModel):
    is_workday: bool
    name: str | None = Field(default=None, max_length=100)


@router.get("/workday/{day}", dependencies=READ)
def workday(day: dt.date, actor: CurrentActor, session: DbSession) -> dict:
    """Whether ``day`` is a working day (422 for a year nobody has loaded)."""
    require(actor, "calendar.read")
    cal = WorkCalendar.from_session(session)
    return {"date": day.isoformat(), "is_workday": cal.is_workday(day)}


@router.get("/{year}/{month}", dependencies=READ)
def month(
    year: Annotated[int, Path(ge=1900, le=2200)],
    month: Annotated[int, Path(ge=1, le=12)],
    actor: CurrentActor,
    session: DbSession,
) -> dict:
    """Every day of a month with its working-day flag and holiday name."""
    require(actor, "calendar.read")
    cal = WorkCalendar.from_session(session)
    return {"year": year, "month": month, "days": cal.calendar_month(year, month)}


@router.post("/years/{year}", dependencies=MANAGE, status_code=201)
def load_year(
    year: Annotated[int, Path(ge=1900, le=2200)],
    body: NoticeIn,
    actor: CurrentActor,
    session: DbSession,
) -> dict:
    """Load a year from the State Council's notice (all lines or none)."""
    require(actor, "calendar.manage")
    notice.load_notice(
        session, year, body.text, loaded_by=actor.username, replace=body.replace, actor=actor
    )
    return {"year": year, "loaded": True}


@router.get("/years/{year}", dependencies=READ)
def export_year(
    year: Annotated[int, Path(ge=1900, le=2200)], actor: CurrentActor, session: DbSession
) -> dict:
    """A loaded year in the notice CSV form, so it can be reviewed and reloaded."""
    require(actor, "calendar.read")
    return {"year": year, "text": notice.export_year(session, year)}


@router.put("/days/{day}", dependencies=MANAGE)
def set_day(day: dt.date, body: DayIn, actor: CurrentActor, session: DbSession) -> dict:
    """Correct one day of a loaded year."""
    require(actor, "calendar.manage")
    notice.set_day(session, day, body.is_workday, body.name, loaded_by=actor.username, actor=actor)
    return {"date": day.isoformat(), "is_workday": body.is_workday, "name": body.name}


@router.delete("/days/{day}", dependencies=MANAGE)
def remove_day(day: dt.date, actor: CurrentActor, session: DbSession) -> dict:
    """Return one day to the Monday–Friday rule."""
    require(actor, "calendar.manage")
    notice.remove_day(session, day)
    return {"date": day.isoformat(), "removed": True}
