"""12345 hotline tickets from CSV: good rows become dispatched events with the caller as
reporter, known tickets are skipped and counted, one bad row imports nothing and the
error names its line and column (in zh-CN and English); only commanders import, and
only tickets inside their command area."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.apps.grid.event_city import MONDAY, EventCity, build
from tests.apps.grid.grid_city import piece, user

from zhili.apps.grid.event_models import EventStep, GridEvent
from zhili.apps.grid.hotline import COLUMNS, import_hotline
from zhili.audit.models import AuditEntry
from zhili.calendar.service import WorkCalendar
from zhili.errors import Forbidden, InvalidInput

NOW = MONDAY + dt.timedelta(days=1)


@pytest.fixture()
def city(db) -> EventCity:
    c = build(db)
    user(db, "ocmd", piece().other_district.code, "commander")
    return c


def row(city: EventCity, n: int, **changes: Any) -> dict[str, Any]:
    lon, lat = city.spot(n % 4)
    values = {
        "ticket_no": f"12345-2025031000{n:02d}",
        "received_at": "2025-03-10 09:30:00",
        "category": "road-block",
        "lon": f"{lon:.6f}",
        "lat": f"{lat:.6f}",
        "address": "南京路 100 号",
        "description": "路中间堆了沙子",
        "caller_name": "张三",
        "caller_phone": f"1380000{n:04d}",
        "attribute.lanes": "2",
    }
    values.update(changes)
    return values


def sheet(
    rows: list[dict[str, Any]], columns: tuple[str, ...] = (*COLUMNS, "attribute.lanes")
) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def run(city: EventCity, data: str | bytes, who: str = "cmd"):
    with city.db.session() as s:
        return import_hotline(s, city.actor(who), data, WorkCalendar.from_session(s), now=NOW)


def count(city: EventCity) -> int:
    with city.db.session() as s:
        return s.scalar(select(func.count()).select_from(GridEvent)) or 0


def test_tickets_become_dispatched_events_and_known_ones_are_skipped(city) -> None:
    rows = [row(city, 1), row(city, 2, received_at="2025-03-10T01:00:00+00:00")]
    done = run(city, sheet(rows).encode("gb18030"))  # GB18030, as offices export
    assert (done.created, done.duplicates) == (2, 0)
    with city.db.session() as s:
        events = [s.get(GridEvent, i) for i in done.event_ids]
        first = events[0]
        assert (first.source, first.external_id, first.state) == (
            "hotline", "12345-202503100001", "dispatched",
        )  # fmt: skip
        assert first.reporter_id is None and first.reporter_name == "张三"
        assert first.reporter_contact == "13800000001" and first.answers == {"lanes": 2}
        assert first.reported_at == MONDAY and events[1].reported_at == MONDAY.replace(
            hour=9, minute=0
        )  # 01:00 UTC is 09:00 in the city
        report = s.scalar(
            select(EventStep).where(EventStep.event_id == first.id, EventStep.seq == 1)
        )
        assert (report.actor_name, report.actor_id) == ("cmd", None)
        acts = s.scalars(select(AuditEntry).where(AuditEntry.action == "grid.hotline_import"))
        assert [a.detail for a in acts] == [{"created": 2, "duplicates": 0}]
    again = run(city, sheet([*rows, row(city, 3), row(city, 3)]))  # yesterday's export again
    assert (again.created, again.duplicates) == (1, 3)
    assert again.duplicate_tickets == [r["ticket_no"] for r in rows] + ["12345-202503100003"]
    assert count(city) == 3


BAD = [
    ({"description": ""}, "description", "grid.hotline_missing"),
    ({"received_at": "昨天"}, "received_at", "grid.hotline_bad_time"),
    ({"received_at": "2025-03-12 09:00"}, "received_at", "grid.report_in_future"),
    ({"lon": "east"}, "lon", "grid.hotline_bad_number"),
    ({"lat": "95"}, "lat", "grid.report_bad_spot"),
    ({"lon": "0", "lat": "0"}, "lat", "grid.report_outside"),
    ({"category": "nope"}, "category", "grid.category_not_found"),
    ({"attribute.lanes": ""}, "attribute.lanes", "grid.answer_required"),
    ({"attribute.lanes": "many"}, "attribute.lanes", "grid.answer_bad_value"),
    ({"caller_phone": "1" * 201}, "caller_phone", "grid.report_too_long"),
]


def test_a_bad_row_imports_nothing_and_names_line_and_column(city) -> None:
    for change, column, code in BAD:
        rows = [row(city, 1), row(city, 2, **change), row(city, 3)]
        with pytest.raises(InvalidInput) as caught:
            run(city, sheet(rows))
        err = caught.value
        assert (err.code, err.params["line"], err.params["column"]) == (code, 3, column), change
        assert err.message("en").startswith(f"Line 3, column {column}: ")
        assert err.message("zh-CN").startswith(f"第 3 行，列 {column}：")
    assert count(city) == 0


def test_every_bad_row_is_listed_and_the_file_is_checked(city) -> None:
    rows = [row(city, 1, lon=""), row(city, 2), row(city, 3, category="nope")]
    with pytest.raises(InvalidInput) as caught:
        run(city, sheet(rows))
    listed = caught.value.params["errors"]
    assert [(e["line"], e["column"], e["problem"]) for e in listed] == [
        (2, "lon", "grid.hotline_missing"),
        (4, "category", "grid.category_not_found"),
    ]
    assert caught.value.params["total_errors"] == 2
    with pytest.raises(InvalidInput) as header:
        run(city, sheet([row(city, 1)], columns=COLUMNS[:-1]))
    assert header.value.code == "grid.hotline_bad_header"
    assert header.value.params["column"] == "caller_phone"
    with pytest.raises(InvalidInput) as empty:
        run(city, sheet([]))
    assert empty.value.code == "grid.hotline_no_rows"
    with pytest.raises(InvalidInput) as encoding:
        run(city, b"\xff\xfe\x00garbage\x81")
    assert encoding.value.code == "grid.hotline_encoding"
    assert count(city) == 0


def test_only_commanders_of_the_spot_import(city) -> None:
    with pytest.raises(Forbidden):
        run(city, sheet([row(city, 1)]), who="h1")
    with pytest.raises(InvalidInput) as caught:
        run(city, sheet([row(city, 1)]), who="ocmd")  # another district's commander
    assert (caught.value.code, caught.value.params["column"]) == ("grid.hotline_not_yours", "lat")
    assert run(city, sheet([row(city, 1)]), who="dcmd").created == 1  # the district's own
