"""The citizens' side: following (only events one may see; by the anonymous reporter's
secret token, where every miss is the same 404), notices read and marked, rating by the
reporter alone once closed (changeable for 7 days), and masked contacts."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from tests.apps.grid.event_city import MONDAY, EventCity, build

from zhili.apps.grid import citizens
from zhili.apps.grid.event_models import EventFollower, GridEvent
from zhili.audit.models import AuditEntry
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound

LATER = MONDAY + dt.timedelta(days=1)


@pytest.fixture()
def city(db) -> EventCity:
    return build(db)


def close(city: EventCity, event_id: int, *, registered: bool = False) -> None:
    """Walk an event from its report to closed (a resident's report is registered first)."""
    if registered:
        city.act("cmd", event_id, "register")
        city.act("cmd", event_id, "dispatch", departments=["CGW"])
    for who, action in (("h1", "acknowledge"), ("h1", "handle"), ("gw", "verify")):
        city.act(who, event_id, action)
    assert city.act("cmd", event_id, "close") == "closed"


def test_a_user_follows_only_what_they_may_see_and_reads_the_notices(city) -> None:
    event_id, _, _ = city.report("gw")
    with city.db.session() as s:
        with pytest.raises(NotFound):
            citizens.follow(s, city.actor("resident"), event_id)  # not theirs to see
        row, created = citizens.follow(s, city.actor("dcmd"), event_id)
        assert created and row.user_id is not None
        again, created = citizens.follow(s, city.actor("dcmd"), event_id)
        assert not created and again.id == row.id
        # the reporter follows since the report: two user followers on one event
        assert citizens.following(s, city.actor("gw"), event_id).user_id is not None
        with pytest.raises(NotFound) as caught:
            citizens.following(s, city.actor("h1"), event_id)
        assert caught.value.code == "grid.follow_not_found"
    close(city, event_id)
    with city.db.session() as s:
        row = citizens.following(s, city.actor("dcmd"), event_id)
        assert [n.kind for n in citizens.notices_for(s, row)] == ["closed"]
        assert citizens.mark_read(s, row, now=LATER) == 1
        assert citizens.mark_read(s, row, now=LATER) == 0
        assert citizens.notices_for(s, row)[0].read_at == LATER


def test_a_follow_token_opens_only_its_own_event(city) -> None:
    event_id, token, _ = city.report(None, source="public")
    other_id, _, _ = city.report("gw", grid=3)
    with city.db.session() as s:
        row = citizens.follow_by_token(s, event_id, token)
        assert row.user_id is None and row.token_hash != token
        for eid, guess in (
            (event_id, token[:-1] + ("A" if token[-1] != "A" else "B")),
            (other_id, token),
            (999_999, token),
            (event_id, ""),
            (event_id, None),
            (event_id, "../../etc/passwd"),
        ):
            with pytest.raises(NotFound) as caught:
                citizens.follow_by_token(s, eid, guess)
            assert caught.value.code == "grid.follow_not_found"  # never which part was wrong


def test_only_the_reporter_rates_a_closed_event_and_may_change_it_for_7_days(city) -> None:
    event_id, token, _ = city.report(None, source="public", reporter_contact="13800000000")
    with city.db.session() as s:
        row = citizens.follow_by_token(s, event_id, token)
        with pytest.raises(Conflict) as early:
            citizens.rate(s, row, event_id, 5, now=MONDAY)
        assert early.value.code == "grid.rating_not_closed"
    close(city, event_id, registered=True)
    with city.db.session() as s:
        row = citizens.follow_by_token(s, event_id, token)
        for value in (0, 6, True, "5", 4.5, None):
            with pytest.raises(InvalidInput) as bad:
                citizens.rate(s, row, event_id, value, now=LATER)
            assert (bad.value.code, bad.value.params["field"]) == (
                "grid.rating_bad_value",
                "rating",
            )
        with pytest.raises(InvalidInput) as long:
            citizens.rate(s, row, event_id, 3, "长" * 501, now=LATER)
        assert long.value.params["field"] == "comment"
        with pytest.raises(NotFound):
            citizens.rate(s, row, event_id + 1, 3, now=LATER)  # the token is for another event
        citizens.rate(s, row, event_id, 2, " 太慢 ", now=LATER)
    with city.db.session() as s:
        row = citizens.follow_by_token(s, event_id, token)
        event = citizens.rate(s, row, event_id, 4, now=LATER + dt.timedelta(days=5))
        assert (event.rating, event.rating_comment) == (4, None)  # replaced, comment too
        with pytest.raises(Conflict) as final:
            citizens.rate(s, row, event_id, 5, now=LATER + dt.timedelta(days=8))
        assert final.value.code == "grid.rating_final"
        cmd_row, _ = citizens.follow(s, city.actor("cmd"), event_id)
        with pytest.raises(Forbidden) as other:
            citizens.rate(s, cmd_row, event_id, 1, now=LATER)
        assert other.value.code == "grid.rating_not_reporter"
    with city.db.session() as s:
        e = s.get(GridEvent, event_id)
        assert e.rating == 4 and e.rated_at == LATER + dt.timedelta(days=5)
        acts = s.scalars(select(AuditEntry).where(AuditEntry.action == "grid.event_rate")).all()
        assert [(a.detail["rating"], a.detail["replaced"]) for a in acts] == [(2, None), (4, 2)]
        assert acts[0].system == "grid follow link" and "太慢" not in str(acts[0].detail)


def test_a_signed_in_reporter_rates_but_a_merged_duplicates_reporter_does_not(city) -> None:
    lon, lat = city.spot()
    first, _, _ = city.report("gw", spot=(lon, lat))
    dup, token, dups = city.report(None, source="public", spot=(lon + 0.0002, lat))
    resident_dup, _, _ = city.report("resident", source="public", spot=(lon, lat + 0.0001))
    assert dups == [first]
    city.act("cmd", dup, "merge", note="重复", merge_into=first)
    city.act("cmd", resident_dup, "merge", note="重复", merge_into=first)  # two user followers
    close(city, first)
    with city.db.session() as s:
        moved = citizens.follow_by_token(s, first, token)  # followed the merge
        assert moved.via_event_id == dup
        with pytest.raises(Forbidden):
            citizens.rate(s, moved, first, 5, now=LATER)
        resident = citizens.following(s, city.actor("resident"), first)
        assert resident.via_event_id == resident_dup
        with pytest.raises(Forbidden):
            citizens.rate(s, resident, first, 5, now=LATER)
        kinds = [n.kind for n in citizens.notices_for(s, resident)]
        assert kinds == ["closed"]  # the merge notice stays on the duplicate's row
        gw = citizens.following(s, city.actor("gw"), first)
        assert citizens.rate(s, gw, first, 5, "快", now=LATER).rating == 5
        users = s.scalars(
            select(EventFollower.user_id).where(
                EventFollower.event_id == first, EventFollower.user_id.is_not(None)
            )
        ).all()
        assert len(users) == 2


@pytest.mark.parametrize(
    ("contact", "masked"),
    [
        ("13800000000", "138****0000"),
        ("+86 138-1234-5678", "861****5678"),
        ("022-2345 6789", "022****6789"),
        ("zhang.san@example.cn", "z***@example.cn"),
        ("微信 zs2025", "微***"),
        ("", ""),
        (None, None),
    ],
)
def test_contacts_are_masked(contact, masked) -> None:
    assert citizens.mask_contact(contact) == masked
