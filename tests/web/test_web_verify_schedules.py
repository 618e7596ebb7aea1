"""Scheduled verification over HTTP and on its page: schedule a finished job's reruns (201
and its Location), follow, pause, resume and remove it; bad input answered with problem
details; another organization sees nothing."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps" / "verify"))
from verify_city import DEATHS, PENSIONS, RULES, build_city

BODY = {"roster": PENSIONS, "references": [DEATHS], "rules": RULES}


@pytest.fixture()
def city(world, settings, seeded_calendar, tmp_path):
    return build_city(world, settings, tmp_path)


@pytest.fixture()
def job_id(city, client, login) -> int:
    """A finished job of HRSS, run by the app's own runner."""
    login("hrss.analyst")
    location = client.post("/api/v1/verify/jobs", json=BODY).headers["location"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(location).json()
        if job["state"] not in ("queued", "running"):
            assert job["state"] == "done", job
            return int(job["id"])
        time.sleep(0.1)
    raise AssertionError(job)


def test_schedules_over_http(city, client, login, job_id) -> None:
    made = client.post("/api/v1/verify/schedules",
                       json={"job_id": job_id, "every": "12h", "on_new_version": True})  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    assert made.headers["location"] == f"/api/v1/verify/schedules/{body['id']}"
    assert (body["every"], body["every_seconds"], body["on_new_version"]) == ("12h", 43200, True)
    assert (body["roster"], body["references"], body["state"]) == (PENSIONS, [DEATHS], "waiting")
    assert body["source_job"] == job_id and body["can_manage"] is True
    assert body["next_due_at"] and body["last_job"] is None and body["last_error"] is None
    url = made.headers["location"]
    assert client.get("/api/v1/verify/schedules").json()["items"][0]["id"] == body["id"]

    paused = client.post(f"{url}/pause")
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert client.post(f"{url}/resume").json()["state"] == "waiting"

    login("hrss.approver")  # reads, does not manage
    seen = client.get(url).json()
    assert seen["can_manage"] is False
    assert client.post(f"{url}/pause").status_code == 403
    login("edu.analyst")
    assert client.get(url).status_code == 404
    assert client.get("/api/v1/verify/schedules").json()["items"] == []

    login("hrss.analyst")
    removed = client.delete(url)
    assert removed.status_code == 200 and removed.json()["state"] == "removed"
    assert client.get("/api/v1/verify/schedules").json()["items"] == []
    listed = client.get("/api/v1/verify/schedules?include_removed=true").json()["items"]
    assert [s["id"] for s in listed] == [body["id"]]
    again = client.post(f"{url}/resume")
    assert again.status_code == 409 and again.json()["code"] == "verify.schedule_removed"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"every": "5m"}, 422, "verify.schedule_bad_every"),
        ({}, 422, "verify.schedule_no_trigger"),
        ({"every": "1d", "job_id": 999_999}, 404, "verify.job_not_found"),
    ],
)
def test_bad_schedules_are_problems(city, client, login, job_id, body, status, code) -> None:
    got = client.post("/api/v1/verify/schedules", json={"job_id": job_id, **body})
    assert got.status_code == status, got.text
    assert got.headers["content-type"].startswith("application/problem+json")
    assert got.json()["code"] == code


def test_the_schedules_page(city, client, login, job_id) -> None:
    page = client.get(f"/verify/schedules?job={job_id}")
    assert page.status_code == 200
    assert 'id="schedule-form"' in page.text and f'value="{job_id}" selected' in page.text
    made = client.post(
        "/verify/schedules",
        data={"job_id": str(job_id), "name": "每日死亡比对", "every": "1d",
              "on_new_version": "true"},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303 and made.headers["location"] == "/verify/schedules"
    listed = client.get("/api/v1/verify/schedules").json()["items"]
    assert [(s["name"], s["every"], s["on_new_version"]) for s in listed] == [
        ("每日死亡比对", "1d", True)
    ]
    schedule_id = listed[0]["id"]
    page = client.get("/verify/schedules")
    assert "每日死亡比对" in page.text and "每 1 天" in page.text
    assert f'action="/verify/schedules/{schedule_id}/pause"' in page.text

    bad = client.post("/verify/schedules", data={"job_id": str(job_id), "every": "soon"})
    assert bad.status_code == 422 and 'id="schedule-error"' in bad.text
    assert 'value="soon"' in bad.text  # shown again as typed

    paused = client.post(f"/verify/schedules/{schedule_id}/pause", follow_redirects=False)
    assert paused.status_code == 303
    page = client.get("/verify/schedules").text
    assert f'action="/verify/schedules/{schedule_id}/resume"' in page
    client.post(f"/verify/schedules/{schedule_id}/remove")
    assert client.get("/api/v1/verify/schedules").json()["items"] == []

    login("hrss.approver")  # may look, has no form
    page = client.get("/verify/schedules")
    assert page.status_code == 200 and 'id="schedule-form"' not in page.text
