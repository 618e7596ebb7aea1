"""First-run setup shared by `zhili init` and `zhili demo`: idempotent, safe to repeat."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from zhili.calendar.models import CalendarYear
from zhili.calendar.seed import seed_from_package
from zhili.db import Database


@dataclass(frozen=True, slots=True)
class InitReport:
    calendar_years: str


def initialise(db: Database) -> InitReport:
    """Seed what every installation needs (migrations are applied by the caller)."""
    with db.session() as session:
        seed_from_package(session, loaded_by="init")
        years = sorted(session.scalars(select(CalendarYear.year)))
    span = f"{years[0]}–{years[-1]}" if years else "none"
    return InitReport(calendar_years=span)
