"""Demands (供需对接): a department publishes a data need; providers answer with a catalog
resource or a plan; the publisher accepts one and closes. Everyone signed in sees them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from zhili.access import system_actor
from zhili.catalog.service import ResourceSpec, create_resource
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhili.exchange import demands as dem
from zhili.exchange.feedback_models import DemandState
from zhili.exchange.requests import today
from zhili.identity.auth import actor_for
from zhili.identity.models import User

S = DemandState
CODE = "1-01-001-000001"


@pytest.fixture()
def city(world, seeded_calendar):
    world.org("CAB", "民政局", "city", "department", "CITY")
    world.org("EDU", "教育局", "city", "department", "CITY")
    for username, org, role in [
        ("cab.analyst", "CAB", "analyst"), ("cab.steward", "CAB", "data_steward"),
        ("psb.steward", "PSB", "data_steward"), ("psb.admin", "PSB", "org_admin"),
        ("psb.analyst", "PSB", "analyst"), ("edu.steward", "EDU", "data_steward"),
        ("root", "BUREAU", "platform_admin"), ("grid", "D01", "grid_worker"),
    ]:  # fmt: skip
        world.user(username, org, role)
    with world.db.session() as s:
        create_resource(s, system_actor(), ResourceSpec(
            code=CODE, name="死亡人员信息", provider_code="PSB", classification="base",
            table_schema={"fields": [{"name": "id_number", "type": "string"}]},
            sharing_type="conditional", open_type="closed", sharing_conditions="核查",
            update_cycle="daily", grade="important",
        ))  # fmt: skip
    return world


def actor(world, username):
    with world.db.session() as s:
        return actor_for(s.scalars(select(User).where(User.username == username)).one())


def spec(**kw):
    base = {
        "title": "死亡人员名单",
        "description": "养老金停发需要及时掌握死亡人员",
        "items": "姓名、公民身份号码、死亡日期",
        "purpose": "停发已故人员养老金",
        "deadline": today() + dt.timedelta(days=30),
    }
    return dem.DemandSpec(**{**base, **kw})


def test_publish_answer_accept_and_close(city) -> None:
    cab = actor(city, "cab.analyst")
    with city.db.session() as s:
        d = dem.publish(s, cab, spec())
        assert (d.state, d.org.code, d.published_by, d.target_org_id) == (
            S.open, "CAB", "cab.analyst", None,
        )  # fmt: skip
        link = dem.answer(s, actor(city, "psb.steward"), d, dem.AnswerSpec(resource_code=CODE))
        assert (link.kind, link.resource.code, d.state) == ("resource", CODE, S.answered)
        plan = dem.answer(
            s,
            actor(city, "edu.steward"),
            d,
            dem.AnswerSpec(plan="学籍注销数据按月推送", planned_date=today(), note="需协调"),
        )
        assert (plan.kind, plan.planned_date, d.state) == ("plan", today(), S.answered)
        assert [a.id for a in dem.answers(s, d)] == [link.id, plan.id]
        with pytest.raises(Forbidden):
            dem.close(s, actor(city, "psb.steward"), d, answer_id=link.id)
        dem.close(s, cab, d, answer_id=link.id)
        assert (d.state, d.accepted_answer_id) == (S.closed, link.id)
        with pytest.raises(Conflict):
            dem.answer(s, actor(city, "psb.admin"), d, dem.AnswerSpec(resource_code=CODE))
        assert not dem.may_answer(actor(city, "psb.admin"), d)
        steps = [(t.from_state, t.to_state, t.actor, t.reason) for t in dem.transitions(s, d)]
    assert steps == [
        (None, "open", "cab.analyst", None),
        ("open", "answered", "psb.steward", f"answer #{link.id}"),
        ("answered", "closed", "cab.analyst", f"accepted answer #{link.id}"),
    ]


def test_bad_demands_and_answers_name_their_field(city) -> None:
    cab = actor(city, "cab.analyst")
    yesterday = today() - dt.timedelta(days=1)
    cases = [
        (spec(title=" "), "exchange.required", "title"),
        (spec(title="x" * 201), "demand.too_long", "title"),
        (spec(items=""), "exchange.required", "items"),
        (spec(purpose=""), "exchange.required", "purpose"),
        (spec(deadline=None), "exchange.required", "deadline"),
        (spec(deadline=yesterday), "demand.date_past", "deadline"),
        (spec(target_org="NOPE"), "demand.unknown_org", "target_org"),
        (spec(target_org="CAB"), "demand.own_target", "target_org"),
    ]
    steward = actor(city, "psb.steward")
    answers = [
        (dem.AnswerSpec(resource_code="9-99-999-999999"), "exchange.unknown_resource",
         "resource_code"),
        (dem.AnswerSpec(), "demand.empty_answer", "resource_code"),
        (dem.AnswerSpec(plan="按季度提供"), "exchange.required", "planned_date"),
        (dem.AnswerSpec(plan="按季度提供", planned_date=yesterday), "demand.date_past",
         "planned_date"),
        (dem.AnswerSpec(resource_code=CODE, plan="也可以"), "demand.one_answer", "plan"),
    ]  # fmt: skip
    with city.db.session() as s:
        for bad, code, field in cases:
            with pytest.raises(InvalidInput) as caught:
                dem.publish(s, cab, bad)
            assert (caught.value.code, caught.value.params.get("field")) == (code, field)
        d = dem.publish(s, cab, spec())
        for bad, code, field in answers:
            with pytest.raises(InvalidInput) as caught:
                dem.answer(s, steward, d, bad)
            assert (caught.value.code, caught.value.params.get("field")) == (code, field)
        assert d.state == S.open and dem.answers(s, d) == []
        with pytest.raises(InvalidInput) as no_reason:
            dem.close(s, cab, d)
        assert no_reason.value.params["field"] == "reason"
        with pytest.raises(InvalidInput) as unknown:
            dem.close(s, cab, d, answer_id=999)
        assert unknown.value.params["field"] == "answer_id"
        dem.close(s, cab, d, reason="需求已由其他渠道满足")
        assert d.state == S.closed and d.accepted_answer_id is None


def test_a_targeted_demand_is_answered_by_its_target_or_the_bureau(city) -> None:
    cab = actor(city, "cab.analyst")
    with city.db.session() as s:
        d = dem.publish(s, cab, spec(target_org="PSB"))
        assert d.target.code == "PSB"
        assert dem.may_answer(actor(city, "psb.admin"), d)
        assert not dem.may_answer(actor(city, "edu.steward"), d)
        assert not dem.may_answer(actor(city, "psb.analyst"), d)  # analysts do not answer
        assert not dem.may_answer(actor(city, "cab.steward"), d)  # nor the publisher
        with pytest.raises(Forbidden):
            dem.answer(s, actor(city, "edu.steward"), d, dem.AnswerSpec(resource_code=CODE))
        with pytest.raises(Forbidden):
            dem.answer(s, actor(city, "cab.steward"), d, dem.AnswerSpec(resource_code=CODE))
        dem.answer(s, actor(city, "root"), d, dem.AnswerSpec(resource_code=CODE))
        assert d.state == S.answered
        with pytest.raises(Forbidden):
            dem.publish(s, actor(city, "root"), spec())  # the bureau matches, it does not ask
        with pytest.raises(Forbidden):
            dem.publish(s, actor(city, "grid"), spec())


def test_everyone_signed_in_sees_the_marketplace(city) -> None:
    with city.db.session() as s:
        mine = dem.publish(s, actor(city, "cab.analyst"), spec())
        to_psb = dem.publish(s, actor(city, "cab.analyst"), spec(title="户籍", target_org="PSB"))
        ids = mine.id, to_psb.id
    grid, psb = actor(city, "grid"), actor(city, "psb.analyst")
    with city.db.session() as s:
        assert [d.id for d in dem.list_demands(s, grid)] == [ids[1], ids[0]]
        assert dem.get_demand(s, grid, ids[0]).title == "死亡人员名单"
        assert [d.id for d in dem.list_demands(s, psb, side="to_us")] == [ids[1]]
        assert [d.id for d in dem.list_demands(s, actor(city, "cab.steward"), side="mine")] == [
            ids[1],
            ids[0],
        ]
        assert dem.list_demands(s, grid, state="closed") == []
        with pytest.raises(NotFound):
            dem.get_demand(s, grid, 999_999)


def test_a_demand_past_its_date_is_late_until_closed(city) -> None:
    with city.db.session() as s:
        d = dem.publish(s, actor(city, "cab.analyst"), spec(deadline=today()))
        assert not dem.is_late(d)
        assert dem.is_late(d, today() + dt.timedelta(days=1))
        dem.close(s, actor(city, "cab.analyst"), d, reason="不再需要")
        assert not dem.is_late(d, today() + dt.timedelta(days=1))
