"""The in-memory working-day calendar: is a date a working day, and working-time arithmetic.

The whole calendar is small (a few hundred special days), so :class:`WorkCalendar` loads it
once from the database and answers every question from memory. A date in a year nobody has
loaded is an explicit ``calendar.unknown_year`` error, never a guess from the Mon–Fri rule:
a deadline computed across an unpublished Spring Festival would silently be wrong.

Semantics (see the method docstrings for details):

* Working days: Monday–Friday unless a ``CalendarDay`` row says otherwise (holiday on a
  weekday, 调休 make-up workday on a weekend).
* Working hours: wall-clock periods in the city's time zone, by default 09:00–12:00 and
  13:30–17:30, i.e. 7 working hours per working day (the bureau's lunch break is not
  working time). Asia/Shanghai has had no DST since 1991, so wall-clock arithmetic is exact.
* Day arithmetic counts like administrative deadlines (“N 个工作日内”): the day of the
  event itself does not count, so ``add_workdays(Friday, 1)`` is the next working day.
* Time arithmetic is defined by :meth:`WorkCalendar.working_time_between`, which is
  antisymmetric; ``add_work_hours`` returns the earliest (latest, when going back) instant at
  which exactly that much working time has elapsed.
"""

from __future__ import annotations

import calendar as _stdcal
import datetime as dt
import math
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.calendar.models import CalendarDay, CalendarYear
from zhili.clock import CITY_TZ
from zhili.errors import InvalidInput

Period = tuple[dt.time, dt.time]
DayKind = Literal["workday", "weekend", "holiday", "makeup"]

#: The bureau's default working time: 09:00–12:00 and 13:30–17:30 (7 hours a day).
DEFAULT_WORKING_HOURS: tuple[Period, ...] = (
    (dt.time(9, 0), dt.time(12, 0)),
    (dt.time(13, 30), dt.time(17, 30)),
)

_ZERO = dt.timedelta(0)
_DAY = dt.timedelta(days=1)


def unknown_year(year: int) -> InvalidInput:
    """The error for a date in a year whose holidays nobody has loaded (HTTP 422)."""
    return InvalidInput(
        "calendar.unknown_year",
        f"the working calendar has no data for {year}; "
        f"load the State Council's holiday notice for {year} first",
        year=year,
    )


def is_weekend(day: dt.date) -> bool:
    """Saturday or Sunday."""
    return day.weekday() >= 5


@dataclass(frozen=True, slots=True)
class MonthDay:
    """One cell of a month grid. ``kind`` is ``workday`` / ``weekend`` (ordinary days),
    ``holiday`` (an official day off, possibly on a weekend) or ``makeup`` (调休 workday)."""

    date: dt.date
    day: int
    weekday: int  # 0 = Monday … 6 = Sunday
    is_workday: bool
    kind: DayKind
    name: str | None


def _as_date(value: dt.date) -> dt.date:
    # A datetime is a date subclass; taking its .date() would silently pick a time zone.
    if isinstance(value, dt.datetime):
        raise TypeError("pass a datetime.date; convert datetimes to the city's local date first")
    return value


def _offset(t: dt.time) -> dt.timedelta:
    return dt.datetime.combine(dt.date.min, t) - dt.datetime.min


def _validate_periods(periods: Sequence[Period]) -> tuple[tuple[dt.timedelta, dt.timedelta], ...]:
    if not periods:
        raise InvalidInput("calendar.bad_working_hours", "at least one working period is needed")
    out: list[tuple[dt.timedelta, dt.timedelta]] = []
    previous_end = _ZERO
    for start, end in periods:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise InvalidInput(
                "calendar.bad_working_hours", "working periods are local wall-clock times"
            )
        s, e = _offset(start), _offset(end)
        if not previous_end <= s < e:
            raise InvalidInput(
                "calendar.bad_working_hours",
                "working periods must be ascending and non-overlapping: {start}–{end}",
                start=start.isoformat(),
                end=end.isoformat(),
            )
        out.append((s, e))
        previous_end = e
    return tuple(out)


_SHARED: dict[tuple[object, ...], WorkCalendar] = {}
_SHARED_LOCK = threading.Lock()
_SHARED_MAX = 8


class WorkCalendar:
    """Working days and working hours of the bureau, answered from memory.

    Build it with :meth:`from_session` (one query per table). It is immutable; build a new
    one after an admin changes the calendar.
    """

    def __init__(
        self,
        years: Iterable[int],
        special: Mapping[dt.date, tuple[bool, str | None]],
        *,
        working_hours: Sequence[Period] = DEFAULT_WORKING_HOURS,
        tz: dt.tzinfo = CITY_TZ,
    ) -> None:
        self._years = frozenset(years)
        self._special = {d: v for d, v in special.items() if d.year in self._years}
        self._periods = _validate_periods(working_hours)
        self._working_hours = tuple(working_hours)
        self._daily = sum((e - s for s, e in self._periods), _ZERO)
        self.tz = tz
        # Sorted ordinals of every working day of every known year: day arithmetic and
        # counting become binary searches, so spans of years cost nothing.
        ords: list[int] = []
        for year in sorted(self._years):
            first, last = dt.date(year, 1, 1).toordinal(), dt.date(year, 12, 31).toordinal()
            for o in range(first, last + 1):
                if self._is_workday_known(dt.date.fromordinal(o)):
                    ords.append(o)
        self._ords = ords

    @classmethod
    def from_session(
        cls,
        session: Session,
        *,
        working_hours: Sequence[Period] = DEFAULT_WORKING_HOURS,
        tz: dt.tzinfo = CITY_TZ,
    ) -> WorkCalendar:
        """Load the known years and all special days (a few hundred rows) into memory.

        Building the day index costs about 10 ms, so calendars are shared by content:
        the same rows (and hours, zone) give the same immutable instance; any change an
        admin makes gives a new one on the next call."""
        years = tuple(sorted(session.scalars(select(CalendarYear.year)).all()))
        rows = session.execute(select(CalendarDay.day, CalendarDay.is_workday, CalendarDay.name))
        special = {day: (bool(is_workday), name) for day, is_workday, name in rows}
        key = (years, tuple(sorted(special.items())), tuple(working_hours), str(tz))
        with _SHARED_LOCK:
            found = _SHARED.get(key)
            if found is None:
                found = cls(years, special, working_hours=working_hours, tz=tz)
                if len(_SHARED) >= _SHARED_MAX:
                    _SHARED.clear()
                _SHARED[key] = found
        return found

    # ---------------------------------------------------------------- known years

    @property
    def known_years(self) -> frozenset[int]:
        """Years whose holidays have been loaded; every other year is an error."""
        return self._years

    def is_known_year(self, year: int) -> bool:
        return year in self._years

    def _require_years(self, first: int, last: int) -> None:
        for year in range(first, last + 1):
            if year not in self._years:
                raise unknown_year(year)

    def _first_unknown_from(self, year: int, step: int) -> int:
        while year in self._years:
            year += step
        return year

    # ---------------------------------------------------------------- days

    def _is_workday_known(self, day: dt.date) -> bool:
        entry = self._special.get(day)
        if entry is not None:
            return entry[0]
        return day.weekday() < 5

    def is_workday(self, day: dt.date) -> bool:
        """True on a working day; ``calendar.unknown_year`` for a year nobody loaded."""
        day = _as_date(day)
        if day.year not in self._years:
            raise unknown_year(day.year)
        return self._is_workday_known(day)

    def day_name(self, day: dt.date) -> str | None:
        """The holiday / 调休 name of ``day`` (None for an ordinary day)."""
        day = _as_date(day)
        if day.year not in self._years:
            raise unknown_year(day.year)
        entry = self._special.get(day)
        return entry[1] if entry else None

    def _nth_workday(self, ordinal: int, k: int, forward: bool) -> dt.date:
        """The working day ``k`` (≥ 0) working days after the first working day ≥ ``ordinal``
        (or before the last one ≤ ``ordinal`` when going back). Every year crossed must be
        known."""
        start = dt.date.fromordinal(ordinal)
        if forward:
            j = bisect_left(self._ords, ordinal) + k
            if j >= len(self._ords):
                raise unknown_year(self._first_unknown_from(start.year, 1))
            found = dt.date.fromordinal(self._ords[j])
            self._require_years(start.year, found.year)
        else:
            j = bisect_right(self._ords, ordinal) - 1 - k
            if j < 0:
                raise unknown_year(self._first_unknown_from(start.year, -1))
            found = dt.date.fromordinal(self._ords[j])
            self._require_years(found.year, start.year)
        return found

    def add_workdays(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``day`` (before it when ``n`` < 0).

        ``day`` itself never counts: ``add_workdays(Fri, 1)`` is the next Monday (or the
        first working day after a holiday), and from a Saturday ``+1`` is also Monday.
        ``n == 0`` gives ``day`` if it is a working day, else the next working day.
        """
        day = _as_date(day)
        o = day.toordinal()
        if n > 0:
            return self._nth_workday(o + 1, n - 1, forward=True)
        if n < 0:
            return self._nth_workday(o - 1, -n - 1, forward=False)
        return self._nth_workday(o, 0, forward=True)

    def next_workday(self, day: dt.date) -> dt.date:
        """The first working day strictly after ``day``."""
        return self.add_workdays(day, 1)

    def previous_workday(self, day: dt.date) -> dt.date:
        """The last working day strictly before ``day``."""
        return self.add_workdays(day, -1)

    def count_workdays(self, start: dt.date, end: dt.date) -> int:
        """Working days in ``[start, end)``; negative (antisymmetric) when ``end < start``."""
        start, end = _as_date(start), _as_date(end)
        if end < start:
            return -self.count_workdays(end, start)
        if end == start:
            return 0
        self._require_years(start.year, (end - _DAY).year)
        return bisect_left(self._ords, end.toordinal()) - bisect_left(self._ords, start.toordinal())

    def calendar_month(self, year: int, month: int) -> list[MonthDay]:
        """Every day of a month with its working-day flag, kind and name, for a UI grid."""
        if not 1 <= month <= 12:
            raise InvalidInput("calendar.bad_month", "month must be 1–12, got {month}", month=month)
        if year not in self._years:
            raise unknown_year(year)
        out: list[MonthDay] = []
        for n in range(1, _stdcal.monthrange(year, month)[1] + 1):
            d = dt.date(year, month, n)
            entry = self._special.get(d)
            weekend = is_weekend(d)
            is_work, name = (not weekend, None) if entry is None else entry
            kind: DayKind
            if not is_work:
                kind = "holiday" if entry is not None else "weekend"
            else:
                kind = "makeup" if weekend else "workday"
            out.append(MonthDay(d, n, d.weekday(), is_work, kind, name))
        return out

    # ---------------------------------------------------------------- working time

    @property
    def working_hours(self) -> tuple[Period, ...]:
        """The working periods of a working day (local wall-clock times)."""
        return self._working_hours

    @property
    def daily_working_time(self) -> dt.timedelta:
        """Working time of one full working day (7 h with the default periods)."""
        return self._daily

    def _local(self, moment: dt.datetime) -> tuple[dt.date, dt.timedelta]:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InvalidInput(
                "calendar.naive_datetime",
                "a time zone is required for {value}",
                value=moment.isoformat(),
            )
        local = moment.astimezone(self.tz).replace(tzinfo=None)
        day = local.date()
        return day, local - dt.datetime.combine(day, dt.time.min)

    def _moment(self, day: dt.date, offset: dt.timedelta, like: dt.datetime) -> dt.datetime:
        local = (dt.datetime.combine(day, dt.time.min) + offset).replace(tzinfo=self.tz)
        return local.astimezone(like.tzinfo)

    def _work_in_day(self, day: dt.date, lo: dt.timedelta, hi: dt.timedelta) -> dt.timedelta:
        """Working time of ``day`` within ``[lo, hi)`` (offsets from midnight)."""
        total = _ZERO
        for s, e in self._periods:
            a, b = max(s, lo), min(e, hi)
            if a < b:
                total += b - a
        # Only ask about the day when it could matter: a window that touches no working
        # period (e.g. midnight of the next year) must not demand that year be known.
        if total and not self.is_workday(day):
            return _ZERO
        return total

    def _locate_forward(self, lo: dt.timedelta, amount: dt.timedelta) -> dt.timedelta:
        for s, e in self._periods:
            a = max(s, lo)
            if a < e:
                if amount <= e - a:
                    return a + amount
                amount -= e - a
        raise AssertionError("working time beyond the end of the day")  # pragma: no cover

    def _locate_backward(self, hi: dt.timedelta, amount: dt.timedelta) -> dt.timedelta:
        for s, e in reversed(self._periods):
            b = min(e, hi)
            if s < b:
                if amount <= b - s:
                    return b - amount
                amount -= b - s
        raise AssertionError("working time before the start of the day")  # pragma: no cover

    def working_time_between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        """Working time from ``a`` to ``b`` (aware datetimes): only working periods of
        working days count. Zero when ``a == b``; ``-working_time_between(b, a)`` when
        ``b < a`` (antisymmetric, so durations can be added and subtracted)."""
        da, ta = self._local(a)
        db, tb = self._local(b)
        if b < a:
            return -self.working_time_between(b, a)
        if da == db:
            return self._work_in_day(da, ta, tb)
        total = self._work_in_day(da, ta, _DAY) + self._work_in_day(db, _ZERO, tb)
        first_full = da + _DAY
        if first_full < db:
            total += self._daily * self.count_workdays(first_full, db)
        return total

    def add_work_hours(self, start: dt.datetime, hours: float | dt.timedelta) -> dt.datetime:
        """The instant at which ``hours`` of working time have elapsed since ``start``.

        Going forward it is the earliest ``t ≥ start`` with ``working_time_between(start, t)
        == hours`` — so a deadline that uses up a period exactly ends at the period's end
        (Fri 16:00 + 1.5 h = Fri 17:30, not Monday 09:00); going back (negative hours) it is
        the latest such ``t ≤ start`` (Mon 10:00 − 1 h = Mon 09:00). Zero returns ``start``.
        ``start`` must be aware; the result is in ``start``'s time zone. Exact to the
        microsecond; cost is independent of the span (binary search over working days).
        """
        if isinstance(hours, dt.timedelta):
            amount = hours
        else:
            try:
                if isinstance(hours, bool) or not math.isfinite(hours):
                    raise ValueError(hours)
                amount = dt.timedelta(hours=hours)
            except (TypeError, ValueError, OverflowError):
                raise InvalidInput(
                    "calendar.bad_hours", "not a number of hours: {value}", value=str(hours)
                ) from None
        day, offset = self._local(start)
        if not amount:
            return start
        daily = self._daily
        if amount > _ZERO:
            avail = self._work_in_day(day, offset, _DAY)
            if amount <= avail:
                return self._moment(day, self._locate_forward(offset, amount), start)
            rest = amount - avail
            full = -(-rest // daily) - 1  # whole days consumed before the last, partial one
            last = self._nth_workday(day.toordinal() + 1, full, forward=True)
            return self._moment(last, self._locate_forward(_ZERO, rest - full * daily), start)
        amount = -amount
        avail = self._work_in_day(day, _ZERO, offset)
        if amount <= avail:
            return self._moment(day, self._locate_backward(offset, amount), start)
        rest = amount - avail
        full = -(-rest // daily) - 1
        last = self._nth_workday(day.toordinal() - 1, full, forward=False)
        return self._moment(last, self._locate_backward(_DAY, rest - full * daily), start)

    def deadline(self, start: dt.datetime, workdays: int) -> dt.datetime:
        """End of the working day ``workdays`` working days after ``start``'s local date
        (“N 个工作日内” — the day of receipt does not count), in ``start``'s time zone."""
        day, _ = self._local(start)
        last = self.add_workdays(day, workdays)
        return self._moment(last, self._periods[-1][1], start)
