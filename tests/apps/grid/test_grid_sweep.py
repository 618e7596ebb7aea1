"""The warning and escalation sweep (预警, 督办): a stage warns at 80 % of its time limit
without touching the event's version, escalates at 100 % one level up (the city is the
top), again after one more limit; a rerun, an interrupted run, a second sweeper and a
handler acting at the same moment never escalate an event twice or break its steps."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, text
from tests.apps.grid.event_city import MONDAY, EventCity, build
from typer.testing import CliRunner

from zhili.apps.grid import sweep as sweep_mod
from zhili.apps.grid.event_models import EventStep, GridEvent
from zhili.apps.grid.sweep import sweep
from zhili.apps.grid.visibility import may_command
from zhili.errors import Conflict
from zhili.jobs.runner import _PERIODIC

H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)


@pytest.fixture()
def city(db) -> EventCity:
    return build(db)


def event(city: EventCity, event_id: int) -> GridEvent:
    with city.db.session() as s:
        e = s.get(GridEvent, event_id)
        s.expunge(e)
        return e


def escalations(city: EventCity, event_id: int) -> list[dict]:
    with city.db.session() as s:
        rows = s.scalars(
            select(EventStep)
            .where(EventStep.event_id == event_id, EventStep.action == "escalate")
            .order_by(EventStep.seq)
        )
        return [{"seq": r.seq, "state": (r.from_state, r.to_state), **r.data} for r in rows]


def seqs(city: EventCity, event_id: int) -> list[int]:
    with city.db.session() as s:
        return list(
            s.scalars(
                select(EventStep.seq).where(EventStep.event_id == event_id).order_by(EventStep.seq)
            )
        )


def test_a_stage_warns_at_80_percent_without_changing_the_event(city) -> None:
    # auto-dispatched at 09:30: one working hour to acknowledge, warn 10:18, due 10:30
    event_id, _, _ = city.report("gw")
    assert sweep(city.db, MONDAY + 47 * M).warned == 0
    report = sweep(city.db, MONDAY + 48 * M)
    assert (report.warned, report.escalated) == (1, 0)
    e = event(city, event_id)
    assert e.warned_seq == e.stage_seq == 3 and e.seq == 3  # no new version, no step
    assert seqs(city, event_id) == [1, 2, 3]
    assert sweep(city.db, MONDAY + 50 * M).warned == 0  # once per stage
    # the next stage warns again: acknowledged at 10:00, one working day to handle
    city.act("h1", event_id, "acknowledge", MONDAY + 30 * M)
    e = event(city, event_id)
    assert e.warned_seq != e.stage_seq and e.stage == "handle"
    assert sweep(city.db, e.warn_at - M).warned == 0
    assert sweep(city.db, e.warn_at).warned == 1


def test_escalation_moves_one_level_up_and_again_after_one_more_limit(city) -> None:
    event_id, _, _ = city.report("gw")
    assert sweep(city.db, MONDAY + H - M).escalated == 0
    report = sweep(city.db, MONDAY + H)
    assert report.escalated == 1 and report.warned == 0  # warned by the 10:29 sweep
    with city.db.session() as s:
        e = s.get(GridEvent, event_id)
        assert e.command_area.level == "district" and e.supervised and e.escalations == 1
        assert e.seq == 4 and e.state == "dispatched"
        # the district's commander now commands it; the street's still sees it
        assert may_command(s, city.actor("dcmd"), e)
    assert e.due_at == MONDAY + 2 * H  # 10:30 + one working hour
    assert e.stage_due_at == MONDAY + H  # the on-time mark does not move
    assert escalations(city, event_id) == [
        {"seq": 4, "state": ("dispatched", "dispatched"), "from_level": "street",
         "to_level": "district", "due_at": (MONDAY + 2 * H).astimezone(dt.UTC).isoformat()},
    ]  # fmt: skip
    assert sweep(city.db, MONDAY + H).escalated == 0  # a rerun finds nothing
    assert sweep(city.db, MONDAY + 2 * H - M).escalated == 0
    assert sweep(city.db, MONDAY + 2 * H).escalated == 1  # 11:30: to the city
    e = event(city, event_id)
    assert e.level == "city" and e.escalations == 2
    # 11:30 + 1 h of working time, across the lunch break: 14:00
    assert e.due_at == MONDAY.replace(hour=14, minute=0)
    assert sweep(city.db, e.due_at).escalated == 1  # the city is the top: supervised again
    e = event(city, event_id)
    assert e.level == "city" and e.escalations == 3 and e.seq == 6
    steps = escalations(city, event_id)
    assert [(s["from_level"], s["to_level"]) for s in steps] == [
        ("street", "district"), ("district", "city"), ("city", "city")
    ]  # fmt: skip
    assert seqs(city, event_id) == [1, 2, 3, 4, 5, 6]


def test_a_late_sweep_escalates_once_and_gives_a_full_limit_from_now(city) -> None:
    event_id, _, _ = city.report("gw")
    later = MONDAY + dt.timedelta(days=1)  # Tuesday 09:30, many limits missed
    assert sweep(city.db, later).escalated == 1
    e = event(city, event_id)
    assert e.escalations == 1 and e.level == "district"
    assert e.due_at == later + H


def test_day_limits_move_to_the_end_of_the_next_working_day(city) -> None:
    event_id, _, _ = city.report("gw")
    city.act("h1", event_id, "acknowledge", MONDAY)
    e = event(city, event_id)
    assert e.due_at == MONDAY.replace(day=11, hour=17, minute=30)  # 1 working day
    assert sweep(city.db, e.due_at).escalated == 1
    assert event(city, event_id).due_at == MONDAY.replace(day=12, hour=17, minute=30)


def test_closed_events_and_events_without_a_clock_are_left_alone(city) -> None:
    event_id, _, _ = city.report("gw")
    city.act("h1", event_id, "acknowledge", MONDAY)
    city.act("h1", event_id, "handle", MONDAY, note="已清理")
    city.act("gw", event_id, "verify", MONDAY)
    assert event(city, event_id).due_at is None  # verified: no stage clock
    city.act("cmd", event_id, "close", MONDAY)
    report = sweep(city.db, MONDAY + dt.timedelta(days=30))
    assert (report.warned, report.escalated) == (0, 0)


def test_an_interrupted_sweep_run_again_escalates_each_event_once(city, monkeypatch) -> None:
    ids = [city.report("gw", grid=i % 3)[0] for i in range(7)]
    real, calls = sweep_mod._escalate, []

    def failing(conn, claimed, now, postgres):
        calls.append(len(claimed))
        if len(calls) == 2:
            real(conn, claimed, now, postgres)  # written, then the process "dies"
            raise RuntimeError("killed")
        return real(conn, claimed, now, postgres)

    monkeypatch.setattr(sweep_mod, "_escalate", failing)
    with pytest.raises(RuntimeError):
        sweep(city.db, MONDAY + H, batch=3)
    monkeypatch.setattr(sweep_mod, "_escalate", real)
    done = sum(len(escalations(city, i)) for i in ids)
    assert done == 3  # the first batch committed, the second rolled back
    assert sweep(city.db, MONDAY + H + M, batch=3).escalated == 4
    assert sweep(city.db, MONDAY + H + 2 * M, batch=3).escalated == 0
    for i in ids:
        assert len(escalations(city, i)) == 1
        assert seqs(city, i) == [1, 2, 3, 4]


def test_two_sweepers_at_once_escalate_each_event_once(city) -> None:
    ids = [city.report("gw", grid=i % 3)[0] for i in range(12)]
    reports, errors = [], []

    def run() -> None:
        try:
            reports.append(sweep(city.db, MONDAY + H, batch=2))
        except Exception as exc:  # pragma: no cover - shown by the assert
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.escalated for r in reports) == 12
    assert all(len(escalations(city, i)) == 1 for i in ids)


def test_a_handler_acting_while_the_sweep_runs_keeps_the_steps_consistent(
    city, monkeypatch
) -> None:
    event_id, _, _ = city.report("gw")
    postgres = city.db.engine.dialect.name == "postgresql"
    if postgres:
        # the handler holds the row: the sweep skips it instead of waiting
        with city.db.engine.connect() as held:
            held.execute(
                text("SELECT id FROM grid_events WHERE id = :i FOR UPDATE"), {"i": event_id}
            )
            assert sweep(city.db, MONDAY + H).escalated == 0
            held.rollback()
    else:
        # the handler acts between the sweep's read and its write: the stale claim is left
        real = sweep_mod._claim

        def claim_then_handler_acts(*args):
            claimed = real(*args)
            if claimed:
                city.act("h1", event_id, "acknowledge", MONDAY + H)
            return claimed

        monkeypatch.setattr(sweep_mod, "_claim", claim_then_handler_acts)
        assert sweep(city.db, MONDAY + H).escalated == 0
        monkeypatch.setattr(sweep_mod, "_claim", real)
        assert event(city, event_id).stage == "handle"  # a new stage, a new clock
    # and the other way round: the sweep escalates after a handler loaded the event
    from zhili.apps.grid import steps as events_mod

    real_enter = events_mod.enter_state

    def sweep_meanwhile(*args, **kw):
        assert sweep(city.db, MONDAY + dt.timedelta(days=3)).escalated == 1
        return real_enter(*args, **kw)

    monkeypatch.setattr(events_mod, "enter_state", sweep_meanwhile)
    action = "start" if not postgres else "acknowledge"
    with pytest.raises(Conflict) as err:
        city.act("h1", event_id, action, MONDAY + dt.timedelta(days=3))
    assert err.value.code == "grid.event_changed"
    numbers = seqs(city, event_id)
    assert numbers == list(range(1, len(numbers) + 1))
    assert event(city, event_id).seq == numbers[-1]
    with city.db.session() as s:
        actions = s.scalars(select(func.count()).where(EventStep.action == "escalate")).one()
    assert actions == 1


def test_the_sweep_runs_every_minute_in_the_job_runners(city) -> None:
    every, fn = _PERIODIC["grid.sweep"]
    assert every == 60
    event_id, _, _ = city.report("gw", at=MONDAY - dt.timedelta(days=7))
    with city.db.session() as s:
        fn(s)  # at the real now: a week-old event is long overdue
    assert len(escalations(city, event_id)) == 1


def test_the_cli_sweeps_at_a_given_moment(city, settings) -> None:
    from zhili.cli.main import app

    event_id, _, _ = city.report("gw")
    result = CliRunner().invoke(app, ["grid", "sweep", "--now", "2025-03-10T10:30"])
    assert result.exit_code == 0, result.output
    assert "0 warned, 1 escalated" in result.output  # escalated stages count as warned
    assert event(city, event_id).level == "district"
    bad = CliRunner().invoke(app, ["grid", "sweep", "--now", "monday"])
    assert bad.exit_code == 2 and "grid.sweep_bad_now" in bad.output
