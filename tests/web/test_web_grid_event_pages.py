"""The grid event pages: the report form (anonymous with its follow token, a grid worker's
auto-dispatched report, refusals shown next to the field with what was typed kept), the
commander's board (register, dispatch, reject, merge), the department inbox (报到,
handle with a photo), the event page's actions for the grid worker and commander, the
map's points, and who may open which page."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from PIL import Image
from sqlalchemy import select
from tests.apps.grid.event_city import CATEGORY, build

from zhili.apps.grid.event_models import (
    Attachment,
    EventDepartment,
    EventFollower,
    EventStep,
    GridEvent,
)
from zhili.apps.grid.events import token_hash
from zhili.identity.models import Organization

#: no background sweep escalating the fixture's events mid-test
pytestmark = pytest.mark.usefixtures("no_job_runner")


@pytest.fixture()
def city(db, client):
    return build(db)


def jpeg(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(out, "JPEG")
    return out.getvalue()


def report_form(city, **changes):
    lon, lat = city.spot()
    form = {
        "category": CATEGORY,
        "attribute[lanes]": "2",
        "description": "砂石堆在路口",
        "address": "南京路 100 号",
        "lon": str(lon),
        "lat": str(lat),
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def event(db, event_id: int) -> GridEvent:
    with db.session() as s:
        found = s.get(GridEvent, event_id)
        s.expunge(found)
        return found


def new_id(html: str) -> int:
    return int(re.search(r"#(\d+)", html).group(1))


def act(client, event_id: int, action: str, next_: str = "", files=None, **fields):
    data = {"action": action, "next": next_, **fields}
    return client.post(
        f"/grid/events/{event_id}/act", data=data, files=files, follow_redirects=False
    )


def test_anonymous_report_with_a_photo_shows_the_follow_token_once(city, client, db) -> None:
    form = client.get("/grid/report")
    assert form.status_code == 200
    assert 'name="category"' in form.text and "乱堆物料" in form.text
    assert 'capture="environment"' in form.text and 'id="report-map"' in form.text
    assert 'name="reporter_contact"' in form.text  # anonymous: how to reach them
    questions = client.get("/grid/report", params={"category": CATEGORY})
    assert 'name="attribute[lanes]"' in questions.text

    photo = ("road.jpg", jpeg(), "image/jpeg")
    r = client.post(
        "/grid/report",
        data=report_form(city, reporter_contact="13800000000"),
        files=[("photos", photo)],
    )
    assert r.status_code == 201, r.text
    token = re.search(r'id="follow-token">([^<]+)<', r.text).group(1)
    event_id = new_id(r.text)
    with db.session() as s:
        e = s.get(GridEvent, event_id)
        assert (e.source, e.state, e.answers) == ("public", "reported", {"lanes": 2})
        assert e.address == "南京路 100 号" and e.reporter_contact == "13800000000"
        follower = s.scalar(select(EventFollower).where(EventFollower.event_id == event_id))
        assert follower.token_hash == token_hash(token)
        photos = s.scalars(select(Attachment).where(Attachment.event_id == event_id)).all()
        assert [(p.step_seq, p.filename) for p in photos] == [(1, "road.jpg")]
    assert f"/api/v1/grid/events/{event_id}/follow?token=" in r.text
    # an anonymous reporter gets no link to the (signed-in) event page
    assert f'href="/grid/events/{event_id}"' not in r.text


def test_refused_report_keeps_what_was_typed(city, client, db) -> None:
    no_text = client.post("/grid/report", data=report_form(city, description=""))
    assert no_text.status_code == 422
    assert 'data-field="description"' in no_text.text
    assert "南京路 100 号" in no_text.text and 'value="2"' in no_text.text  # address, lanes kept

    bad_lanes = client.post("/grid/report", data=report_form(city, **{"attribute[lanes]": "x"}))
    assert bad_lanes.status_code == 422 and 'data-field="lanes"' in bad_lanes.text
    assert "砂石堆在路口" in bad_lanes.text

    outside = client.post("/grid/report", data=report_form(city, lon="0.5", lat="0.5"))
    assert outside.status_code == 422 and 'data-field="lat"' in outside.text
    no_spot = client.post("/grid/report", data=report_form(city, lon="", lat=""))
    assert no_spot.status_code == 422 and 'data-field="lat"' in no_spot.text
    no_category = client.post("/grid/report", data=report_form(city, category=""))
    assert no_category.status_code == 422 and 'data-field="category"' in no_category.text

    fake = ("road.jpg", b"not a photo at all", "image/jpeg")
    photo = client.post("/grid/report", data=report_form(city), files=[("photos", fake)])
    assert photo.status_code == 415 and 'data-field="photos"' in photo.text
    assert "road.jpg" in photo.text and "砂石堆在路口" in photo.text
    with db.session() as s:
        assert s.scalar(select(GridEvent.id)) is None  # nothing of a refused report stays


def test_grid_worker_report_is_dispatched_and_opens_the_event(city, client, login, db) -> None:
    login("gw")
    form = client.get("/grid/report")
    assert "网格员身份" in form.text and 'name="reporter_contact"' not in form.text
    r = client.post("/grid/report", data=report_form(city))
    assert r.status_code == 201, r.text
    event_id = new_id(r.text)
    assert event(db, event_id).state == "dispatched"
    assert f'href="/grid/events/{event_id}"' in r.text and "follow-token" not in r.text
    page = client.get(f"/grid/events/{event_id}")
    assert page.status_code == 200 and "砂石堆在路口" in page.text
    assert 'data-action="dispatch"' in page.text  # the timeline's auto-dispatch step
    assert 'class="act ' not in page.text  # nothing for the grid worker to do yet


def test_board_registers_and_dispatches(city, client, login, db) -> None:
    event_id, _, _ = city.report("resident")
    for who, status in (("h1", 403), ("gw", 403)):
        login(who)
        assert client.get("/grid/board").status_code == status
    login("cmd")
    board = client.get("/grid/board")
    assert board.status_code == 200 and f'data-event="{event_id}"' in board.text
    assert 'data-mark="overdue"' in board.text  # reported on a Monday in 2025
    assert 'data-action="register"' in board.text and 'data-action="reject"' in board.text
    r = act(client, event_id, "register", "/grid/board?state=reported")
    assert r.status_code == 303 and r.headers["location"] == "/grid/board?state=reported"
    assert event(db, event_id).state == "registered"

    board = client.get("/grid/board", params={"state": "registered"})
    assert 'data-action="dispatch"' in board.text
    assert re.search(r'value="CGW" checked', board.text)  # the category's department
    assert client.get("/grid/board", params={"state": "reported"}).text.count("data-event=") == 0
    r = act(client, event_id, "dispatch", "/grid/board", departments=["CGW", "PSB"], lead="PSB")
    assert r.status_code == 303
    with db.session() as s:
        e = s.get(GridEvent, event_id)
        assert e.state == "dispatched" and e.lead_department.code == "PSB"
        rows = s.scalars(select(EventDepartment).where(EventDepartment.event_id == event_id))
        assert {(s.get(Organization, r.department_id).code, r.lead) for r in rows} == {
            ("CGW", False),
            ("PSB", True),
        }
    # the dispatched event left the reported filter, and a foreign redirect is refused
    r = act(client, event_id, "transfer", "https://evil.example/", note="改派", departments="CGW")
    assert r.status_code == 303 and r.headers["location"] == f"/grid/events/{event_id}"


def test_board_reject_needs_a_reason_and_merge_takes_a_duplicate(city, client, login, db) -> None:
    first, _, _ = city.report("resident")
    second, _, dupes = city.report("resident", description="又有人堆了砂石")
    assert dupes == [first]
    login("cmd")
    refused = act(client, second, "reject", "/grid/board")
    assert refused.status_code == 422
    assert 'data-field="note"' in refused.text and "<details open>" in refused.text
    board = client.get("/grid/board")
    assert f'name="merge_into" value="{first}"' in board.text
    r = act(client, second, "merge", "/grid/board", note="同一处", merge_into=str(first))
    assert r.status_code == 303
    assert event(db, second).state == "merged" and event(db, second).merged_into_id == first
    r = act(client, first, "reject", "/grid/board", note="不属于网格事项")
    assert r.status_code == 303 and event(db, first).state == "rejected"
    assert 'id="board-empty"' in client.get("/grid/board").text


def test_inbox_acknowledges_and_handles_with_a_photo(city, client, login, db) -> None:
    event_id, _, _ = city.report("gw")  # auto-dispatched to 城管 (CGW)
    login("cmd")
    assert client.get("/grid/inbox").status_code == 403
    login("hp")
    assert f'data-event="{event_id}"' not in client.get("/grid/inbox").text
    login("h1")
    inbox = client.get("/grid/inbox")
    assert f'data-event="{event_id}"' in inbox.text and 'data-action="acknowledge"' in inbox.text
    assert act(client, event_id, "acknowledge", "/grid/inbox").status_code == 303
    inbox = client.get("/grid/inbox")
    assert 'data-mark="acknowledged"' in inbox.text
    assert 'data-action="acknowledge"' not in inbox.text
    assert 'data-action="handle"' in inbox.text and 'data-action="return"' in inbox.text
    assert act(client, event_id, "start", "/grid/inbox").status_code == 303
    photo = [("photos", ("done.png", jpeg("green"), "image/jpeg"))]
    bad = act(client, event_id, "handle", "/grid/inbox", files=photo, note="已清理")
    assert bad.status_code == 422 and 'data-field="photos"' in bad.text  # .png on JPEG data
    assert "已清理" in bad.text and event(db, event_id).state == "in_progress"
    photo = [("photos", ("done.jpg", jpeg("green"), "image/jpeg"))]
    r = act(client, event_id, "handle", "/grid/inbox", files=photo, note="已清理")
    assert r.status_code == 303 and r.headers["location"] == "/grid/inbox"
    e = event(db, event_id)
    assert e.state == "handled"
    with db.session() as s:
        (p,) = s.scalars(select(Attachment).where(Attachment.event_id == event_id)).all()
        assert p.step_seq == e.seq
    assert 'id="inbox-empty"' in client.get("/grid/inbox").text


def test_event_page_offers_verify_to_the_grid_worker(city, client, login, db) -> None:
    event_id, _, _ = city.report("gw")
    for who, action in (("h1", "acknowledge"), ("h1", "handle")):
        city.act(who, event_id, action)
    login("resident")
    assert client.get(f"/grid/events/{event_id}").status_code == 404
    login("h2")  # same department: sees it, but nothing is left for them to do
    page = client.get(f"/grid/events/{event_id}")
    assert page.status_code == 200 and 'class="act ' not in page.text
    assert "13800000000" not in page.text
    login("gw")
    page = client.get(f"/grid/events/{event_id}")
    assert 'data-action="verify"' in page.text and 'data-action="reopen"' in page.text
    assert 'id="event-departments"' in page.text and "城市管理委员会" in page.text
    refused = act(client, event_id, "reopen", note="")
    assert refused.status_code == 422 and 'data-field="note"' in refused.text
    r = act(client, event_id, "verify", files=[("photos", ("ok.jpg", jpeg("blue"), None))])
    assert r.status_code == 303 and r.headers["location"] == f"/grid/events/{event_id}"
    login("cmd")
    page = client.get(f"/grid/events/{event_id}")
    assert 'data-state="verified"' in page.text and 'data-action="close"' in page.text
    assert act(client, event_id, "close").status_code == 303
    page = client.get(f"/grid/events/{event_id}")
    assert 'data-state="closed"' in page.text and 'class="act ' not in page.text
    with db.session() as s:
        steps = s.scalars(select(EventStep.action).where(EventStep.event_id == event_id)).all()
    assert [f'<li data-action="{a}">' in page.text for a in steps] == [True] * len(steps)
    assert "/api/v1/grid/events/" in page.text  # the photos' thumbnails


def test_map_points_are_what_the_viewer_may_see(city, client, login) -> None:
    event_id, _, _ = city.report("gw")
    assert client.get("/grid/map").status_code == 401
    login("cmd")
    page = client.get("/grid/map")
    assert page.status_code == 200 and 'id="events-map"' in page.text
    assert re.search(r'data-state="dispatched"><td>.*?</td><td>1</td>', page.text)
    body = client.get("/grid/map/points").json()
    assert [p[0] for p in body["points"]] == [event_id] and body["counts"] == {"dispatched": 1}
    assert client.get("/grid/map/points", params={"category": "nope"}).json()["points"] == []
    login("hp")
    assert client.get("/grid/map/points").json()["points"] == []


@pytest.mark.parametrize(
    ("who", "where"),
    [("cmd", "/grid/board"), ("h1", "/grid/inbox"), ("gw", "/grid/report"),
     ("resident", "/grid/map")],
)  # fmt: skip
def test_grid_sends_each_to_their_page(city, client, login, who, where) -> None:
    login(who)
    r = client.get("/grid", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == where
    nav = client.get(where).text
    assert ('href="/grid/board"' in nav) == (who == "cmd")
    assert ('href="/grid/inbox"' in nav) == (who == "h1")
    assert 'href="/grid/areas"' in nav and 'href="/grid/categories"' in nav


def test_public_base_layer_and_locate(city, client) -> None:
    layer = client.get("/grid/report/areas.geojson").json()
    assert {f["properties"]["level"] for f in layer["features"]} == {"district", "street"}
    lon, lat = city.spot()
    found = client.get("/grid/report/locate", params={"lon": lon, "lat": lat}).json()
    assert [a["level"] for a in found["chain"]][-1] == "grid" and len(found["chain"]) == 5
    assert client.get("/grid/report/locate", params={"lon": 0, "lat": 0}).status_code == 404


def test_statistics_page_counts_what_the_viewer_may_see(city, client, login) -> None:
    from tests.apps.grid.event_city import MONDAY
    from tests.apps.grid.grid_city import piece

    assert client.get("/grid/stats").status_code == 401
    dispatched, _, _ = city.report("gw")
    city.report("resident")
    city.act("h1", dispatched, "acknowledge", at=MONDAY + dt.timedelta(minutes=30))
    login("cmd")
    page = client.get("/grid/stats")
    assert page.status_code == 200, page.text
    assert re.search(r'data-figure="reported"><span class="num">2<', page.text)
    assert re.search(r'data-figure="on_time_rate"><span class="num">100.0 %<', page.text)
    assert re.search(r'data-stage="acknowledge"><td>[^<]+</td><td>1</td><td>0</td>', page.text)
    assert f'data-area="{piece().district.code}"' in page.text
    assert 'data-level="street"' in page.text and f'data-category="{CATEGORY}"' in page.text
    heat = re.search(r'id="stats-heat-data">([^<]+)<', page.text).group(1)
    assert sum(cell[2] for cell in json.loads(heat)) == 2
    streets = client.get("/grid/stats", params={"level": "street"})
    assert f'data-area="{piece().street.code}"' in streets.text
    bad = client.get("/grid/stats", params={"since": "yesterday"})
    assert bad.status_code == 422 and 'class="alert"' in bad.text
    login("h1")  # a handler counts only what was dispatched to their department
    page = client.get("/grid/stats")
    assert re.search(r'data-figure="reported"><span class="num">1<', page.text)
    assert '<option value="street" selected>' in streets.text


def test_residents_without_an_account_find_the_report_form(client) -> None:
    for path in ("/open", "/login"):
        page = client.get(path, headers={"Accept-Language": "zh-CN"})
        assert page.status_code == 200 and 'href="/grid/report"' in page.text, path
    assert client.get("/grid/report").status_code == 200
