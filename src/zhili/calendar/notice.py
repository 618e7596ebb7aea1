"""Admin maintenance of the calendar: load a year from the State Council's notice.

Each November the State Council publishes 国务院办公厅关于<year>年部分节假日安排的通知. An
admin transcribes it into a small CSV::

    # comment lines and blank lines are ignored
    date,kind,name
    2027-01-01..2027-01-03,holiday,元旦
    2027-02-20,workday,春节调休

``kind`` is ``holiday`` (a day off, any weekday) or ``workday`` (a make-up workday, which
must fall on a weekend); ``date`` is ``YYYY-MM-DD`` or an inclusive range ``a..b``; ``name``
may be empty. Every date must lie in the year being loaded and appear once. Parsing is
strict and complete before anything is written, so a bad line leaves the database as it
was; the errors name the line (1-based, counting comments and blank lines) and column.
:func:`export_year` writes the same format, so what an admin sees can be reloaded as is.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from zhili.access.actor import Actor, system_actor
from zhili.audit.acts import record_act
from zhili.calendar.models import CalendarDay, CalendarYear
from zhili.calendar.service import is_weekend, unknown_year
from zhili.clock import utcnow
from zhili.errors import Conflict, InvalidInput, NotFound

HEADER = ("date", "kind", "name")
KINDS: dict[str, bool] = {"holiday": False, "workday": True}  # kind → is_workday
NOTICE_SOURCE = "国务院办公厅通知"
MANUAL_MARK = " + 人工更正"
MIN_YEAR, MAX_YEAR = 1900, 2200
NAME_MAX = 100
_ONE_DAY = dt.timedelta(days=1)

_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_DATE_CELL = re.compile(rf"({_DATE})(?:\.\.({_DATE}))?")


@dataclass(frozen=True, slots=True)
class NoticeDay:
    """One special day parsed from a notice, with the line it came from."""

    day: dt.date
    is_workday: bool
    name: str | None
    line: int


_PROBLEMS = {
    "columns": "expected 3 columns (date,kind,name)",
    "bad_date": "not a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD)",
    "range_backwards": "the range ends before it starts",
    "outside_year": "the date is not in {year}",
    "unknown_kind": "kind must be holiday or workday",
    "workday_not_weekend": "a make-up workday must fall on a Saturday or Sunday",
    "duplicate_date": "the date already appears on line {first_line}",
    "name_too_long": "the name is longer than 100 characters",
}


def _bad_line(line: int, column: str, value: str, problem: str, **extra: object) -> InvalidInput:
    # The fallback is formatted here (so str(exc) and logs name the line) and its braces
    # escaped, because ZhiliError.message() formats it once more with the params.
    params: dict[str, object] = {"line": line, "column": column, "value": value, **extra}
    text = f"notice line {line}, column {column} ({value}): " + _PROBLEMS[problem].format(**params)
    return InvalidInput(
        "calendar.bad_notice_line",
        text.replace("{", "{{").replace("}", "}}"),
        line=line,
        column=column,
        value=value,
        problem=problem,
        **extra,
    )


def _check_year(year: int) -> None:
    if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(
            "calendar.bad_year",
            "the year must be between {min} and {max}, got {year}",
            year=year,
            min=MIN_YEAR,
            max=MAX_YEAR,
        )


def _clean_name(name: str | None) -> str | None:
    name = (name or "").strip()
    return name or None


def decode_notice(data: bytes) -> str:
    """Text of an uploaded notice file: strict UTF-8 (BOM allowed), else GB18030."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "calendar.notice_encoding", "the notice is neither UTF-8 nor GB18030 text"
        ) from exc


def _parse_date(text: str, line: int, year: int) -> tuple[dt.date, dt.date]:
    m = _DATE_CELL.fullmatch(text)
    if not m:
        raise _bad_line(line, "date", text, "bad_date")
    try:
        start = dt.date.fromisoformat(m.group(1))
        end = dt.date.fromisoformat(m.group(2)) if m.group(2) else start
    except ValueError:
        raise _bad_line(line, "date", text, "bad_date") from None
    if end < start:
        raise _bad_line(line, "date", text, "range_backwards")
    if start.year != year or end.year != year:
        raise _bad_line(line, "date", text, "outside_year", year=year)
    return start, end


def parse_notice(year: int, text: str | bytes) -> list[NoticeDay]:
    """Every special day of a notice for ``year``, validated; raises on the first bad line."""
    _check_year(year)
    if isinstance(text, bytes):
        text = decode_notice(text)
    text = text.removeprefix("\ufeff")
    seen: dict[dt.date, int] = {}
    out: list[NoticeDay] = []
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            cells = [c.strip() for c in next(csv.reader([raw], strict=True))]
        except csv.Error:
            raise _bad_line(number, "columns", stripped, "columns") from None
        if not header_seen:
            if tuple(c.lower() for c in cells) != HEADER:
                raise InvalidInput(
                    "calendar.bad_notice_header",
                    "notice line {line}: the first line must be the header date,kind,name",
                    line=number,
                    value=stripped,
                )
            header_seen = True
            continue
        if len(cells) != len(HEADER):
            raise _bad_line(number, "columns", stripped, "columns")
        date_text, kind, name_text = cells
        start, end = _parse_date(date_text, number, year)
        if kind not in KINDS:
            raise _bad_line(number, "kind", kind, "unknown_kind")
        is_workday = KINDS[kind]
        if len(name_text) > NAME_MAX:
            raise _bad_line(number, "name", name_text, "name_too_long")
        name = _clean_name(name_text)
        for o in range(start.toordinal(), end.toordinal() + 1):
            day = dt.date.fromordinal(o)
            if is_workday and not is_weekend(day):
                raise _bad_line(number, "date", day.isoformat(), "workday_not_weekend")
            if day in seen:
                raise _bad_line(
                    number, "date", day.isoformat(), "duplicate_date", first_line=seen[day]
                )
            seen[day] = number
            out.append(NoticeDay(day, is_workday, name, number))
    if not out:
        raise InvalidInput(
            "calendar.empty_notice",
            "the notice for {year} lists no days (expected the header date,kind,name and lines)",
            year=year,
        )
    return out


def load_notice(
    session: Session,
    year: int,
    text: str | bytes,
    loaded_by: str | None,
    replace: bool = False,
    *,
    source: str = NOTICE_SOURCE,
    actor: Actor | None = None,
) -> int:
    """Load ``year`` from a notice; returns the number of special days stored.

    All or nothing: the whole text is validated before the first write, and the writes go
    into the caller's transaction (roll back on error as :meth:`Database.session` does).
    A year already loaded (from the package or a notice) needs ``replace=True``, else
    ``calendar.year_exists`` (409); replacing drops the year's previous days.
    """
    days = parse_notice(year, text)
    row = session.get(CalendarYear, year)
    if row is not None and not replace:
        raise Conflict(
            "calendar.year_exists",
            "{year} is already loaded (source: {source}); replace it explicitly",
            year=year,
            source=row.source,
        )
    session.execute(
        delete(CalendarDay).where(
            CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31)
        )
    )
    now = utcnow()
    if row is None:
        session.add(CalendarYear(year=year, source=source, loaded_at=now, loaded_by=loaded_by))
    else:
        row.source, row.loaded_at, row.loaded_by = source, now, loaded_by
    session.execute(
        insert(CalendarDay),
        [{"day": d.day, "is_workday": d.is_workday, "name": d.name} for d in days],
    )
    _record(session, actor, loaded_by, "calendar.load_notice",
            year=year, days=len(days), replace=replace, source=source)  # fmt: skip
    return len(days)


def _record(
    session: Session, actor: Actor | None, loaded_by: str | None, action: str, **detail: object
) -> None:
    """The change on the audit record, by ``actor`` (or the named loader, e.g. the CLI)."""
    who = actor if actor is not None else system_actor(loaded_by or "system")
    record_act(session, who, action, detail=detail)


def _known_year(session: Session, year: int) -> CalendarYear:
    row = session.get(CalendarYear, year)
    if row is None:
        raise unknown_year(year)
    return row


def _touch(row: CalendarYear, loaded_by: str | None) -> None:
    """Record a single-day correction on the year (who, when, and that it was edited)."""
    if MANUAL_MARK not in row.source:
        row.source = (row.source + MANUAL_MARK)[-200:]
    row.loaded_at = utcnow()
    if loaded_by is not None:
        row.loaded_by = loaded_by


def set_day(
    session: Session,
    day: dt.date,
    is_workday: bool,
    name: str | None,
    loaded_by: str | None,
    *,
    actor: Actor | None = None,
) -> CalendarDay:
    """Correct one day of a known year: a holiday (any day) or a weekend make-up workday.

    A workday on Monday–Friday is already the rule; use :func:`remove_day` for that.
    """
    row = _known_year(session, day.year)
    if is_workday and not is_weekend(day):
        raise InvalidInput(
            "calendar.workday_not_weekend",
            "{day} is a weekday and already a working day; remove the special day instead",
            day=day.isoformat(),
        )
    clean = _clean_name(name)
    if clean is not None and len(clean) > NAME_MAX:
        raise InvalidInput(
            "calendar.name_too_long", "a day's name has at most {max} characters", max=NAME_MAX
        )
    entry = session.get(CalendarDay, day)
    if entry is None:
        entry = CalendarDay(day=day, is_workday=is_workday, name=clean)
        session.add(entry)
    else:
        entry.is_workday, entry.name = is_workday, clean
    _touch(row, loaded_by)
    _record(session, actor, loaded_by, "calendar.set_day",
            day=day.isoformat(), is_workday=is_workday, name=clean)  # fmt: skip
    return entry


def remove_day(
    session: Session, day: dt.date, loaded_by: str | None = None, *, actor: Actor | None = None
) -> None:
    """Return one day of a known year to the Monday–Friday rule."""
    row = _known_year(session, day.year)
    entry = session.get(CalendarDay, day)
    if entry is None:
        raise NotFound(
            "calendar.day_not_found",
            "{day} is not a special day; it already follows the Monday–Friday rule",
            day=day.isoformat(),
        )
    session.delete(entry)
    _touch(row, loaded_by)
    _record(session, actor, loaded_by, "calendar.remove_day", day=day.isoformat())


def export_year(session: Session, year: int) -> str:
    """A loaded year in the notice CSV form (runs of equal days as ``a..b`` ranges)."""
    row = _known_year(session, year)
    days = session.execute(
        select(CalendarDay.day, CalendarDay.is_workday, CalendarDay.name)
        .where(CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31))
        .order_by(CalendarDay.day)
    ).all()
    runs: list[tuple[dt.date, dt.date, bool, str | None]] = []
    for day, is_workday, name in days:
        if runs:
            first, last, last_work, last_name = runs[-1]
            if (last_work, last_name) == (is_workday, name) and day - last == _ONE_DAY:
                runs[-1] = (first, day, last_work, last_name)
                continue
        runs.append((day, day, is_workday, name))
    buf = io.StringIO()
    buf.write(f"# {year} · {' '.join(row.source.split())}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for first, last, is_workday, name in runs:
        cell = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
        writer.writerow([cell, "workday" if is_workday else "holiday", name or ""])
    return buf.getvalue()
