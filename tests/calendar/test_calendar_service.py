"""WorkCalendar: working days from the seeded package data, and working-time arithmetic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import chinese_calendar
import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import zhili.calendar.models
from zhili.calendar.models import CalendarDay, CalendarYear
from zhili.calendar.seed import package_years, seed_from_package
from zhili.calendar.service import DEFAULT_WORKING_HOURS, WorkCalendar
from zhili.clock import CITY_TZ
from zhili.db import Base, make_engine
from zhili.errors import InvalidInput

assert zhili.calendar.models  # the tables must be registered on Base.metadata

D = dt.date
H = dt.timedelta(hours=1)


def local(*args: int) -> dt.datetime:
    """A wall-clock time in the city (Asia/Shanghai)."""
    return dt.datetime(*args, tzinfo=CITY_TZ)  # type: ignore[misc]


def make_db() -> Engine:
    engine = make_engine("sqlite:///:memory:")
    Base.metadata.create_all(engine, tables=[CalendarYear.__table__, CalendarDay.__table__])
    return engine


@pytest.fixture(scope="module")
def cal() -> Iterator[WorkCalendar]:
    """The calendar seeded from the package (read-only, shared by the module)."""
    engine = make_db()
    with Session(engine) as session:
        seed_from_package(session, loaded_by="test")
        session.commit()
        yield WorkCalendar.from_session(session)
    engine.dispose()


def reference_workday(day: dt.date) -> bool:
    return bool(chinese_calendar.is_workday(day))


# --------------------------------------------------------------------------- working days


@pytest.mark.parametrize(
    ("day", "expected", "name"),
    [
        (D(2024, 2, 4), True, "春节调休"),  # Sunday make-up workday before Spring Festival
        (D(2024, 2, 10), False, "春节"),  # Saturday inside the holiday: stored for its name
        (D(2024, 10, 1), False, "国庆节"),
        (D(2025, 10, 11), True, "国庆中秋调休"),  # Saturday make-up workday
        (D(2025, 10, 6), False, "国庆中秋"),  # Mid-Autumn inside the National Day block
        (D(2024, 9, 16), False, "中秋节"),  # Mid-Autumn on its own
        (D(2015, 9, 3), False, "抗战胜利70周年纪念日"),
        (D(2025, 10, 12), False, None),  # ordinary Sunday
        (D(2025, 10, 9), True, None),  # ordinary Thursday
        (D(2004, 1, 1), False, "元旦"),  # first year the package covers
        (D(2026, 12, 31), True, None),  # last day the package covers
    ],
)
def test_is_workday_and_names(
    cal: WorkCalendar, day: dt.date, expected: bool, name: str | None
) -> None:
    assert cal.is_workday(day) is expected
    assert reference_workday(day) is expected  # the fact, checked against the package
    assert cal.day_name(day) == name


def test_every_seeded_day_matches_the_package(cal: WorkCalendar) -> None:
    assert set(package_years()) <= cal.known_years
    for year in package_years():
        for o in range(D(year, 1, 1).toordinal(), D(year, 12, 31).toordinal() + 1):
            day = D.fromordinal(o)
            assert cal.is_workday(day) is reference_workday(day), day


@pytest.mark.parametrize("day", [D(2031, 5, 6), D(2003, 12, 31), D(2027, 1, 4)])
def test_unknown_year_is_an_error_naming_the_year(cal: WorkCalendar, day: dt.date) -> None:
    with pytest.raises(InvalidInput, match=str(day.year)) as info:
        cal.is_workday(day)
    assert info.value.code == "calendar.unknown_year"
    assert info.value.params == {"year": day.year}
    assert info.value.status == 422
    assert str(day.year) in info.value.message("en")


@pytest.mark.parametrize(
    ("call", "year"),
    [
        (lambda c: c.add_workdays(D(2026, 12, 31), 1), 2027),
        (lambda c: c.add_workdays(D(2004, 1, 5), -3), 2003),
        (lambda c: c.next_workday(D(2026, 12, 30)), None),  # stays inside 2026: no error
        (lambda c: c.count_workdays(D(2026, 6, 1), D(2027, 6, 1)), 2027),
        (lambda c: c.calendar_month(2031, 2), 2031),
        (lambda c: c.day_name(D(2031, 2, 1)), 2031),
        (lambda c: c.working_time_between(local(2026, 12, 31, 9), local(2027, 1, 4, 10)), 2027),
        (lambda c: c.add_work_hours(local(2026, 12, 31, 16), 3), 2027),
        (lambda c: c.add_work_hours(local(2004, 1, 2, 10), -8), 2003),
        (lambda c: c.add_work_hours(local(2031, 3, 3, 10), 1), 2031),
    ],
)
def test_never_guesses_across_an_unknown_year(
    cal: WorkCalendar, call: Callable[[WorkCalendar], object], year: int
) -> None:
    if year is None:
        assert call(cal) == D(2026, 12, 31)
        return
    with pytest.raises(InvalidInput) as info:
        call(cal)
    assert info.value.code == "calendar.unknown_year"
    assert info.value.params["year"] == year


def test_a_gap_year_between_known_years_is_an_error() -> None:
    cal = WorkCalendar([2025, 2027], {})
    assert cal.add_workdays(D(2025, 12, 31), 0) == D(2025, 12, 31)
    with pytest.raises(InvalidInput, match="2026"):
        cal.add_workdays(D(2025, 12, 31), 1)
    with pytest.raises(InvalidInput, match="2026"):
        cal.add_workdays(D(2027, 1, 1), -1)


def test_a_datetime_is_not_a_date(cal: WorkCalendar) -> None:
    with pytest.raises(TypeError):
        cal.is_workday(local(2025, 3, 3, 10))


# --------------------------------------------------------------------------- day arithmetic


@pytest.mark.parametrize(
    ("day", "n", "expected"),
    [
        # Spring Festival 2025: off Tue 01-28 … Tue 02-04; make-up Sun 01-26 and Sat 02-08.
        (D(2025, 1, 24), 1, D(2025, 1, 26)),  # Friday → the Sunday make-up day
        (D(2025, 1, 25), 1, D(2025, 1, 26)),  # Saturday: day itself never counts
        (D(2025, 1, 27), 1, D(2025, 2, 5)),  # over the whole holiday
        (D(2025, 1, 27), 2, D(2025, 2, 6)),
        (D(2025, 1, 24), 5, D(2025, 2, 7)),
        (D(2025, 2, 7), 1, D(2025, 2, 8)),  # Friday → Saturday make-up day
        (D(2025, 2, 5), -1, D(2025, 1, 27)),  # back over the holiday
        (D(2025, 2, 1), -1, D(2025, 1, 27)),
        (D(2025, 1, 28), 0, D(2025, 2, 5)),  # 0 on a holiday rolls forward
        (D(2025, 1, 27), 0, D(2025, 1, 27)),  # 0 on a working day is the day itself
        (D(2025, 3, 7), 1, D(2025, 3, 10)),  # ordinary Friday → Monday
        (D(2025, 3, 10), -1, D(2025, 3, 7)),
        (D(2025, 3, 8), -1, D(2025, 3, 7)),  # from a Saturday back
        (D(2025, 9, 30), 1, D(2025, 10, 9)),  # National Day 2025
        (D(2025, 10, 10), 1, D(2025, 10, 11)),
    ],
)
def test_add_workdays(cal: WorkCalendar, day: dt.date, n: int, expected: dt.date) -> None:
    assert cal.add_workdays(day, n) == expected


def reference_add(day: dt.date, n: int) -> dt.date:
    """Day-by-day reference of the documented semantics."""
    step = 1 if n >= 0 else -1
    if n == 0:
        while not reference_workday(day):
            day += dt.timedelta(days=1)
        return day
    for _ in range(abs(n)):
        day += dt.timedelta(days=step)
        while not reference_workday(day):
            day += dt.timedelta(days=step)
    return day


@pytest.mark.parametrize("n", [0, 1, -1, 3, -3, 22, -22, 250, -250, 1200, -1200])
@pytest.mark.parametrize("day", [D(2010, 2, 13), D(2015, 9, 3), D(2017, 10, 1), D(2020, 1, 24)])
def test_add_workdays_matches_a_day_by_day_reference(
    cal: WorkCalendar, day: dt.date, n: int
) -> None:
    assert cal.add_workdays(day, n) == reference_add(day, n)


def test_next_and_previous_workday(cal: WorkCalendar) -> None:
    assert cal.next_workday(D(2024, 2, 9)) == D(2024, 2, 18)  # eve → Sunday make-up day
    assert cal.previous_workday(D(2024, 2, 18)) == D(2024, 2, 9)


def test_count_workdays(cal: WorkCalendar) -> None:
    for year in (2008, 2015, 2024, 2025):
        expected = sum(
            reference_workday(D.fromordinal(o))
            for o in range(D(year, 1, 1).toordinal(), D(year + 1, 1, 1).toordinal())
        )
        assert cal.count_workdays(D(year, 1, 1), D(year + 1, 1, 1)) == expected
    assert cal.count_workdays(D(2025, 10, 1), D(2025, 10, 9)) == 0
    assert cal.count_workdays(D(2025, 10, 9), D(2025, 10, 12)) == 3  # Thu, Fri, make-up Sat
    assert cal.count_workdays(D(2025, 10, 12), D(2025, 10, 9)) == -3
    assert cal.count_workdays(D(2025, 10, 9), D(2025, 10, 9)) == 0


# --------------------------------------------------------------------------- working time


def test_default_working_hours_are_seven_hours(cal: WorkCalendar) -> None:
    assert cal.working_hours == DEFAULT_WORKING_HOURS
    assert cal.daily_working_time == 7 * H


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        # lunch break 12:00–13:30
        (local(2025, 3, 10, 11), 2, local(2025, 3, 10, 14, 30)),
        (local(2025, 3, 10, 11), 1, local(2025, 3, 10, 12)),  # ends at the period's end
        (local(2025, 3, 10, 12, 30), 1, local(2025, 3, 10, 14, 30)),  # starts at lunch
        (local(2025, 3, 10, 9), 7, local(2025, 3, 10, 17, 30)),  # one full day
        (local(2025, 3, 10, 9), 0.25, local(2025, 3, 10, 9, 15)),
        # weekend
        (local(2025, 3, 7, 16), 1.5, local(2025, 3, 7, 17, 30)),
        (local(2025, 3, 7, 16), 2, local(2025, 3, 10, 9, 30)),
        # outside working hours
        (local(2025, 3, 8, 10), 1, local(2025, 3, 10, 10)),  # Saturday
        (local(2025, 3, 10, 7), 1, local(2025, 3, 10, 10)),  # early morning
        (local(2025, 3, 10, 20), 0.5, local(2025, 3, 11, 9, 30)),  # evening
        # Friday 16:00 before Spring Festival 2025: Fri 1.5 h, make-up Sun 7 h, Mon 7 h,
        # then eight days off, then 0.5 h on Wed 02-05
        (local(2025, 1, 24, 16), 16, local(2025, 2, 5, 9, 30)),
        # National Day 2025: Fri 09-26 1.5 h, make-up Sun 09-28, Mon 09-29, then Tue 0.5 h
        (local(2025, 9, 26, 16), 16, local(2025, 9, 30, 9, 30)),
        # Tue 09-30 1.5 h, off 10-01…10-08, Thu 7 h, Fri 7 h, make-up Sat 10-11 0.5 h
        (local(2025, 9, 30, 16), 16, local(2025, 10, 11, 9, 30)),
        # backwards
        (local(2025, 3, 10, 10), -1, local(2025, 3, 10, 9)),  # ends at the period's start
        (local(2025, 3, 10, 14, 30), -2, local(2025, 3, 10, 11)),
        (local(2025, 3, 10, 10), -2, local(2025, 3, 7, 16, 30)),
        (local(2025, 3, 8, 10), -1, local(2025, 3, 7, 16, 30)),
        (local(2025, 10, 9, 10), -2, local(2025, 9, 30, 16, 30)),
        # zero
        (local(2025, 3, 8, 20), 0, local(2025, 3, 8, 20)),
        # a timedelta works as well as float hours
        (local(2025, 1, 2, 9), dt.timedelta(hours=7), local(2025, 1, 2, 17, 30)),
    ],
)
def test_add_work_hours(
    cal: WorkCalendar, start: dt.datetime, hours: float | dt.timedelta, expected: dt.datetime
) -> None:
    result = cal.add_work_hours(start, hours)
    assert result == expected
    assert result.tzinfo is start.tzinfo
    amount = hours if isinstance(hours, dt.timedelta) else dt.timedelta(hours=hours)
    assert cal.working_time_between(start, result) == amount


def test_add_work_hours_keeps_the_input_time_zone(cal: WorkCalendar) -> None:
    start = dt.datetime(2025, 1, 24, 8, tzinfo=dt.UTC)  # 16:00 in the city
    result = cal.add_work_hours(start, 16)
    assert result == dt.datetime(2025, 2, 5, 1, 30, tzinfo=dt.UTC)
    assert result.tzinfo is dt.UTC


@pytest.mark.parametrize(
    "start",
    [local(2010, 2, 12, 16, 45), local(2017, 9, 30, 11, 59), local(2020, 1, 23, 23, 30)],
)
@pytest.mark.parametrize("hours", [0.001, 3.5, 7, 7.25, 100, -3.5, -7, -700, 1750])
def test_add_work_hours_inverts_working_time_between(
    cal: WorkCalendar, start: dt.datetime, hours: float
) -> None:
    result = cal.add_work_hours(start, hours)
    assert cal.working_time_between(start, result) == dt.timedelta(hours=hours)
    # and it is the earliest (latest, going back) such instant
    if hours > 0:
        assert cal.working_time_between(start, result - dt.timedelta(microseconds=1)) < (
            dt.timedelta(hours=hours)
        )
    else:
        assert cal.working_time_between(start, result + dt.timedelta(microseconds=1)) > (
            dt.timedelta(hours=hours)
        )


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (local(2025, 3, 10, 9), local(2025, 3, 10, 10), H),
        (local(2025, 3, 10, 11), local(2025, 3, 10, 14), 1.5 * H),  # lunch does not count
        (local(2025, 3, 10, 12), local(2025, 3, 10, 13, 30), 0 * H),
        (local(2025, 3, 10), local(2025, 3, 11), 7 * H),
        (local(2025, 3, 7, 16), local(2025, 3, 10, 10), 2.5 * H),  # weekend
        (local(2025, 3, 8, 8), local(2025, 3, 9, 20), 0 * H),  # inside a weekend
        (local(2025, 9, 30, 9), local(2025, 10, 9, 9), 7 * H),  # National Day 2025
        (local(2025, 9, 27), local(2025, 9, 29), 7 * H),  # make-up Sunday counts
        (local(2025, 3, 10, 10), local(2025, 3, 10, 10), 0 * H),
        # boundary at midnight of an unknown year: 2027 is not needed
        (local(2026, 12, 31, 10), local(2027, 1, 1), 6 * H),
        # mixed time zones: 01:00 UTC is 09:00 in the city
        (dt.datetime(2025, 3, 10, 1, tzinfo=dt.UTC), local(2025, 3, 10, 11), 2 * H),
    ],
)
def test_working_time_between_is_antisymmetric(
    cal: WorkCalendar, a: dt.datetime, b: dt.datetime, expected: dt.timedelta
) -> None:
    assert cal.working_time_between(a, b) == expected
    assert cal.working_time_between(b, a) == -expected


def test_working_time_over_a_year(cal: WorkCalendar) -> None:
    days = cal.count_workdays(D(2025, 1, 1), D(2026, 1, 1))
    assert cal.working_time_between(local(2025, 1, 1), local(2026, 1, 1)) == days * 7 * H


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.add_work_hours(dt.datetime(2025, 3, 10, 10), 1),
        lambda c: c.working_time_between(dt.datetime(2025, 3, 10), local(2025, 3, 11)),
        lambda c: c.add_work_hours(local(2025, 3, 10, 10), float("nan")),
        lambda c: c.add_work_hours(local(2025, 3, 10, 10), 1e300),
    ],
)
def test_bad_time_arguments(cal: WorkCalendar, call: Callable[[WorkCalendar], object]) -> None:
    with pytest.raises(InvalidInput):
        call(cal)


def test_deadline_is_the_end_of_the_nth_working_day(cal: WorkCalendar) -> None:
    start = dt.datetime(2025, 1, 24, 8, tzinfo=dt.UTC)  # Friday 16:00 in the city
    assert cal.deadline(start, 3) == local(2025, 2, 5, 17, 30)  # Sun 26, Mon 27, Wed 5
    assert cal.deadline(start, 3).tzinfo is dt.UTC
    assert cal.deadline(local(2025, 1, 28, 10), 0) == local(2025, 2, 5, 17, 30)


def test_custom_working_hours() -> None:
    periods = ((dt.time(8, 30), dt.time(12)), (dt.time(14), dt.time(18)))
    cal = WorkCalendar([2025], {}, working_hours=periods)
    assert cal.daily_working_time == 7.5 * H
    assert cal.add_work_hours(local(2025, 3, 10, 11), 2) == local(2025, 3, 10, 15)


@pytest.mark.parametrize(
    "periods",
    [
        (),
        ((dt.time(9), dt.time(9)),),
        ((dt.time(13), dt.time(17)), (dt.time(9), dt.time(12))),  # not ascending
        ((dt.time(9), dt.time(13)), (dt.time(12), dt.time(17))),  # overlapping
    ],
)
def test_bad_working_hours(periods: tuple[tuple[dt.time, dt.time], ...]) -> None:
    with pytest.raises(InvalidInput) as info:
        WorkCalendar([2025], {}, working_hours=periods)
    assert info.value.code == "calendar.bad_working_hours"


# --------------------------------------------------------------------------- month grid


def test_calendar_month(cal: WorkCalendar) -> None:
    days = cal.calendar_month(2025, 10)
    assert len(days) == 31
    assert [d.day for d in days] == list(range(1, 32))
    first = days[0]
    assert (first.date, first.weekday, first.is_workday, first.kind, first.name) == (
        D(2025, 10, 1),
        2,
        False,
        "holiday",
        "国庆中秋",
    )
    by_day = {d.day: d for d in days}
    assert (by_day[4].kind, by_day[4].name) == ("holiday", "国庆中秋")  # a Saturday
    assert (by_day[9].kind, by_day[9].is_workday) == ("workday", True)
    assert (by_day[11].kind, by_day[11].is_workday, by_day[11].name) == (
        "makeup",
        True,
        "国庆中秋调休",
    )
    assert (by_day[12].kind, by_day[12].is_workday, by_day[12].name) == ("weekend", False, None)
    assert len(cal.calendar_month(2024, 2)) == 29


def test_calendar_month_rejects_a_bad_month(cal: WorkCalendar) -> None:
    with pytest.raises(InvalidInput):
        cal.calendar_month(2025, 13)
