"""The event workflow (事件): reports from grid workers are dispatched at once, a
resident's waits for the commander; every step is checked (state, who, reason), recorded
with its stage clock, and the followers are told; duplicates within 50 m are offered
and merged; two people acting at once produce one step."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select
from tests.apps.grid.event_city import MONDAY, EventCity, build

from zhili.apps.grid.event_models import EventNotice, EventStep, GridEvent
from zhili.apps.grid.events import get_event, timeline
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound


@pytest.fixture()
def city(db) -> EventCity:
    return build(db)


def steps(city: EventCity, event_id: int) -> list[tuple[str, str]]:
    with city.db.session() as s:
        return [(st.action, st.to_state) for st in timeline(s, s.get(GridEvent, event_id))]


def test_a_grid_workers_report_is_registered_and_dispatched_at_once(city) -> None:
    event_id, token, dups = city.report("gw")
    assert token is None and dups == []
    assert steps(city, event_id) == [
        ("report", "reported"), ("register", "registered"), ("dispatch", "dispatched")
    ]  # fmt: skip
    with city.db.session() as s:
        e = s.get(GridEvent, event_id)
        assert e.state == "dispatched" and e.lead_department.code == "CGW" and e.seq == 3
        assert e.level == "street" and e.command_area.level == "street"
        assert e.stage == "acknowledge"
        # one working hour to acknowledge, warned at 80 %: 10:18 and 10:30 Beijing time
        assert e.due_at == MONDAY + dt.timedelta(hours=1)
        assert e.warn_at == MONDAY + dt.timedelta(minutes=48)


def test_a_report_inserts_a_complete_event_and_never_updates_it(city) -> None:
    """The event is complete before it is written: one INSERT of the event (in its
    dispatched state), then its three steps (one statement on PostgreSQL), follower and
    department; no UPDATE."""
    from sqlalchemy import event as sa_event

    city.report("gw")  # warm: the tree and the polygons are read once per process
    writes: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(" ".join(statement.split()[:3]))

    sa_event.listen(city.db.engine, "before_cursor_execute", seen)
    try:
        event_id, _, _ = city.report("gw", grid=1)
    finally:
        sa_event.remove(city.db.engine, "before_cursor_execute", seen)
    tables = sorted({w.split()[2] for w in writes if w.upper().startswith("INSERT")})
    assert tables == [
        "grid_event_departments", "grid_event_followers", "grid_event_steps", "grid_events"
    ]  # fmt: skip
    assert not [w for w in writes if not w.upper().startswith("INSERT")]
    assert [a for a, _ in steps(city, event_id)] == ["report", "register", "dispatch"]


def test_the_whole_loop_from_a_residents_report_to_closing(city) -> None:
    event_id, token, _ = city.report(None, source="public", reporter_contact="138****0000")
    assert token
    t = MONDAY
    assert city.act("cmd", event_id, "register", t) == "registered"
    state = city.act("cmd", event_id, "dispatch", t, departments=["CGW", "PSB"], lead="CGW")
    assert state == "dispatched"
    assert city.act("hp", event_id, "acknowledge", t) == "dispatched"  # not the lead
    assert city.act("h1", event_id, "acknowledge", t) == "acknowledged"
    assert city.act("h2", event_id, "start", t) == "in_progress"
    later = t + dt.timedelta(days=3)  # past the one-working-day limit
    assert city.act("h1", event_id, "handle", later, note="已清理") == "handled"
    assert city.act("gw", event_id, "verify", later) == "verified"
    assert city.act("cmd", event_id, "close", later) == "closed"
    with city.db.session() as s:
        e = s.get(GridEvent, event_id)
        assert not e.open and e.closed_at == later and e.stage is None
        handled = s.scalar(
            select(EventStep).where(EventStep.event_id == event_id, EventStep.action == "handle")
        )
        assert handled.data["stage"] == "handle" and handled.data["late"] is True
        assert handled.data["work_minutes"] > 7 * 60
        notices = s.scalars(select(EventNotice.kind).where(EventNotice.event_id == event_id))
        assert list(notices) == ["closed"]  # the anonymous reporter's follow link


def test_each_refusal_says_why_and_changes_nothing(city) -> None:
    event_id, _, _ = city.report("gw")
    cases = [
        ("h1", "close", {}, Forbidden, "grid.not_yours"),
        ("cmd", "register", {}, Conflict, "grid.wrong_state"),
        ("cmd", "transfer", {"departments": ["PSB"]}, InvalidInput, "grid.reason_required"),
        ("cmd", "transfer", {"departments": ["NOPE"], "note": "x"}, InvalidInput,
         "grid.dispatch_unknown_department"),
        ("cmd", "transfer", {"departments": ["PSB"], "lead": "CGW", "note": "x"}, InvalidInput,
         "grid.dispatch_bad_lead"),
        ("cmd", "fly", {}, InvalidInput, "grid.unknown_action"),
        ("hp", "acknowledge", {}, NotFound, "grid.event_not_found"),  # not dispatched to 公安
        ("h1", "return", {}, InvalidInput, "grid.reason_required"),
        ("gw2", "acknowledge", {}, NotFound, "grid.event_not_found"),  # not their grid
        ("resident", "acknowledge", {}, NotFound, "grid.event_not_found"),
    ]  # fmt: skip
    for who, action, kw, error, code in cases:
        with pytest.raises(error) as caught:
            city.act(who, event_id, action, **kw)
        assert caught.value.code == code, (who, action)
    assert len(steps(city, event_id)) == 3


def test_bad_reports_are_refused_naming_the_field(city) -> None:
    cases = [
        ({"spot": (0.0, 0.0)}, "grid.report_outside"),
        ({"spot": (float("nan"), 39.0)}, "grid.report_bad_spot"),
        ({"spot": (200.0, 39.0)}, "grid.report_bad_spot"),
        ({"description": "  "}, "grid.report_no_description"),
        ({"description": "长" * 2001}, "grid.report_too_long"),
        ({"answers": {}}, None),  # required lanes missing: the catalogue's own code
        ({"answers": {"lanes": "many"}}, None),
        ({"category": "nope"}, "grid.category_not_found"),
        ({"source": "pigeon"}, "grid.report_bad_source"),
        ({"at": MONDAY, "reported_at": MONDAY + dt.timedelta(days=1)}, "grid.report_in_future"),
    ]
    for kw, code in cases:
        with pytest.raises((InvalidInput, NotFound)) as caught:
            city.report("gw", **kw)
        if code:
            assert caught.value.code == code, kw
        assert caught.value.params.get("field") or caught.value.params.get("attribute") or code
    with pytest.raises(Forbidden):
        city.report("resident", source="grid_worker")
    with city.db.session() as s:
        assert s.scalar(select(func.count()).select_from(GridEvent)) == 0


def test_a_failed_check_on_site_reopens_the_event(city) -> None:
    event_id, _, _ = city.report("gw")
    city.act("h1", event_id, "acknowledge")
    city.act("h1", event_id, "handle", note="已清理")
    with pytest.raises(InvalidInput):
        city.act("gw", event_id, "reopen")  # needs a reason
    assert city.act("gw", event_id, "reopen", note="材料还在") == "in_progress"
    with city.db.session() as s:
        e = s.get(GridEvent, event_id)
        assert e.reopened == 1 and e.stage == "handle" and e.stage_seq == e.seq


def test_a_department_returns_an_event_and_the_commander_transfers(city) -> None:
    event_id, _, _ = city.report("gw")
    assert city.act("h1", event_id, "return", note="不属于本部门") == "registered"
    assert city.act("cmd", event_id, "dispatch", departments=["PSB"]) == "dispatched"
    assert city.act("hp", event_id, "acknowledge") == "acknowledged"
    state = city.act("cmd", event_id, "transfer", departments=["CGW"], note="改派")
    assert state == "dispatched"
    with pytest.raises(Forbidden):
        city.act("hp", event_id, "start")


def test_reports_within_50_m_are_offered_as_duplicates_and_merged(city) -> None:
    lon, lat = city.spot()
    first, _, _ = city.report("gw", spot=(lon, lat))
    near, token, dups = city.report(None, source="public", spot=(lon + 0.0003, lat))  # ~26 m
    assert dups == [first] and token
    far, _, dups_far = city.report(None, source="public", spot=(lon, lat + 0.0009))  # ~100 m
    assert dups_far == [first] or dups_far == []
    assert first not in dups_far or far is None
    with pytest.raises(InvalidInput):
        city.act("cmd", near, "merge", note="重复", merge_into=near)
    assert city.act("cmd", near, "merge", note="重复", merge_into=first) == "merged"
    city.act("h1", first, "acknowledge")
    city.act("h1", first, "handle", note="ok")
    city.act("gw", first, "verify")
    city.act("cmd", first, "close")
    with city.db.session() as s:
        kinds = sorted(s.scalars(select(EventNotice.kind)))
    # the merged reporter was told of the merge, then (following the first) of the close
    assert kinds == ["closed", "closed", "merged"]


def test_two_handlers_acknowledging_at_once_make_one_step(city) -> None:
    event_id, _, _ = city.report("gw")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def acknowledge(who: str) -> None:
        from zhili.apps.grid.events import Action, act
        from zhili.calendar.service import WorkCalendar

        actor = city.actor(who)
        try:
            with city.db.session() as s:
                calendar = WorkCalendar.from_session(s)
                get_event(s, actor, event_id)  # both have read the event …
                barrier.wait(timeout=10)  # … before either writes
                act(s, actor, event_id, Action("acknowledge"), calendar, now=MONDAY)
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=acknowledge, args=(u,)) for u in ("h1", "h2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) in (["grid.event_changed", "ok"], ["grid.wrong_state", "ok"])
    assert [a for a, _ in steps(city, event_id)].count("acknowledge") == 1


def test_boards_inboxes_and_lists_show_each_person_their_events(city) -> None:
    from zhili.apps.grid.queries import EventFilter, list_events

    mine, _, _ = city.report("gw")  # grid 0: gw walks it, 城管 gets it
    other, _, _ = city.report(None, source="public", grid=5)  # waits for the commander

    def ids(who: str, **kw) -> list[int]:
        with city.db.session() as s:
            rows, total = list_events(s, city.actor(who), EventFilter(**kw), now=MONDAY)
            assert total == len(rows)
            return sorted(e.id for e in rows)

    assert ids("cmd", box="command") == sorted([mine, other])
    assert ids("dcmd") == sorted([mine, other])  # the district sees its streets' events
    assert ids("dcmd", box="command") == sorted([mine, other])  # and may take them over
    assert ids("h1", box="department") == [mine] and ids("hp", box="department") == []
    assert ids("gw", box="grid") == [mine] and ids("gw2") == []
    assert ids("cmd", state="reported") == [other]
    assert ids("cmd", category="road-block", state="open") == sorted([mine, other])
    with pytest.raises(InvalidInput):
        ids("cmd", box="everything")
    with pytest.raises(InvalidInput):
        ids("cmd", state="lost")
