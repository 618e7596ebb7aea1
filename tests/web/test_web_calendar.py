"""The working calendar over HTTP and on its page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

NOTICE_2027 = (
    "date,kind,name\n"
    "2027-01-01,holiday,元旦\n"
    "2027-02-06..2027-02-12,holiday,春节\n"
    "2027-02-14,workday,春节调休\n"
)


def test_workday_api_and_unknown_year(client: TestClient, world, seeded_calendar, login) -> None:
    world.user("li.ming", "PSB", "analyst")
    login("li.ming")
    assert client.get("/api/v1/calendar/workday/2024-02-04").json()["is_workday"] is True
    assert client.get("/api/v1/calendar/workday/2024-10-01").json()["is_workday"] is False
    r = client.get("/api/v1/calendar/workday/2031-03-03")
    assert r.status_code == 422 and r.json()["code"] == "calendar.unknown_year"
    assert r.json()["year"] == 2031
    month = client.get("/api/v1/calendar/2025/10").json()["days"]
    assert month[0]["kind"] == "holiday" and month[10]["kind"] == "makeup"


def test_admin_loads_a_notice_on_the_page(client: TestClient, world, seeded_calendar) -> None:
    world.user("root", "BUREAU", "platform_admin")
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post(
        "/login", data={"username": "root", "password": "correct-horse-battery", "csrf_token": csrf}
    )
    cal = client.get("/admin/calendar?year=2025")
    assert cal.status_code == 200 and "国庆" in cal.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', cal.text).group(1)
    bad = client.post(
        "/admin/calendar/notice",
        data={"year": "2027", "text": NOTICE_2027 + "2027-13-01,holiday,x\n", "csrf_token": csrf},
    )
    assert bad.status_code == 422 and "5" in bad.text
    assert client.get("/api/v1/calendar/workday/2027-02-08").status_code == 422
    ok = client.post(
        "/admin/calendar/notice", data={"year": "2027", "text": NOTICE_2027, "csrf_token": csrf}
    )
    assert ok.status_code == 200 and "2027" in ok.text
    assert (
        client.get("/api/v1/calendar/workday/2027-02-08", headers={"X-CSRF-Token": csrf}).json()[
            "is_workday"
        ]
        is False
    )
    assert client.get("/api/v1/calendar/workday/2027-02-14").json()["is_workday"] is True


def test_admin_corrects_one_day_on_the_page(client: TestClient, world, seeded_calendar) -> None:
    world.user("root", "BUREAU", "platform_admin")
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post(
        "/login", data={"username": "root", "password": "correct-horse-battery", "csrf_token": csrf}
    )
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/calendar").text)
    token = csrf.group(1)
    r = client.post(
        "/admin/calendar/day",
        data={"day": "2026-12-24", "kind": "holiday", "name": "城市日", "csrf_token": token},
    )
    assert r.status_code == 200 and "2026-12-24" in r.text
    assert client.get("/api/v1/calendar/workday/2026-12-24").json()["is_workday"] is False
    bad = client.post(
        "/admin/calendar/day", data={"day": "2026-12-23", "kind": "workday", "csrf_token": token}
    )
    assert bad.status_code == 422
    client.post(
        "/admin/calendar/day", data={"day": "2026-12-24", "kind": "normal", "csrf_token": token}
    )
    assert client.get("/api/v1/calendar/workday/2026-12-24").json()["is_workday"] is True
