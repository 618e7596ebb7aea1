"""Objections (数据异议): raised only by organizations that received the data, answered by
the provider within working days (调休 included), reopened once, escalated once, every
step recorded with who, when and why."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import select

from zhili.access import system_actor
from zhili.calendar.service import WorkCalendar
from zhili.catalog.models import Resource
from zhili.catalog.service import ResourceSpec, create_resource, record_version
from zhili.clock import CITY_TZ
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhili.exchange import grants
from zhili.exchange import objections as obj
from zhili.exchange import requests as req
from zhili.exchange.feedback_models import Objection, ObjectionState
from zhili.identity.auth import actor_for
from zhili.identity.models import User

S = ObjectionState
CODE = "1-01-001-000001"
COMPOSITE = "1-01-001-000002"
SCHEMA = {
    "fields": [
        {"name": "id_number", "type": "string", "x-sensitivity": "sensitive_personal"},
        {"name": "district", "type": "string"},
        {"name": "age", "type": "integer"},
    ],
    "primaryKey": ["id_number"],
}
COMPOSITE_SCHEMA = {**SCHEMA, "primaryKey": ["id_number", "district"]}


@pytest.fixture()
def city(world, seeded_calendar):
    """PSB provides two resources with versions 1–3; CAB (民政局) holds grants for both;
    EDU (教育局) holds none."""
    world.org("CAB", "民政局", "city", "department", "CITY")
    world.org("EDU", "教育局", "city", "department", "CITY")
    for username, org, role in [
        ("cab.analyst", "CAB", "analyst"), ("cab.approver", "CAB", "approver"),
        ("psb.steward", "PSB", "data_steward"), ("psb.approver", "PSB", "approver"),
        ("psb.analyst", "PSB", "analyst"), ("edu.analyst", "EDU", "analyst"),
        ("root", "BUREAU", "platform_admin"), ("watcher", "BUREAU", "auditor"),
    ]:  # fmt: skip
        world.user(username, org, role)
    with world.db.session() as s:
        for code, schema in ((CODE, SCHEMA), (COMPOSITE, COMPOSITE_SCHEMA)):
            resource = create_resource(s, system_actor(), ResourceSpec(
                code=code, name="人口", provider_code="PSB", classification="base",
                table_schema=schema, sharing_type="conditional", open_type="closed",
                sharing_conditions="核查", update_cycle="daily", grade="important",
            ))  # fmt: skip
            for version in (1, 2, 3):
                record_version(
                    s, resource, version=version, mode="append", rows_written=3,
                    total_rows=3 * version, size=100, source="t.csv", by="test",
                )  # fmt: skip
    cab, psb = actor(world, "cab.analyst"), actor(world, "psb.approver")
    with world.db.session() as s:
        for code in (CODE, COMPOSITE):
            r = req.create_request(
                s, cab, req.RequestSpec(code, "养老系统", "养老金资格核查", "社保法")
            )
            req.submit(s, cab, r, WorkCalendar.from_session(s), req.ReviewPolicy())
            req.approve(s, psb, r, req.Decision(reason="同意"))
    return world


def actor(world, username):
    with world.db.session() as s:
        return actor_for(s.scalars(select(User).where(User.username == username)).one())


def spec(**kw):
    base = {
        "resource_code": CODE,
        "version": 2,
        "row_keys": ["120101195001010019"],
        "fields": ["age"],
        "description": "年龄与户籍登记不符",
        "evidence": "户籍底册 2026 年 3 月核对",
    }
    return obj.ObjectionSpec(**{**base, **kw})


def _raise(s, who, **kw):
    return obj.raise_objection(s, who, spec(**kw), WorkCalendar.from_session(s), 5)


def test_raise_answer_corrected_and_close(city) -> None:
    cab, steward = actor(city, "cab.analyst"), actor(city, "psb.steward")
    with city.db.session() as s:
        o = _raise(s, cab, row_keys=["120101195001010019", " 120101195001010019 ", "X1"])
        assert (o.state, o.version, o.row_keys) == (S.open, 2, ["120101195001010019", "X1"])
        assert o.fields == ["age"] and o.raised_by == "cab.analyst"
        cal = WorkCalendar.from_session(s)
        created = o.created_at.astimezone(CITY_TZ).date()
        assert o.due_at.astimezone(CITY_TZ).date() == cal.add_workdays(created, 5)
        assert obj.may_answer(steward, o) and obj.may_answer(actor(city, "psb.approver"), o)
        assert not obj.may_answer(actor(city, "psb.analyst"), o)  # not a steward/approver
        assert not obj.may_answer(actor(city, "cab.approver"), o)  # not the provider
        with pytest.raises(Forbidden):
            obj.close(s, steward, o)  # only the consumer accepts
        obj.answer(s, steward, o, outcome="corrected", version=3, reason="已按户籍底册更正")
        assert (o.state, o.corrected_version, o.answered_by) == (
            S.answered_corrected,
            3,
            "psb.steward",
        )
        assert not obj.may_answer(steward, o)
        with pytest.raises(Conflict):
            obj.answer(s, steward, o, outcome="rejected", reason="again")
        with pytest.raises(Forbidden):
            obj.close(s, actor(city, "cab.approver"), o)  # approvers do not raise or accept
        obj.close(s, cab, o)
        assert o.state == S.closed
        steps = [(t.from_state, t.to_state, t.actor, t.reason) for t in obj.transitions(s, o)]
    assert steps == [
        (None, "open", "cab.analyst", None),
        ("open", "answered_corrected", "psb.steward", "v3: 已按户籍底册更正"),
        ("answered_corrected", "closed", "cab.analyst", None),
    ]


def test_deadline_counts_working_days_over_the_national_day_holiday(city, monkeypatch) -> None:
    eve = dt.datetime(2025, 9, 30, 10, 0, tzinfo=CITY_TZ)  # the eve of 国庆 2025
    monkeypatch.setattr(obj, "utcnow", lambda: eve.astimezone(dt.UTC))
    cab = actor(city, "cab.analyst")
    with city.db.session() as s:
        o = _raise(s, cab)
        # 10-01..10-08 are holidays; 10-11 is a 调休 working Saturday.
        assert o.due_at.astimezone(CITY_TZ).date() == dt.date(2025, 10, 14)
        obj.answer(s, actor(city, "psb.approver"), o, outcome="rejected", reason="数据无误")
        later = dt.datetime(2025, 10, 17, 9, 0, tzinfo=CITY_TZ)  # Friday
        monkeypatch.setattr(obj, "utcnow", lambda: later.astimezone(dt.UTC))
        obj.reopen(s, cab, o, "户籍底册与数据不符", WorkCalendar.from_session(s), 2)
        assert o.due_at.astimezone(CITY_TZ).date() == dt.date(2025, 10, 21)  # Mon, Tue


def test_bad_objections_name_their_field(city) -> None:
    cab = actor(city, "cab.analyst")
    cases = [
        (spec(resource_code="9-99-999-999999"), "exchange.unknown_resource", "resource_code"),
        (spec(version=7), "objection.unknown_version", "version"),
        (spec(version=None), "exchange.required", "version"),
        (spec(fields=["colour"]), "exchange.unknown_field", "fields"),
        (spec(row_keys=[], fields=[]), "objection.nothing_disputed", "row_keys"),
        (spec(row_keys=[str(i) for i in range(1001)]), "objection.too_many_rows", "row_keys"),
        (spec(row_keys=[""]), "objection.bad_row_key", "row_keys"),
        (spec(resource_code=COMPOSITE, row_keys=["only-one-value"]), "objection.bad_row_key",
         "row_keys"),
        (spec(description=" "), "exchange.required", "description"),
        (spec(evidence=""), "exchange.required", "evidence"),
    ]  # fmt: skip
    with city.db.session() as s:
        for bad, code, field in cases:
            with pytest.raises(InvalidInput) as caught:
                obj.raise_objection(s, cab, bad, WorkCalendar.from_session(s), 5)
            assert (caught.value.code, caught.value.params.get("field")) == (code, field)
        ok = obj.raise_objection(
            s, cab, spec(resource_code=COMPOSITE, row_keys=[["1", "120101"]]),
            WorkCalendar.from_session(s), 5,
        )  # fmt: skip
        assert ok.row_keys == [["1", "120101"]]
        assert len(_raise(s, cab, row_keys=[str(i) for i in range(1000)]).row_keys) == 1000


def test_only_organizations_that_received_the_data_may_object(city) -> None:
    with city.db.session() as s:
        with pytest.raises(Forbidden) as caught:
            _raise(s, actor(city, "edu.analyst"))  # EDU holds no grant
        assert caught.value.code == "objection.no_grant"
        with pytest.raises(Forbidden):
            _raise(s, actor(city, "psb.analyst"))  # the provider has no grant of its own
        with pytest.raises(Forbidden):
            _raise(s, actor(city, "cab.approver"))  # approvers do not raise objections
        with pytest.raises(Forbidden):
            _raise(s, actor(city, "root"))  # the bureau does not object for a department
    # A revoked grant still means the data was received.
    with city.db.session() as s:
        grant = s.scalars(select(grants.Grant).join(Resource).where(Resource.code == CODE)).one()
        grants.change_state(s, actor(city, "psb.approver"), grant, "revoke", "用途结束")
    with city.db.session() as s:
        assert _raise(s, actor(city, "cab.analyst")).state == S.open


def test_answers_are_checked(city) -> None:
    cab, steward = actor(city, "cab.analyst"), actor(city, "psb.steward")
    with city.db.session() as s:
        o = _raise(s, cab)
        cases = [
            ({"outcome": "corrected", "version": 9}, "objection.unknown_version", "version"),
            ({"outcome": "corrected", "version": 2}, "objection.version_not_newer", "version"),
            ({"outcome": "corrected", "version": 1}, "objection.version_not_newer", "version"),
            ({"outcome": "corrected"}, "exchange.required", "version"),
            ({"outcome": "rejected", "reason": "  "}, "exchange.required", "reason"),
            ({"outcome": "ignored"}, "objection.bad_outcome", "outcome"),
        ]
        for kw, code, field in cases:
            with pytest.raises(InvalidInput) as caught:
                obj.answer(s, steward, o, **kw)
            assert (caught.value.code, caught.value.params.get("field")) == (code, field)
        assert o.state == S.open
        with pytest.raises(Forbidden):
            obj.answer(s, actor(city, "cab.approver"), o, outcome="rejected", reason="x")


def test_reject_reopen_once_then_close(city) -> None:
    cab, psb = actor(city, "cab.analyst"), actor(city, "psb.approver")
    with city.db.session() as s:
        o = _raise(s, cab)
        with pytest.raises(Conflict):
            obj.close(s, cab, o)  # nothing answered yet
        obj.answer(s, psb, o, outcome="rejected", reason="经核对数据无误")
        assert (o.state, o.answer) == (S.answered_rejected, "经核对数据无误")
        with pytest.raises(InvalidInput) as no_reason:
            obj.reopen(s, cab, o, " ", WorkCalendar.from_session(s), 5)
        assert no_reason.value.params["field"] == "reason"
        obj.reopen(s, cab, o, "附户籍证明，请再核", WorkCalendar.from_session(s), 5)
        assert o.state == S.reopened and o.reopened
        obj.answer(s, psb, o, outcome="corrected", version=3)
        with pytest.raises(Conflict) as twice:
            obj.reopen(s, cab, o, "还是不对", WorkCalendar.from_session(s), 5)
        assert twice.value.code == "objection.reopened_once"
        obj.close(s, cab, o, "接受")
        states = [t.to_state for t in obj.transitions(s, o)]
    assert states == ["open", "answered_rejected", "reopened", "answered_corrected", "closed"]


def test_overdue_objections_escalate_to_the_bureau_once(city) -> None:
    cab, root = actor(city, "cab.analyst"), actor(city, "root")
    with city.db.session() as s:
        o = _raise(s, cab)
        assert not obj.may_answer(root, o)  # the bureau waits for the provider's deadline
        with pytest.raises(Forbidden):
            obj.answer(s, root, o, outcome="rejected", reason="x")
        later = o.due_at + dt.timedelta(minutes=1)
        assert obj.escalate_overdue(s, o.due_at - dt.timedelta(minutes=1)) == []
        assert [x.id for x in obj.escalate_overdue(s, later)] == [o.id]
        assert obj.escalate_overdue(s, later) == []
        assert o.escalated and obj.is_overdue(o, later)
        assert obj.may_answer(root, o) and obj.may_answer(actor(city, "psb.steward"), o)
        assert [x.id for x in obj.list_objections(s, root, side="bureau")] == [o.id]
        last = obj.transitions(s, o)[-1]
        assert (last.from_state, last.to_state, last.actor) == ("open", "open", obj.ESCALATION)
        obj.answer(s, root, o, outcome="rejected", reason="经大数据中心协调，数据无误")
        assert obj.escalate_overdue(s, later + dt.timedelta(days=30)) == []
        assert s.get(Objection, o.id).escalated


def test_who_sees_objections(city) -> None:
    with city.db.session() as s:
        o = _raise(s, actor(city, "cab.analyst"))
        oid = o.id
    with city.db.session() as s:
        for username in ("cab.approver", "psb.analyst", "root", "watcher"):
            assert obj.get_objection(s, actor(city, username), oid).id == oid
        with pytest.raises(NotFound):
            obj.get_objection(s, actor(city, "edu.analyst"), oid)
        assert obj.list_objections(s, actor(city, "edu.analyst")) == []
        assert [
            x.id for x in obj.list_objections(s, actor(city, "psb.steward"), side="provider")
        ] == [oid]
        assert obj.list_objections(s, actor(city, "psb.steward"), side="consumer") == []
        assert [x.id for x in obj.list_objections(s, actor(city, "watcher"))] == [oid]
        assert obj.list_objections(s, actor(city, "root"), state="closed") == []


def test_evidence_file_is_kept_bounded_and_replaced(city, tmp_path) -> None:
    cab = actor(city, "cab.analyst")
    with city.db.session() as s:
        o = _raise(s, cab)
        obj.attach_evidence(s, cab, o, tmp_path, "../../户籍证明.pdf", io.BytesIO(b"%PDF-1.4 x"))
        path = obj.evidence_path(tmp_path, o)
        assert path == tmp_path / "objections" / str(o.id) / "户籍证明.pdf"
        assert path.read_bytes() == b"%PDF-1.4 x" and o.evidence_size == 10
        big = io.BytesIO(b"\0" * (obj.MAX_EVIDENCE_BYTES + 1))
        with pytest.raises(InvalidInput) as caught:
            obj.attach_evidence(s, cab, o, tmp_path, "big.bin", big)
        assert caught.value.params["field"] == "evidence_file"
        assert path.exists() and o.evidence_file == "户籍证明.pdf"  # the old file stays
        obj.attach_evidence(s, cab, o, tmp_path, "scan.png", io.BytesIO(b"png"))
        assert [p.name for p in path.parent.iterdir()] == ["scan.png"]
        with pytest.raises(Forbidden):
            obj.attach_evidence(s, actor(city, "psb.steward"), o, tmp_path, "x", io.BytesIO(b"x"))
        other = _raise(s, cab)
        with pytest.raises(NotFound):
            obj.evidence_path(tmp_path, other)
