"""Loading a year from the State Council's notice, admin corrections, and seeding."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import zhili.calendar.models
from zhili.audit.models import AuditEntry
from zhili.calendar.models import CalendarDay, CalendarYear
from zhili.calendar.notice import (
    MANUAL_MARK,
    NOTICE_SOURCE,
    export_year,
    load_notice,
    parse_notice,
    remove_day,
    set_day,
)
from zhili.calendar.seed import package_source, package_years, seed_from_package
from zhili.calendar.service import WorkCalendar
from zhili.db import Base, import_models, make_engine
from zhili.errors import Conflict, InvalidInput, NotFound

assert zhili.calendar.models  # the tables must be registered on Base.metadata

D = dt.date
NOTICE_2027 = (Path(__file__).parent / "notice_2027.csv").read_text(encoding="utf-8")


@pytest.fixture()
def session() -> Iterator[Session]:
    """An empty in-memory SQLite database with the two calendar tables."""
    engine = make_engine("sqlite:///:memory:")
    import_models()
    Base.metadata.create_all(engine)  # the calendar's tables, and the audit log its edits go to
    with Session(engine) as s:
        yield s
    engine.dispose()


def days_of(session: Session, year: int) -> list[tuple[dt.date, bool, str | None]]:
    rows = session.execute(
        select(CalendarDay.day, CalendarDay.is_workday, CalendarDay.name)
        .where(CalendarDay.day.between(D(year, 1, 1), D(year, 12, 31)))
        .order_by(CalendarDay.day)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def notice(*lines: str) -> str:
    return "\n".join(["# 2027 test notice", "date,kind,name", *lines]) + "\n"


# --------------------------------------------------------------------------- loading


def test_load_the_2027_notice(session: Session) -> None:
    count = load_notice(session, 2027, NOTICE_2027, loaded_by="admin")
    session.commit()
    assert count == len(days_of(session, 2027)) == 34
    year = session.get(CalendarYear, 2027)
    assert year is not None
    assert (year.source, year.loaded_by) == (NOTICE_SOURCE, "admin")
    cal = WorkCalendar.from_session(session)
    assert cal.known_years == {2027}
    assert cal.is_workday(D(2027, 1, 1)) is False
    assert cal.day_name(D(2027, 1, 2)) == "元旦"  # a Saturday inside the holiday keeps its name
    assert cal.is_workday(D(2027, 1, 4)) is True
    assert cal.is_workday(D(2027, 2, 8)) is False
    assert cal.is_workday(D(2027, 2, 20)) is True  # Saturday make-up workday
    assert cal.add_workdays(D(2027, 2, 4), 1) == D(2027, 2, 15)
    assert cal.add_workdays(D(2027, 9, 30), 1) == D(2027, 10, 8)


def test_2027_extends_the_seeded_years(session: Session) -> None:
    seed_from_package(session)
    load_notice(session, 2027, NOTICE_2027, loaded_by="admin")
    cal = WorkCalendar.from_session(session)
    assert cal.add_workdays(D(2026, 12, 31), 1) == D(2027, 1, 4)
    with pytest.raises(InvalidInput, match="2028"):
        cal.add_workdays(D(2027, 12, 31), 1)


def test_loading_a_loaded_year_needs_replace(session: Session) -> None:
    load_notice(session, 2027, NOTICE_2027, loaded_by="admin")
    with pytest.raises(Conflict) as info:
        load_notice(session, 2027, notice("2027-01-01,holiday,元旦"), loaded_by="other")
    assert info.value.code == "calendar.year_exists"
    assert info.value.params["year"] == 2027
    assert info.value.status == 409
    load_notice(session, 2027, notice("2027-01-01,holiday,元旦"), loaded_by="other", replace=True)
    assert days_of(session, 2027) == [(D(2027, 1, 1), False, "元旦")]
    year = session.get(CalendarYear, 2027)
    assert year is not None and year.loaded_by == "other"


@pytest.mark.parametrize("year", [2025, 2027])
def test_export_round_trips(session: Session, year: int) -> None:
    seed_from_package(session)
    load_notice(session, 2027, NOTICE_2027, loaded_by="admin")
    before = days_of(session, year)
    text = export_year(session, year)
    assert "date,kind,name\n" in text
    load_notice(session, year, text, loaded_by="admin", replace=True)
    assert days_of(session, year) == before
    assert export_year(session, year).split("\n", 1)[1] == text.split("\n", 1)[1]


def test_export_writes_ranges(session: Session) -> None:
    seed_from_package(session, years=[2025])
    lines = export_year(session, 2025).splitlines()
    assert lines[1] == "date,kind,name"
    assert "2025-01-28..2025-02-04,holiday,春节" in lines
    assert "2025-10-01..2025-10-08,holiday,国庆中秋" in lines
    assert "2025-10-11,workday,国庆中秋调休" in lines


def test_parse_accepts_bytes_bom_names_with_commas_and_empty_names() -> None:
    text = '\ufeffdate,kind,name\n2027-01-01,holiday,"元旦, 新年"\n2027-01-02,holiday,\n'
    assert [(d.day, d.name, d.line) for d in parse_notice(2027, text)] == [
        (D(2027, 1, 1), "元旦, 新年", 2),
        (D(2027, 1, 2), None, 3),
    ]
    gbk = "date,kind,name\r\n2027-06-09,holiday,端午节\r\n".encode("gb18030")
    assert [d.name for d in parse_notice(2027, gbk)] == ["端午节"]


def test_a_holiday_may_fall_on_any_day() -> None:
    days = parse_notice(2027, notice("2027-01-06,holiday,区庆", "2027-01-09,holiday,周末也可"))
    assert [d.is_workday for d in days] == [False, False]


# --------------------------------------------------------------------------- bad notices


@pytest.mark.parametrize(
    ("bad", "column", "value", "problem"),
    [
        ("2027-13-01,holiday,元旦", "date", "2027-13-01", "bad_date"),
        ("2027/01/01,holiday,元旦", "date", "2027/01/01", "bad_date"),
        ("2027-1-1,holiday,元旦", "date", "2027-1-1", "bad_date"),
        ("2027-01-01,vacation,元旦", "kind", "vacation", "unknown_kind"),
        ("2027-01-06,workday,调休", "date", "2027-01-06", "workday_not_weekend"),  # Wednesday
        ("2027-01-09..2027-01-11,workday,调休", "date", "2027-01-11", "workday_not_weekend"),
        ("2026-12-31,holiday,元旦", "date", "2026-12-31", "outside_year"),
        ("2027-12-31..2028-01-02,holiday,元旦", "date", "2027-12-31..2028-01-02", "outside_year"),
        (
            "2027-02-12..2027-02-06,holiday,春节",
            "date",
            "2027-02-12..2027-02-06",
            "range_backwards",
        ),
        ("2027-05-03,holiday,劳动节", "date", "2027-05-03", "duplicate_date"),
        ("2027-05-10,holiday", "columns", "2027-05-10,holiday", "columns"),
        ("2027-05-10,holiday,x,y", "columns", "2027-05-10,holiday,x,y", "columns"),
        ("2027-05-10,holiday," + "长" * 101, "name", "长" * 101, "name_too_long"),
    ],
)
def test_bad_lines_name_the_line_and_leave_nothing_loaded(
    session: Session, bad: str, column: str, value: str, problem: str
) -> None:
    # line 1 comment, 2 header, 3 valid, 4 blank, 5 valid, 6 the bad line, 7 valid
    text = notice("2027-01-01,holiday,元旦", "", "2027-05-01..2027-05-05,holiday,劳动节", bad)
    text += "2027-10-01,holiday,国庆节\n"
    with pytest.raises(InvalidInput) as info:
        load_notice(session, 2027, text, loaded_by="admin")
    err = info.value
    assert err.code == "calendar.bad_notice_line"
    assert err.status == 422
    assert (err.params["line"], err.params["column"], err.params["value"]) == (6, column, value)
    assert err.params["problem"] == problem
    assert "line 6" in str(err) and "line 6" in err.message("en")
    if problem == "duplicate_date":
        assert err.params["first_line"] == 5
    session.commit()
    assert session.get(CalendarYear, 2027) is None
    assert days_of(session, 2027) == []


def test_a_bad_line_keeps_the_previous_load(session: Session) -> None:
    load_notice(session, 2027, NOTICE_2027, loaded_by="admin")
    session.commit()
    before = days_of(session, 2027)
    with pytest.raises(InvalidInput):
        load_notice(session, 2027, NOTICE_2027 + "2027-13-01,holiday,x\n", "b", replace=True)
    session.commit()
    assert days_of(session, 2027) == before
    year = session.get(CalendarYear, 2027)
    assert year is not None and year.loaded_by == "admin"


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("day,kind,name\n2027-01-01,holiday,元旦\n", "calendar.bad_notice_header", 1),
        ("# only a comment\n2027-01-01,holiday,元旦\n", "calendar.bad_notice_header", 2),
        ("date,kind,name\n", "calendar.empty_notice", None),
        ("", "calendar.empty_notice", None),
    ],
)
def test_bad_header_or_empty_notice(text: str, code: str, line: int | None) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_notice(2027, text)
    assert info.value.code == code
    assert info.value.params.get("line") == line


@pytest.mark.parametrize("year", [1899, 2201])
def test_implausible_year(session: Session, year: int) -> None:
    with pytest.raises(InvalidInput) as info:
        load_notice(session, year, "date,kind,name\n", loaded_by="admin")
    assert info.value.code == "calendar.bad_year"


# --------------------------------------------------------------------------- single days


def test_set_and_remove_a_day(session: Session) -> None:
    seed_from_package(session, years=[2026])
    set_day(session, D(2026, 3, 4), False, " 区庆 ", loaded_by="admin")  # a Wednesday off
    set_day(session, D(2026, 3, 7), True, "补班", loaded_by="admin")  # a Saturday at work
    cal = WorkCalendar.from_session(session)
    assert (cal.is_workday(D(2026, 3, 4)), cal.day_name(D(2026, 3, 4))) == (False, "区庆")
    assert cal.is_workday(D(2026, 3, 7)) is True
    year = session.get(CalendarYear, 2026)
    assert year is not None
    assert year.source == package_source() + MANUAL_MARK and year.loaded_by == "admin"
    set_day(session, D(2026, 3, 4), False, "区庆（更正）", loaded_by="admin")  # update in place
    assert WorkCalendar.from_session(session).day_name(D(2026, 3, 4)) == "区庆（更正）"
    assert year.source.count(MANUAL_MARK) == 1

    remove_day(session, D(2026, 3, 4))
    remove_day(session, D(2026, 3, 7))
    cal = WorkCalendar.from_session(session)
    assert cal.is_workday(D(2026, 3, 4)) is True
    assert cal.is_workday(D(2026, 3, 7)) is False
    with pytest.raises(NotFound) as info:
        remove_day(session, D(2026, 3, 4))
    assert info.value.code == "calendar.day_not_found"
    acts = session.execute(
        select(AuditEntry.action, AuditEntry.actor_username).order_by(AuditEntry.seq)
    ).all()
    assert [tuple(a) for a in acts] == [
        ("calendar.set_day", "admin"), ("calendar.set_day", "admin"),
        ("calendar.set_day", "admin"), ("calendar.remove_day", "system"),
        ("calendar.remove_day", "system"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda s: set_day(s, D(2031, 1, 6), False, "x", "admin"), "calendar.unknown_year"),
        (lambda s: remove_day(s, D(2031, 1, 6)), "calendar.unknown_year"),
        (lambda s: export_year(s, 2031), "calendar.unknown_year"),
        (lambda s: set_day(s, D(2026, 3, 4), True, "x", "admin"), "calendar.workday_not_weekend"),
        (lambda s: set_day(s, D(2026, 3, 4), False, "长" * 101, "a"), "calendar.name_too_long"),
    ],
)
def test_single_day_errors(session: Session, call: Callable[[Session], object], code: str) -> None:
    seed_from_package(session, years=[2026])
    with pytest.raises(InvalidInput) as info:
        call(session)
    assert info.value.code == code


# --------------------------------------------------------------------------- seeding


def test_seeding_is_fast_and_idempotent(session: Session) -> None:
    started = time.perf_counter()
    years = seed_from_package(session, loaded_by="init")
    session.commit()
    assert time.perf_counter() - started < 1.0
    assert years == list(package_years())
    assert years[0] == 2004 and years[-1] >= 2026
    count = session.scalar(select(func.count()).select_from(CalendarDay))
    snapshot = days_of(session, 2025)
    assert seed_from_package(session, loaded_by="again") == []
    session.commit()
    assert session.scalar(select(func.count()).select_from(CalendarDay)) == count
    assert days_of(session, 2025) == snapshot
    year = session.get(CalendarYear, 2025)
    assert year is not None and year.loaded_by == "init"


def test_seeding_does_not_overwrite_a_notice_year(session: Session) -> None:
    text = notice("2026-01-01,holiday,元旦").replace("2027", "2026")
    load_notice(session, 2026, text, loaded_by="admin")
    seeded = seed_from_package(session)
    assert 2026 not in seeded and 2025 in seeded
    assert days_of(session, 2026) == [(D(2026, 1, 1), False, "元旦")]
    year = session.get(CalendarYear, 2026)
    assert year is not None and year.source == NOTICE_SOURCE


def test_seeding_only_some_years(session: Session) -> None:
    assert seed_from_package(session, years=[2024, 2025]) == [2024, 2025]
    assert WorkCalendar.from_session(session).known_years == {2024, 2025}
    assert seed_from_package(session, years=[2025, 2026]) == [2026]


def test_seeding_a_year_the_package_does_not_know(session: Session) -> None:
    with pytest.raises(InvalidInput) as info:
        seed_from_package(session, years=[2027])
    assert info.value.code == "calendar.year_not_in_package"
    assert info.value.params["year"] == 2027
    assert session.get(CalendarYear, 2027) is None
