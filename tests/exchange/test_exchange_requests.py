"""Share requests: who decides, by when (working days, 调休 included), and every state
change recorded with who, when and why."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from zhili.access import system_actor
from zhili.calendar.service import WorkCalendar
from zhili.catalog.service import ResourceSpec, create_resource
from zhili.clock import CITY_TZ
from zhili.errors import Conflict, Forbidden, InvalidInput
from zhili.exchange import requests as req
from zhili.exchange.models import RequestState, ShareRequest
from zhili.identity.auth import actor_for
from zhili.identity.models import User

S = RequestState
SCHEMA = {
    "fields": [
        {"name": "id_number", "type": "string", "x-sensitivity": "sensitive_personal"},
        {"name": "district", "type": "string"},
        {"name": "age", "type": "integer"},
    ],
    "primaryKey": ["id_number"],
}


@pytest.fixture()
def city(world, seeded_calendar):
    world.org("CAB", "民政局", "city", "department", "CITY")
    for username, org, role in [
        ("cab.analyst", "CAB", "analyst"), ("cab.approver", "CAB", "approver"),
        ("psb.approver", "PSB", "approver"), ("psb.analyst", "PSB", "analyst"),
        ("root", "BUREAU", "platform_admin"),
    ]:  # fmt: skip
        world.user(username, org, role)
    with world.db.session() as s:
        for code, sharing in [("1-01-001-000001", "conditional"),
                              ("1-01-001-000002", "unconditional"),
                              ("1-01-001-000003", "none")]:  # fmt: skip
            create_resource(s, system_actor(), ResourceSpec(
                code=code, name="人口", provider_code="PSB", classification="base",
                table_schema=SCHEMA, sharing_type=sharing, open_type="closed",
                sharing_conditions="核查" if sharing == "conditional" else None,
                legal_basis="《政务数据管理办法》第十二条" if sharing == "none" else None,
                update_cycle="daily", grade="important",
            ))  # fmt: skip
    return world


def actor(world, username):
    with world.db.session() as s:
        return actor_for(s.scalars(select(User).where(User.username == username)).one())


def spec(code="1-01-001-000001", **kw):
    base = {"system": "养老系统", "purpose": "养老金资格核查", "legal_basis": "社会保险法第十六条"}
    return req.RequestSpec(code, **{**base, **kw})


def _submit(s, who, request):
    return req.submit(s, who, request, WorkCalendar.from_session(s), req.ReviewPolicy())


def test_conditional_request_reviewed_by_the_provider_within_5_working_days(city) -> None:
    cab, psb = actor(city, "cab.analyst"), actor(city, "psb.approver")
    with city.db.session() as s:
        r = req.create_request(s, cab, spec(fields=["district", "age"], row_filter="age >= 60"))
        assert (r.state, r.fields, r.row_filter) == (S.draft, ["district", "age"], "age >= 60")
        _submit(s, cab, r)
        assert r.state == S.under_review and r.reviewer_org_id == r.resource.provider_id
        cal = WorkCalendar.from_session(s)
        created = r.created_at.astimezone(CITY_TZ).date()
        assert r.due_at.astimezone(CITY_TZ).date() == cal.add_workdays(created, 5)
        assert req.may_review(psb, r) and not req.may_review(actor(city, "cab.approver"), r)
        with pytest.raises(Forbidden):
            req.approve(s, actor(city, "cab.approver"), r, req.Decision())
        with pytest.raises(InvalidInput) as no_reason:
            req.reject(s, psb, r, "  ")
        assert no_reason.value.params["field"] == "reason"
        req.ask_more(s, psb, r, "请补充法律依据原文")
        assert r.state == S.needs_info
        req.amend(s, cab, r, spec(fields=["age"], legal_basis="社会保险法第十六条第一款"))
        _submit(s, cab, r)
        grant = req.approve(s, psb, r, req.Decision(reason="同意", calls_per_day=100))
        assert r.state == S.active and grant.fields == ["age"] and grant.calls_per_day == 100
        steps = [(t.from_state, t.to_state, t.actor) for t in req.transitions(s, r)]
    assert steps == [
        (None, "draft", "cab.analyst"), ("draft", "submitted", "cab.analyst"),
        ("submitted", "under_review", "system:compliance"),
        ("under_review", "needs_info", "psb.approver"),
        ("needs_info", "submitted", "cab.analyst"),
        ("submitted", "under_review", "system:compliance"),
        ("under_review", "approved", "psb.approver"), ("approved", "active", "psb.approver"),
    ]  # fmt: skip


def test_deadline_skips_the_national_day_holiday_and_counts_the_make_up_day(city) -> None:
    with city.db.session() as s:
        cal = WorkCalendar.from_session(s)
    start = dt.datetime(2025, 9, 30, 10, 0, tzinfo=CITY_TZ)  # the eve of 国庆 2025
    due = cal.deadline(start, 5)
    # 10-01..10-08 are holidays; 09-28 and 10-11 are 调休 working Saturdays/Sundays.
    assert due.date() == dt.date(2025, 10, 14)


def test_unconditional_requests_pass_the_compliance_check_automatically(city) -> None:
    cab = actor(city, "cab.analyst")
    with city.db.session() as s:
        ok = req.create_request(s, cab, spec("1-01-001-000002"))
        _submit(s, cab, ok)
        assert ok.state == S.active and ok.grant is not None
        assert ok.grant.approved_by == "system:compliance"
        lacking = req.create_request(s, cab, spec("1-01-001-000002", legal_basis=""))
        _submit(s, cab, lacking)
        assert lacking.state == S.under_review and lacking.reviewer_org_id is None
        assert "legal basis" in lacking.decision_reason
        assert not req.may_review(actor(city, "psb.approver"), lacking)  # the bureau decides
        req.approve(s, actor(city, "root"), lacking, req.Decision(reason="人工复核同意"))
        assert lacking.state == S.active


def test_not_shared_resources_need_a_platform_admin_and_a_legal_basis(city) -> None:
    cab, root = actor(city, "cab.analyst"), actor(city, "root")
    with city.db.session() as s:
        r = req.create_request(s, cab, spec("1-01-001-000003", legal_basis=""))
        _submit(s, cab, r)
        with pytest.raises(Forbidden):
            req.approve(s, actor(city, "psb.approver"), r, req.Decision())
        with pytest.raises(InvalidInput) as caught:
            req.approve(s, root, r, req.Decision(reason=""))
        assert caught.value.code == "exchange.legal_basis_required"
        req.approve(s, root, r, req.Decision(reason="依据《XX条例》第十条，经主任办公会批准"))
        assert r.state == S.active


def test_bad_requests_name_their_field(city) -> None:
    cab = actor(city, "cab.analyst")
    cases = [
        (spec(fields=["colour"]), "exchange.unknown_field", "fields"),
        (spec(purpose=" "), "exchange.required", "purpose"),
        (spec(row_filter="age >= 'old'"), "rowfilter.bad_value", "age"),
        (spec(period_start=dt.date(2027, 1, 2), period_end=dt.date(2027, 1, 1)),
         "exchange.bad_period", "period_end"),
        (spec(period_start=dt.date(2027, 1, 1), period_end=dt.date(2031, 1, 1)),
         "exchange.period_too_long", "period_end"),
    ]  # fmt: skip
    with city.db.session() as s:
        for bad, code, field in cases:
            with pytest.raises(InvalidInput) as caught:
                req.create_request(s, cab, bad)
            assert (caught.value.code, caught.value.params.get("field")) == (code, field)
        with pytest.raises(InvalidInput) as own:
            req.create_request(s, actor(city, "psb.analyst"), spec())
        assert own.value.code == "exchange.own_resource"
        with pytest.raises(Forbidden):  # approvers do not apply
            req.create_request(s, actor(city, "cab.approver"), spec())


def test_withdraw_and_states_that_forbid_actions(city) -> None:
    cab, psb = actor(city, "cab.analyst"), actor(city, "psb.approver")
    with city.db.session() as s:
        r = req.create_request(s, cab, spec())
        _submit(s, cab, r)
        with pytest.raises(Conflict):
            _submit(s, cab, r)  # already under review
        req.withdraw(s, cab, r)
        assert r.state == S.withdrawn
        with pytest.raises(Conflict) as caught:
            req.approve(s, psb, r, req.Decision())
        assert caught.value.params["state"] == "withdrawn"


def test_overdue_requests_escalate_to_the_bureau_once(city) -> None:
    cab, root = actor(city, "cab.analyst"), actor(city, "root")
    with city.db.session() as s:
        r = req.create_request(s, cab, spec())
        _submit(s, cab, r)
        later = r.due_at + dt.timedelta(minutes=1)
        assert req.escalate_overdue(s, r.due_at - dt.timedelta(minutes=1)) == []
        assert [x.id for x in req.escalate_overdue(s, later)] == [r.id]
        assert req.escalate_overdue(s, later) == []
        assert r.escalated and req.may_review(root, r)
        assert req.may_review(actor(city, "psb.approver"), r)  # the provider still may
        assert s.get(ShareRequest, r.id).escalated


def test_every_step_and_grant_change_is_an_audited_act(city) -> None:
    from zhili.audit.models import AuditEntry
    from zhili.exchange.grants import change_state

    cab, psb = actor(city, "cab.analyst"), actor(city, "psb.approver")
    with city.db.session() as s:
        r = req.create_request(s, cab, spec())
        _submit(s, cab, r)
        grant = req.approve(s, psb, r, req.Decision(reason="同意"))
        change_state(s, psb, grant, "revoke", "用途变更")
    with city.db.session() as s:
        acts = s.execute(
            select(AuditEntry.action, AuditEntry.actor_username, AuditEntry.kind)
            .where(AuditEntry.action.like("exchange.%") | AuditEntry.action.like("grant.%"))
            .order_by(AuditEntry.seq)
        ).all()
    assert [a for a, _, _ in acts] == [
        "exchange.request.draft", "exchange.request.submitted",
        "exchange.request.under_review", "exchange.request.approved",
        "exchange.request.active", "grant.revoked",
    ]  # fmt: skip
    assert {k for _, _, k in acts} == {"admin"}
    assert acts[3][1] == "psb.approver" and acts[0][1] == "cab.analyst"
