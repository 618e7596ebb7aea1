"""`zhili calendar …`: the working-day calendar an admin extends each November from the
State Council's notice of next year's holidays and 调休 make-up days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from zhili.calendar import notice
from zhili.calendar.models import CalendarYear
from zhili.calendar.seed import seed_from_package
from zhili.calendar.service import WorkCalendar
from zhili.cli.common import console, database, friendly

calendar_app = typer.Typer(
    help="Working-day calendar: years, holidays, 调休.", no_args_is_help=True
)


@calendar_app.command("years")
@friendly
def years() -> None:
    """List the years the calendar knows, with their source."""
    db = database()
    with db.session() as session:
        for y in session.scalars(select(CalendarYear).order_by(CalendarYear.year)):
            console.print(f"{y.year}  {y.source}  {y.loaded_by or ''}")


@calendar_app.command("seed")
@friendly
def seed() -> None:
    """Load every year the chinesecalendar package knows (never overwrites a notice)."""
    db = database()
    with db.session() as session:
        loaded = seed_from_package(session, loaded_by="cli")
    console.print(f"seeded {len(loaded)} years" if loaded else "nothing new to seed")


@calendar_app.command("load")
@friendly
def load(
    year: int,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    replace: Annotated[bool, typer.Option("--replace", help="Replace a loaded year.")] = False,
) -> None:
    """Load YEAR from a notice CSV (date,kind,name; kind holiday|workday; a..b ranges)."""
    text = file.read_text(encoding="utf-8-sig")
    db = database()
    with db.session() as session:
        notice.load_notice(session, year, text, loaded_by="cli", replace=replace)
    console.print(f"loaded {year} from {file}")


@calendar_app.command("export")
@friendly
def export(year: int) -> None:
    """Print a loaded year in the notice CSV form."""
    db = database()
    with db.session() as session:
        typer.echo(notice.export_year(session, year), nl=False)


@calendar_app.command("set")
@friendly
def set_day(
    day: Annotated[dt.datetime, typer.Argument(formats=["%Y-%m-%d"])],
    workday: Annotated[bool, typer.Option("--workday/--holiday")],
    name: Annotated[str | None, typer.Option("--name")] = None,
) -> None:
    """Correct one day of a loaded year."""
    db = database()
    with db.session() as session:
        notice.set_day(session, day.date(), workday, name, loaded_by="cli")
    console.print(f"{day.date()} is now a {'working day' if workday else 'holiday'}")


@calendar_app.command("check")
@friendly
def check(day: Annotated[dt.datetime, typer.Argument(formats=["%Y-%m-%d"])]) -> None:
    """Say whether DAY is a working day."""
    db = database()
    with db.session() as session:
        cal = WorkCalendar.from_session(session)
        ok = cal.is_workday(day.date())
    console.print(f"{day.date()}: {'working day 工作日' if ok else 'day off 休息日'}")
