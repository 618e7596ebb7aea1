"""The events API end to end: a grid worker reports with an API token, a resident
anonymously with a photo; each box lists its events; the event moves through every step
over HTTP (a photo on handling); the resident follows and rates with the secret token.
Refusals are problem details (401/403/404/409/413/415/422); the reporter's phone is masked
for all but the commanders; photos are served only to those who may see them; 12345
hotline tickets are imported from CSV."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps" / "grid"))
from event_city import EventCity, build

URL = "/api/v1/grid/events"
PROBLEM = "application/problem+json"


def jpeg(color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "JPEG")
    return out.getvalue()


#: no background sweep escalating the fixture's events mid-test
pytestmark = pytest.mark.usefixtures("no_job_runner")


@pytest.fixture()
def city(db, client) -> EventCity:
    return build(db)


@pytest.fixture()
def stranger(client) -> TestClient:
    """A second client without a session: the anonymous resident."""
    return TestClient(client.app)


def test_no_runner_sweeps_behind_these_tests(client) -> None:
    assert client.app.state.jobs is None


def problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["code"] == code, r.text
    return r.json()


def act(client, event_id: int, action: str, **body) -> dict:
    r = client.post(f"{URL}/{event_id}/actions", json={"action": action, **body})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_whole_loop_over_http(city, client, stranger, login) -> None:
    lon, lat = city.spot()
    login("gw")
    issued = client.post(
        "/api/v1/tokens", json={"name": "phone", "scopes": ["grid:report", "grid:read"]}
    )
    bearer = {"Authorization": f"Bearer {issued.json()['token']}"}
    body = {"category": "road-block", "lon": lon, "lat": lat, "description": "沙子堆在路中间",
            "answers": {"lanes": 1}, "source": "grid_worker"}  # fmt: skip
    made = stranger.post(URL, json=body, headers=bearer)
    assert made.status_code == 201, made.text
    first = made.json()["event"]
    assert first["state"] == "dispatched" and first["lead_department"] == "CGW"
    assert "token" not in made.json()["follow"] and made.json()["duplicates"] == []
    assert made.headers["location"] == f"{URL}/{first['id']}"

    form = {"category": "road-block", "lon": str(lon + 0.0002), "lat": str(lat),
            "description": "还是那堆沙子", "attribute[lanes]": "2",
            "reporter_name": "李四", "reporter_contact": "13812345678"}  # fmt: skip
    photo = ("photos", ("before.jpg", jpeg("red"), "image/jpeg"))
    anon = stranger.post(URL, data=form, files=[photo])
    assert anon.status_code == 201, anon.text
    out = anon.json()
    event_id, token = out["event"]["id"], out["follow"]["token"]
    assert out["event"]["source"] == "public" and out["event"]["state"] == "reported"
    assert (
        out["event"]["reporter_contact"] == "138****5678" and out["event"]["reporter_name"] is None
    )
    assert out["follow"]["url"] == f"{URL}/{event_id}/follow?token={token}"
    [dup] = out["duplicates"]
    assert (dup["id"], dup["state"]) == (first["id"], "dispatched") and 10 < dup["distance_m"] < 30
    assert out["event"]["answers"] == {"lanes": 2} and out["photos"] == 1

    login("cmd")
    board = client.get(URL, params={"box": "command", "order": "oldest"}).json()
    assert [e["id"] for e in board["items"]] == [first["id"], event_id] and board["total"] == 2
    mine = client.get(f"{URL}/{event_id}").json()
    assert mine["actions"] == ["register", "reject", "merge"]
    assert (mine["reporter_name"], mine["reporter_contact"]) == ("李四", "13812345678")
    assert mine["photos"][0]["step_seq"] == 1 and mine["photos"][0]["media_type"] == "image/jpeg"
    sha = mine["photos"][0]["sha256"]
    act(client, event_id, "register")
    act(client, event_id, "dispatch", departments=["CGW", "PSB"], lead="CGW")

    login("h1")
    inbox = client.get(URL, params={"box": "department"}).json()["items"]
    assert sorted(e["id"] for e in inbox) == sorted([first["id"], event_id])
    seen = client.get(f"{URL}/{event_id}").json()
    assert seen["reporter_contact"] == "138****5678" and seen["reporter_name"] is None
    assert seen["actions"] == ["acknowledge", "return"]
    assert [d["code"] for d in seen["departments"]] == ["CGW", "PSB"]
    act(client, event_id, "acknowledge")
    after = ("photos", ("after.jpg", jpeg("white"), "image/jpeg"))
    handled = client.post(
        f"{URL}/{event_id}/actions", data={"action": "handle", "note": "内部：已通知施工方"},
        files=[after],
    )  # fmt: skip
    assert handled.status_code == 200, handled.text
    assert handled.json()["state"] == "handled"
    assert [p["step_seq"] for p in handled.json()["photos"]] == [1, handled.json()["seq"]]

    login("gw")
    assert client.get(URL, params={"box": "grid"}).json()["total"] == 2
    assert [e["id"] for e in client.get(URL, params={"box": "mine"}).json()["items"]] == [
        first["id"]
    ]
    act(client, event_id, "verify")
    login("cmd")
    closed = act(client, event_id, "close", note="已清理完毕")
    assert closed["state"] == "closed" and closed["actions"] == []
    steps = client.get(f"{URL}/{event_id}/steps").json()
    assert [s["action"] for s in steps] == [
        "report", "register", "dispatch", "acknowledge", "handle", "verify", "close"
    ]  # fmt: skip
    assert steps[4]["actor"] == "h1" and steps[4]["org"] == "CGW"

    picture = client.get(f"{URL}/{event_id}/photos/{sha}")
    assert picture.status_code == 200 and picture.content == jpeg("red")
    assert picture.headers["content-type"] == "image/jpeg"
    assert picture.headers["x-content-type-options"] == "nosniff"
    assert stranger.get(f"{URL}/{event_id}/photos/{sha}", params={"token": token}).is_success
    problem(stranger.get(f"{URL}/{event_id}/photos/{sha}"), 404, "grid.event_not_found")

    view = stranger.get(f"{URL}/{event_id}/follow", params={"token": token}).json()
    assert view["event"]["state"] == "closed" and view["can_rate"] is True
    assert view["event"]["description"] == "还是那堆沙子"
    assert [(n["kind"], n["note"], n["new"]) for n in view["notices"]] == [
        ("closed", "已清理完毕", True)
    ]
    assert "内部" not in str(view) and "h1" not in str(view) and "李四" not in str(view)
    assert [s["note"] for s in view["steps"] if s["note"]] == ["已清理完毕"]
    again = stranger.get(f"{URL}/{event_id}/follow", params={"token": token}).json()
    assert again["notices"][0]["new"] is False

    rated = stranger.post(
        f"{URL}/{event_id}/rating", json={"rating": 5, "comment": "很快", "token": token}
    )
    assert rated.status_code == 200, rated.text
    assert client.get(f"{URL}/{event_id}").json()["rating"] == 5
    login("gw")  # the grid worker did not report this one
    problem(
        client.post(f"{URL}/{event_id}/rating", json={"rating": 1}), 404, "grid.follow_not_found"
    )


def test_refusals_are_problem_details(city, client, stranger, login) -> None:
    event_id, _, _ = city.report("gw")
    problem(stranger.get(f"{URL}/{event_id}"), 401, "auth.required")
    login("resident")
    problem(client.get(f"{URL}/{event_id}"), 404, "grid.event_not_found")
    problem(client.get(f"{URL}/{event_id}/steps"), 404, "grid.event_not_found")
    problem(client.post(f"{URL}/{event_id}/follow"), 404, "grid.event_not_found")
    login("hp")  # 公安: not dispatched
    problem(client.get(f"{URL}/{event_id}"), 404, "grid.event_not_found")
    login("h1")
    problem(
        client.post(f"{URL}/{event_id}/actions", json={"action": "close"}), 403, "grid.not_yours"
    )
    body = problem(client.post(f"{URL}/{event_id}/actions", json={"action": "return"}), 422,
                   "grid.reason_required")  # fmt: skip
    assert body["field"] == "note"
    login("cmd")
    problem(
        client.post(f"{URL}/{event_id}/actions", json={"action": "register"}),
        409,
        "grid.wrong_state",
    )
    problem(client.post(f"{URL}/{event_id}/actions", json={"act": "x"}), 422, "request.invalid")
    refused = client.post(
        f"{URL}/{event_id}/actions", data={"action": "close"},
        files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))],
    )  # fmt: skip
    problem(refused, 422, "grid.photo_not_allowed")
    problem(client.get(URL, params={"box": "everything"}), 422, "grid.bad_filter")

    lon, lat = city.spot(5)
    report = {"category": "road-block", "lon": str(lon), "lat": str(lat),
              "description": "x", "attribute[lanes]": "1"}  # fmt: skip
    fake = ("photos", ("c.jpg", b"<html>not a photo</html>", "image/jpeg"))
    bad = problem(stranger.post(URL, data=report, files=[fake]), 415, "grid.photo_not_image")
    assert (bad["index"], bad["filename"]) == (1, "c.jpg")
    problem(stranger.post(URL, data={**report, "source": "hotline"}), 422, "grid.report_bad_source")
    missing = problem(stranger.post(URL, json={"lon": lon}), 422, "request.invalid")
    assert "category" in str(missing["errors"])
    answer = problem(stranger.post(URL, data={**report, "attribute[lanes]": "many"}), 422,
                     "grid.answer_bad_value")  # fmt: skip
    assert answer["field"] == "lanes"
    assert client.get(URL, params={"box": "command"}).json()["total"] == 1  # nothing was added
    problem(stranger.get(f"{URL}/{event_id}/follow", params={"token": "x" * 24}), 404,
            "grid.follow_not_found")  # fmt: skip
    waiting, token, _ = city.report(None, grid=5)
    early = stranger.post(f"{URL}/{waiting}/rating", json={"rating": 3, "token": token})
    problem(early, 409, "grid.rating_not_closed")


def test_nearby_points_and_following(city, client, stranger, login) -> None:
    event_id, _, _ = city.report("gw", reporter_contact="13900001111")
    lon, lat = city.spot()
    near = stranger.get(f"{URL}/nearby", params={"category": "road-block", "lon": lon, "lat": lat})
    assert near.json() == [
        {"id": event_id, "state": "dispatched", "category": "road-block", "distance_m": 0.0}
    ]
    far = stranger.get(
        f"{URL}/nearby", params={"category": "road-block", "lon": lon, "lat": lat + 0.01}
    )
    assert far.json() == []
    problem(stranger.get(f"{URL}/nearby", params={"category": "nope", "lon": 1, "lat": 1}), 404,
            "grid.category_not_found")  # fmt: skip
    login("dcmd")
    points = client.get(f"{URL}/points").json()
    assert points == [{"id": event_id, "lon": lon, "lat": lat, "state": "dispatched",
                       "category": "road-block"}]  # fmt: skip
    made = client.post(f"{URL}/{event_id}/follow")
    assert made.status_code == 201 and made.json()["event"]["description"] is None
    assert client.post(f"{URL}/{event_id}/follow").status_code == 200
    assert client.get(f"{URL}/{event_id}/follow").json()["can_rate"] is False
    assert client.get(f"{URL}/{event_id}").json()["reporter_contact"] == "13900001111"
    login("h1")
    assert client.get(f"{URL}/{event_id}").json()["reporter_contact"] == "139****1111"
    problem(client.get(f"{URL}/{event_id}/follow"), 404, "grid.follow_not_found")


def test_hotline_csv_over_http(city, client, login) -> None:
    lon, lat = city.spot(1)
    columns = ["ticket_no", "received_at", "category", "lon", "lat", "address", "description",
               "caller_name", "caller_phone", "attribute.lanes"]  # fmt: skip
    good = ["T-1", "2025-03-10 09:30", "road-block", lon, lat, "路口", "沙子", "王五",
            "13700001234", "1"]  # fmt: skip

    def sheet(*rows: list) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(rows)
        return out.getvalue().encode("utf-8-sig")

    def upload(data: bytes):
        return client.post(f"{URL}/hotline", files={"file": ("12345.csv", data, "text/csv")})

    login("h1")
    problem(upload(sheet(good)), 403, "access.denied")
    login("cmd")
    done = upload(sheet(good))
    assert done.status_code == 200, done.text
    assert (done.json()["created"], done.json()["duplicates"]) == (1, 0)
    event_id = done.json()["event_ids"][0]
    bad = problem(upload(sheet(good, ["T-2", *good[1:6], "", "", "", "1"])), 422,
                  "grid.hotline_missing")  # fmt: skip
    assert (bad["line"], bad["column"]) == (3, "description")
    assert "3" in bad["detail"] and "description" in bad["detail"]
    again = upload(sheet(good)).json()
    assert (again["created"], again["duplicates"], again["duplicate_tickets"]) == (0, 1, ["T-1"])
    assert client.get(f"{URL}/{event_id}").json()["reporter_contact"] == "13700001234"
    login("h1")
    listed = client.get(URL, params={"box": "department"}).json()["items"]
    assert [(e["id"], e["reporter_contact"], e["reporter_name"]) for e in listed] == [
        (event_id, "137****1234", None)
    ]
    problem(client.post(f"{URL}/hotline"), 403, "access.denied")
