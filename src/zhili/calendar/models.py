"""Tables of the working-day calendar: special days and which years are known."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhili.clock import utcnow
from zhili.db import Base, UTCDateTime


class CalendarYear(Base):
    """A year whose official holidays and 调休 days have been loaded; others are unknown."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    loaded_by: Mapped[str | None] = mapped_column(String(64))


class CalendarDay(Base):
    """A date that differs from the Mon–Fri rule: a public holiday on a weekday, or a
    weekend make-up working day (调休). Ordinary days have no row."""

    __tablename__ = "calendar_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(100))
