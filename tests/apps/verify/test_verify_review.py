"""The review queue: both records side by side with the evidence; one decision per
reviewer; an action on a person needs two different reviewers of the job's organization;
every decision in the audit log."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from verify_city import DEATHS, PENSIONS, RULES, build_city

from zhili.apps.verify import jobs as service
from zhili.apps.verify import review
from zhili.apps.verify import run as runner
from zhili.apps.verify.models import ItemState, JobState
from zhili.audit.models import AuditEntry
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound


@pytest.fixture()
def queue(world, settings, seeded_calendar, tmp_path):
    city = build_city(world, settings, tmp_path)
    spec = service.JobSpec(roster=PENSIONS, references=(DEATHS,), rules=RULES)
    with city.db.session() as s:
        job = service.create_job(s, city.actor("hrss.analyst"), spec, home=city.home)
        s.expunge(job)
    job = runner.run_here(city.db, city.home, city.secret_key, job)
    assert job.state == JobState.done, job.error
    with city.db.session() as s:
        items = review.queue(s, city.actor("hrss.approver"), job.id)
        assert items, "the city should leave some pairs for review"
        ids = [i.id for i in items]
    return city, job, ids


def _decide(city, username, item_id, decision="confirm", **kw):
    with city.db.session() as s:
        item = review.decide(s, city.actor(username), item_id, decision, **kw)
        return item.state, item.action


def test_the_queue_is_sorted_and_filtered(queue) -> None:
    city, job, ids = queue
    with city.db.session() as s:
        items = review.queue(s, city.actor("hrss.analyst"), job.id)
        probabilities = [i.match_probability for i in items]
        assert probabilities == sorted(probabilities, reverse=True)
        assert review.queue(s, city.actor("hrss.analyst"), job.id, state="rejected") == []
    _decide(city, "hrss.approver", ids[0], "reject", reason="出生日期不同，非同一人")
    with city.db.session() as s:
        rejected = review.queue(s, city.actor("hrss.analyst"), job.id, state="rejected")
        assert [i.id for i in rejected] == [ids[0]]
        pending = review.queue(s, city.actor("hrss.analyst"), job.id, state="pending")
        assert ids[0] not in [i.id for i in pending]


def test_an_item_shows_both_records_side_by_side(queue) -> None:
    city, _, ids = queue
    with city.db.session() as s:
        item = review.get_item(s, city.actor("hrss.approver"), ids[0])
        rows = {r.name: r for r in review.side_by_side(item)}
    assert {"name", "birth_date", "sex", "district"} <= set(rows)
    assert rows["name"].label and rows["name"].bayes_factor is not None
    assert rows["person_id"].left == item.left_id and rows["person_id"].right == item.right_id
    assert "death_date" not in rows  # only the columns the rule set reads were read


def test_two_different_reviewers_approve_an_action(queue) -> None:
    city, job, ids = queue
    item = ids[0]
    assert _decide(city, "hrss.approver", item, action="stop_payment", reason="死亡") == (
        ItemState.confirmed, None,
    )  # fmt: skip
    with pytest.raises(Conflict) as caught:
        _decide(city, "hrss.approver", item, action="stop_payment")
    assert caught.value.code == "verify.already_decided"
    state = _decide(city, "hrss.approver2", item, action="stop_payment")
    assert state == (ItemState.action_approved, "stop_payment")
    with pytest.raises(Conflict) as caught:
        _decide(city, "hrss.admin", item, "reject", reason="晚了")
    assert caught.value.code == "verify.item_closed"
    with city.db.session() as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "verify.decide").order_by(AuditEntry.seq)
        ).all()
        decisions = review.decisions_of(s, review.get_item(s, city.actor("hrss.admin"), item))
    assert [e.actor_username for e in entries] == ["hrss.approver", "hrss.approver2"]
    details = [json.loads(e.detail) if isinstance(e.detail, str) else e.detail for e in entries]
    assert [d["to"] for d in details] == ["confirmed", "action_approved"]
    assert all(d["item"] == item and d["job"] == job.id for d in details)
    assert entries[0].resource_code == job.result_code
    assert [(d.reviewer, d.action) for d in decisions] == [
        ("hrss.approver", "stop_payment"), ("hrss.approver2", "stop_payment"),
    ]  # fmt: skip


def test_different_actions_do_not_add_up(queue) -> None:
    city, _, ids = queue
    _decide(city, "hrss.approver", ids[0], action="stop_payment")
    assert _decide(city, "hrss.approver2", ids[0], action="cancel_card") == (
        ItemState.confirmed, None,
    )  # fmt: skip


def test_a_rejection_needs_a_reason_and_closes_the_item(queue) -> None:
    city, _, ids = queue
    with pytest.raises(InvalidInput) as caught:
        _decide(city, "hrss.approver", ids[0], "reject")
    assert caught.value.code == "verify.reason_required"
    assert caught.value.params["field"] == "reason"
    assert _decide(city, "hrss.approver", ids[0], "reject", reason="非同一人") == (
        ItemState.rejected, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("username", "kw", "error", "code"),
    [
        ("hrss.analyst", {}, Forbidden, "access.denied"),  # reads the queue, does not decide
        ("edu.approver", {}, NotFound, "verify.item_not_found"),  # another organization
        ("root", {"action": "stop_payment"}, Forbidden, "verify.action_outside_org"),
        ("hrss.approver", {"action": "shoot"}, InvalidInput, "verify.unknown_action"),
        ("hrss.approver", {"action": "stop_payment", "reason": "x"}, None, None),
    ],
)
def test_who_may_decide_what(queue, username, kw, error, code) -> None:
    city, _, ids = queue
    if error is None:
        assert _decide(city, username, ids[0], **kw)[0] == ItemState.confirmed
        return
    with pytest.raises(error) as caught:
        _decide(city, username, ids[0], **kw)
    assert caught.value.code == code


def test_a_platform_admin_confirms_without_an_action(queue) -> None:
    city, _, ids = queue
    assert _decide(city, "root", ids[0]) == (ItemState.confirmed, None)


def _bulk(city, username, job_id, ids, decision="confirm", **kw):
    with city.db.session() as s:
        return review.decide_many(s, city.actor(username), job_id, ids, decision, **kw)


def test_a_bulk_decision_decides_each_item_and_passes_over_the_rest(queue) -> None:
    city, job, ids = queue
    first = _bulk(city, "hrss.approver", job.id, ids, action="stop_payment", reason="死亡")
    assert first.decided == ids and first.skipped == {}
    # the same reviewer again: every item passed over, each with why; a foreign id too
    again = _bulk(city, "hrss.approver", job.id, [ids[0], 999_999], action="stop_payment")
    assert again.decided == []
    assert again.skipped == {ids[0]: "verify.already_decided", 999_999: "verify.item_not_found"}
    second = _bulk(city, "hrss.approver2", job.id, ids, action="stop_payment")
    assert second.decided == ids
    with city.db.session() as s:
        items = review.queue(s, city.actor("hrss.analyst"), job.id)
        assert {(i.state, i.action) for i in items} == {(ItemState.action_approved, "stop_payment")}
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "verify.decide")).all()
    assert len(entries) == 2 * len(ids)  # one audit entry per decision, none for a skip
    closed = _bulk(city, "hrss.approver2", job.id, ids[:1], "reject", reason="x")
    assert closed.skipped == {ids[0]: "verify.item_closed"}


@pytest.mark.parametrize(
    ("items", "decision", "kw", "code"),
    [
        ([], "confirm", {}, "verify.no_items"),
        (list(range(1, review.MAX_BULK + 2)), "confirm", {}, "verify.too_many_items"),
        ([1], "maybe", {}, "verify.bad_decision"),
        ([1], "reject", {}, "verify.reason_required"),
        ([1], "confirm", {"action": "jail"}, "verify.unknown_action"),
    ],
)
def test_a_bad_bulk_decision_is_refused_before_any_item(queue, items, decision, kw, code) -> None:
    city, job, _ = queue
    with pytest.raises(InvalidInput) as caught:
        _bulk(city, "hrss.approver", job.id, items or [], decision, **kw)
    assert caught.value.code == code
    with city.db.session() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "verify.decide")).all() == []


def test_a_bulk_decision_needs_the_review_role_and_a_visible_job(queue) -> None:
    city, job, ids = queue
    with pytest.raises(Forbidden):
        _bulk(city, "hrss.analyst", job.id, ids[:1], action="stop_payment")
    with pytest.raises(NotFound):
        _bulk(city, "hrss.approver", 999_999, ids[:1])
