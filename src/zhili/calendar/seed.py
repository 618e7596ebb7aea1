"""Seed the calendar tables from the ``chinesecalendar`` package (years it knows).

The package is a snapshot of past State Council notices; the tables are the source of
truth afterwards. Seeding only fills years that are not loaded yet, so it is idempotent and
never overwrites a year an admin loaded (or corrected) from a notice.

Stored rows: every date the package lists — holidays including the weekend days inside a
holiday block (so the UI shows “国庆节” on a Saturday, too) and weekend make-up workdays,
named “<节日>调休”. Ordinary weekends and weekdays have no row.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Iterable

import chinese_calendar
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from zhili.calendar.models import CalendarDay, CalendarYear
from zhili.clock import utcnow
from zhili.errors import InvalidInput

_H = chinese_calendar.Holiday
#: Chinese names shown in the UI, keyed by the package's holiday value (English name).
HOLIDAY_NAMES: dict[str, str] = {
    _H.new_years_day.value: "元旦",
    _H.spring_festival.value: "春节",
    _H.tomb_sweeping_day.value: "清明节",
    _H.labour_day.value: "劳动节",
    _H.dragon_boat_festival.value: "端午节",
    _H.national_day.value: "国庆节",
    _H.mid_autumn_festival.value: "中秋节",
    _H.anti_fascist_70th_day.value: "抗战胜利70周年纪念日",
}
#: One block holding both National Day and Mid-Autumn (2009, 2012, 2017, 2023, 2025).
NATIONAL_MID_AUTUMN = "国庆中秋"
#: Suffix of a weekend make-up workday's name: “春节调休”.
MAKEUP_SUFFIX = "调休"
_MERGEABLE = {_H.national_day.value, _H.mid_autumn_festival.value}


def package_source() -> str:
    """The ``CalendarYear.source`` of seeded years, with the package version."""
    return f"chinesecalendar {importlib.metadata.version('chinesecalendar')}"


def package_years() -> range:
    """Years the installed package covers (the same bounds it validates against)."""
    days = chinese_calendar.holidays.keys()
    return range(min(days).year, max(days).year + 1)


def _chinese(value: str) -> str:
    if value in HOLIDAY_NAMES:
        return HOLIDAY_NAMES[value]
    try:  # a holiday added by a newer package version
        return str(_H(value).chinese)
    except (ValueError, AttributeError):
        return value


def _merged_years(holidays: dict[dt.date, str]) -> set[int]:
    """Years where National Day and Mid-Autumn form one consecutive holiday block."""
    merged: set[int] = set()
    block: list[dt.date] = []
    for day in [*sorted(holidays), None]:
        if block and (day is None or day - block[-1] != dt.timedelta(days=1)):
            if {holidays[d] for d in block} >= _MERGEABLE:
                merged.add(block[0].year)
            block = []
        if day is not None:
            block.append(day)
    return merged


def package_days(years: Iterable[int]) -> list[dict[str, object]]:
    """Rows (``day``, ``is_workday``, ``name``) for ``years`` from the package's tables."""
    wanted = set(years)
    holidays = {d: v for d, v in chinese_calendar.holidays.items() if d.year in wanted}
    workdays = {d: v for d, v in chinese_calendar.workdays.items() if d.year in wanted}
    merged = _merged_years(holidays)

    def name(day: dt.date, value: str) -> str:
        if day.year in merged and value in _MERGEABLE:
            return NATIONAL_MID_AUTUMN
        return _chinese(value)

    entries = [(d, False, name(d, v)) for d, v in holidays.items()]
    entries += [(d, True, name(d, v) + MAKEUP_SUFFIX) for d, v in workdays.items()]
    entries.sort()
    rows: list[dict[str, object]] = [
        {"day": d, "is_workday": is_workday, "name": n} for d, is_workday, n in entries
    ]
    return rows


def seed_from_package(
    session: Session, years: Iterable[int] | None = None, loaded_by: str | None = None
) -> list[int]:
    """Load every year the package knows (or just ``years``) that is not loaded yet.

    Returns the years inserted (empty on a second run). A year already present — seeded
    before, or loaded from a notice by an admin — is left untouched. Asking for a year the
    package does not cover is ``calendar.year_not_in_package`` (never a guess).
    """
    covered = package_years()
    wanted = sorted(set(covered if years is None else years))
    for year in wanted:
        if year not in covered:
            raise InvalidInput(
                "calendar.year_not_in_package",
                "the chinesecalendar package has no data for {year} (it covers {first}–{last});"
                " load the State Council's notice instead",
                year=year,
                first=covered.start,
                last=covered.stop - 1,
            )
    if not wanted:
        return []
    existing = set(session.scalars(select(CalendarYear.year).where(CalendarYear.year.in_(wanted))))
    new = [y for y in wanted if y not in existing]
    if not new:
        return []
    for year in new:  # stray rows of a year that was never marked known
        session.execute(
            delete(CalendarDay).where(
                CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31)
            )
        )
    now, source = utcnow(), package_source()
    session.execute(
        insert(CalendarYear),
        [{"year": y, "source": source, "loaded_at": now, "loaded_by": loaded_by} for y in new],
    )
    rows = package_days(new)
    if rows:
        session.execute(insert(CalendarDay), rows)
    return new
