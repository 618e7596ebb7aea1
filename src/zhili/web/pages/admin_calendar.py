"""The working-day calendar page: a year at a glance; admins load the yearly notice."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from zhili.access import Actor
from zhili.calendar import notice
from zhili.calendar.models import CalendarYear
from zhili.calendar.service import WorkCalendar
from zhili.errors import ZhiliError
from zhili.web.deps import CurrentActor, DbSession, Locale, authorize
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    session: DbSession,
    actor: Actor,
    year: int | None = None,
    status_code: int = 200,
    **extra: object,
) -> Response:
    known = list(session.scalars(select(CalendarYear).order_by(CalendarYear.year)))
    years = [y.year for y in known]
    if year is None:
        today = dt.date.today().year
        year = today if today in years else (years[-1] if years else today)
    cal = WorkCalendar.from_session(session)
    months = []
    if year in years:
        for m in range(1, 13):
            months.append((m, cal.calendar_month(year, m)))
    return render(
        request,
        "calendar.html",
        {
            "year": year,
            "years": known,
            "known": year in years,
            "months": months,
            **extra,
        },
        status_code=status_code,
    )


@router.get("/admin/calendar", dependencies=[Depends(authorize("calendar.read"))])
def calendar_page(
    request: Request, actor: CurrentActor, session: DbSession, year: int | None = None
) -> Response:
    return _page(request, session, actor, year)


@router.post("/admin/calendar/notice", dependencies=[Depends(authorize("calendar.manage"))])
def load_notice(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    year: Annotated[int, Form()],
    text: Annotated[str, Form()] = "",
    replace: Annotated[bool, Form()] = False,
) -> Response:
    try:
        notice.load_notice(
            session, year, text, loaded_by=actor.username, replace=replace, actor=actor
        )
    except ZhiliError as exc:
        session.rollback()
        return _page(
            request,
            session,
            actor,
            year,
            status_code=exc.status,
            error=exc.message(locale),
            notice_text=text,
        )
    return _page(request, session, actor, year, loaded=year)


@router.post("/admin/calendar/day", dependencies=[Depends(authorize("calendar.manage"))])
def correct_day(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    day: Annotated[dt.date, Form()],
    kind: Annotated[str, Form()] = "holiday",
    name: Annotated[str, Form()] = "",
) -> Response:
    """Mark one day as a holiday or a make-up working day, or return it to the
    Monday–Friday rule (kind "normal")."""
    try:
        if kind == "normal":
            notice.remove_day(session, day, loaded_by=actor.username, actor=actor)
        else:
            notice.set_day(
                session, day, kind == "workday", name or None, loaded_by=actor.username, actor=actor
            )
    except ZhiliError as exc:
        session.rollback()
        return _page(
            request, session, actor, day.year, status_code=exc.status, error=exc.message(locale)
        )
    return _page(request, session, actor, day.year, corrected=day.isoformat())
