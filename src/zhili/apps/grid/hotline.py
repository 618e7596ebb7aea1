"""12345 hotline tickets (12345 政务服务便民热线) into grid events, from the hotline
system's CSV export.

Columns: ``ticket_no, received_at, category, lon, lat, address, description,
caller_name, caller_phone`` and optionally ``attribute.<code>`` for the category's
questions. UTF-8 (with or without BOM) or GB18030, as Chinese offices still export.

Every row is checked before anything is written, and one bad row imports nothing: the
error names the line (the header is line 1) and column, and ``errors`` lists up to 50.
A ticket already imported (or twice in the file) is a duplicate — skipped and counted,
since re-importing yesterday's export is the normal case, not a mistake. Each good row
is then reported as source ``hotline`` (auto-dispatched when the setting says so), its
ticket number the ``external_id`` and its reception time the report time. The caller is
the reporter: their name and phone are kept on the event (shown only to those who
command it), the importing commander is the report step's actor.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor, can, require
from zhili.apps.grid.answers import validate_answers
from zhili.apps.grid.areas import command_org, locate
from zhili.apps.grid.categories import get_category
from zhili.apps.grid.event_models import GridEvent, Source
from zhili.apps.grid.models import EventCategory
from zhili.apps.grid.reporting import MAX_DESCRIPTION, EventReport, command_area_for, report_event
from zhili.apps.grid.visibility import NOWHERE, OrgTarget
from zhili.audit.acts import record_act
from zhili.calendar.service import WorkCalendar
from zhili.clock import CITY_TZ, utcnow
from zhili.errors import InvalidInput, ZhiliError
from zhili.i18n import translate

COLUMNS = (
    "ticket_no",
    "received_at",
    "category",
    "lon",
    "lat",
    "address",
    "description",
    "caller_name",
    "caller_phone",
)
REQUIRED = ("ticket_no", "received_at", "category", "lon", "lat", "description")
LIMITS = {"ticket_no": 64, "address": 300, "caller_name": 100, "caller_phone": 200}
ATTRIBUTE = "attribute."
MAX_ERRORS = 50
MAX_ROWS = 20_000


@dataclass
class HotlineReport:
    """What an import did: events created (their ids) and known tickets skipped."""

    created: int = 0
    duplicates: int = 0
    event_ids: list[int] = field(default_factory=list)
    duplicate_tickets: list[str] = field(default_factory=list)


class RowProblem(InvalidInput):
    """A refusal of one row: the underlying problem (its code and parameters kept, so the
    problem details name the attribute or value), prefixed with the line and column."""

    def __init__(self, line: int, column: str, inner: ZhiliError, **extra: Any) -> None:
        params = {k: v for k, v in inner.params.items() if k not in ("line", "column")}
        super().__init__(inner.code, inner.fallback, **params, line=line, column=column, **extra)
        self.inner = inner

    def message(self, locale: str | None = None) -> str:
        return translate(
            "errors.grid.hotline_row",
            locale,
            line=self.params["line"],
            column=self.params["column"],
            problem=self.inner.message(locale),
        )


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GB18030."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("grid.hotline_encoding", "the CSV is neither UTF-8 nor GB18030")


def _rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [(h or "").strip() for h in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InvalidInput(
            "grid.hotline_bad_header",
            "the CSV header lacks {missing} (line {line}, column {column})",
            line=1, column=missing[0], missing=", ".join(missing),
        )  # fmt: skip
    reader.fieldnames = header
    rows = [{k: (v or "").strip() for k, v in r.items() if k} for r in reader]
    if not rows:
        raise InvalidInput("grid.hotline_no_rows", "the CSV has no tickets")
    if len(rows) > MAX_ROWS:
        raise InvalidInput("grid.hotline_too_many", "at most {max} tickets", max=MAX_ROWS)
    return rows


def _time(value: str, now: dt.datetime) -> dt.datetime:
    """``2025-03-10 09:30[:00]`` (the city's time) or ISO 8601 with an offset, in UTC."""
    try:
        at = dt.datetime.fromisoformat(value.replace("/", "-"))
    except ValueError:
        raise InvalidInput(
            "grid.hotline_bad_time", "{value} is not a date and time", value=value
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=CITY_TZ)
    at = at.astimezone(dt.UTC)
    if at > now:
        raise InvalidInput("grid.report_in_future", "{field} is in the future", field="received_at")
    return at


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InvalidInput("grid.hotline_bad_number", "{value} is not a number", value=value)
    return number


@dataclass(frozen=True, slots=True)
class _Checked:
    line: int
    spec: EventReport


class _Checker:
    """Checks rows one by one, caching categories and the actor's command targets."""

    def __init__(self, session: Session, actor: Actor, now: dt.datetime) -> None:
        self.session, self.actor, self.now = session, actor, now
        self.categories: dict[str, EventCategory] = {}

    def category(self, code: str) -> EventCategory:
        if code not in self.categories:
            self.categories[code] = get_category(self.session, code)
        found = self.categories[code]
        if not found.active:
            raise InvalidInput(
                "grid.category_retired", "category {code} is no longer used", code=code
            )
        return found

    def row(self, line: int, row: Mapping[str, str]) -> EventReport:
        column = "ticket_no"
        try:
            for column in REQUIRED:
                if not row.get(column):
                    raise InvalidInput("grid.hotline_missing", "{column} is empty")
            for column, limit in LIMITS.items():
                if len(row.get(column, "")) > limit:
                    raise InvalidInput(
                        "grid.report_too_long", "{field} is longer than {max} characters",
                        field=column, max=limit,
                    )  # fmt: skip
            column = "description"
            if len(row["description"]) > MAX_DESCRIPTION:
                raise InvalidInput(
                    "grid.report_too_long", "{field} is longer than {max} characters",
                    field=column, max=MAX_DESCRIPTION,
                )  # fmt: skip
            column = "received_at"
            at = _time(row["received_at"], self.now)
            column = "category"
            category = self.category(row["category"])
            column = "lon"
            lon = _number(row["lon"])
            column = "lat"
            lat = _number(row["lat"])
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise InvalidInput(
                    "grid.report_bad_spot", "the spot ({lon}, {lat}) is not a longitude and "
                    "latitude", lon=lon, lat=lat,
                )  # fmt: skip
            area = locate(self.session, lon, lat)
            if area is None:
                raise InvalidInput(
                    "grid.report_outside",
                    "the spot ({lon}, {lat}) is outside every area of the city",
                    lon=lon, lat=lat,
                )  # fmt: skip
            org = command_org(self.session, command_area_for(self.session, area, category.level))
            if not can(self.actor, "grid.command", OrgTarget(org.path) if org else NOWHERE):
                raise InvalidInput(
                    "grid.hotline_not_yours",
                    "the spot ({lon}, {lat}) is outside your command area",
                    lon=lon, lat=lat,
                )  # fmt: skip
            answers = {
                k.removeprefix(ATTRIBUTE): v for k, v in row.items() if k.startswith(ATTRIBUTE)
            }
            column = ATTRIBUTE
            try:
                validate_answers(category, answers)
            except InvalidInput as exc:
                column = ATTRIBUTE + str(exc.params.get("attribute", ""))
                raise
        except ZhiliError as exc:
            raise RowProblem(line, column, exc) from None
        return EventReport(
            category=category.code, lon=lon, lat=lat, description=row["description"],
            answers=answers, address=row.get("address", ""), source=Source.hotline,
            external_id=row["ticket_no"], reporter_name=row.get("caller_name") or None,
            reporter_contact=row.get("caller_phone") or None, reported_at=at,
        )  # fmt: skip


def _fail(errors: list[RowProblem]) -> RowProblem:
    """The first bad row, with every bad row (up to 50) listed in English."""
    first = errors[0]
    listed = [
        {
            "line": e.params["line"],
            "column": e.params["column"],
            "problem": e.code,
            "message": e.message("en"),
        }
        for e in errors
    ]
    return RowProblem(
        first.params["line"], first.params["column"], first.inner,
        errors=listed, total_errors=len(errors),
    )  # fmt: skip


def check_rows(
    session: Session, actor: Actor, rows: list[dict[str, str]], now: dt.datetime
) -> tuple[list[_Checked], list[str]]:
    """Every row checked: the new tickets, and the known (or repeated) ticket numbers."""
    tickets = [r.get("ticket_no", "") for r in rows]
    known = set(
        session.scalars(
            select(GridEvent.external_id).where(
                GridEvent.source == Source.hotline, GridEvent.external_id.in_(set(tickets))
            )
        )
    )
    checker = _Checker(session, actor, now)
    checked: list[_Checked] = []
    duplicates: list[str] = []
    errors: list[RowProblem] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        ticket = row.get("ticket_no", "")
        if ticket and (ticket in known or ticket in seen):
            duplicates.append(ticket)
            continue
        try:
            spec = checker.row(line, row)
        except RowProblem as exc:
            errors.append(exc)
            if len(errors) >= MAX_ERRORS:
                break
            continue
        seen.add(ticket)
        checked.append(_Checked(line, spec))
    if errors:
        raise _fail(errors)
    return checked, duplicates


def import_hotline(
    session: Session,
    actor: Actor,
    data: bytes | str,
    calendar: WorkCalendar,
    *,
    now: dt.datetime | None = None,
) -> HotlineReport:
    """Import a hotline CSV export: all new tickets or none (see the module)."""
    require(actor, "grid.command")
    now = now or utcnow()
    text = decode(data) if isinstance(data, bytes) else data
    checked, duplicates = check_rows(session, actor, _rows(text), now)
    # The caller reports, not the commander: no user is the reporter, and the follow
    # token made for the caller is dropped (the 12345 centre calls them back).
    importer = Actor(
        kind=actor.kind, username=actor.username, org_id=actor.org_id,
        org_path=actor.org_path, roles=actor.roles, system="12345 hotline import",
    )  # fmt: skip
    report = HotlineReport(duplicates=len(duplicates), duplicate_tickets=duplicates[:100])
    for item in checked:
        reported = report_event(session, importer, item.spec, calendar, now=now)
        report.event_ids.append(reported.event.id)
    report.created = len(report.event_ids)
    record_act(
        session,
        actor,
        "grid.hotline_import",
        detail={"created": report.created, "duplicates": report.duplicates},
    )
    return report
