"""Verification over HTTP: start a job (202 and its Location), follow it to done, download
the result through the catalog's export, work the review queue; bad input answered with
problem details before anything is queued."""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps" / "verify"))
from verify_city import DEATHS, PENSIONS, RULES, build_city


@pytest.fixture()
def city(world, settings, seeded_calendar, tmp_path):
    return build_city(world, settings, tmp_path)


def _wait(client, url: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(url).json()
        # the job's own state moves with its result; the runner's row a moment later
        if job["state"] not in ("queued", "running") and job["progress"]["status"] in (
            "succeeded", "failed",
        ):  # fmt: skip
            return job
        time.sleep(0.1)
    raise AssertionError(job)


BODY = {"roster": PENSIONS, "references": [DEATHS], "rules": RULES,
        "money_column": "monthly_pension"}  # fmt: skip


def test_a_job_over_http(city, client, login) -> None:
    login("hrss.analyst")
    queued = client.post("/api/v1/verify/jobs", json=BODY)
    assert queued.status_code == 202, queued.text
    location = queued.headers["location"]
    assert location == f"/api/v1/verify/jobs/{queued.json()['id']}"
    assert queued.json()["state"] == "queued" and queued.json()["can_cancel"] is True
    job = _wait(client, location)
    assert job["state"] == "done", job
    assert job["progress"]["status"] == "succeeded" and job["progress"]["percent"] == 100.0
    assert job["summary"]["money"]["column"] == "monthly_pension"
    assert job["can_cancel"] is False
    listed = client.get("/api/v1/verify/jobs").json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]

    download = client.get(job["result"]["url"])
    assert download.status_code == 200, download.text
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == job["summary"]["tiers"]["auto"] + job["summary"]["tiers"]["review"]
    login("edu.analyst")
    assert client.get(job["result"]["url"]).status_code == 403
    assert client.get(location).status_code == 404

    login("hrss.approver")
    items = client.get(f"{location}/items").json()["items"]
    assert items and items[0]["can_decide"] is True
    one = client.get(f"/api/v1/verify/items/{items[0]['id']}").json()
    assert one["side_by_side"][0]["name"] == "name" and one["records"]["left"]
    decided = client.post(f"/api/v1/verify/items/{items[0]['id']}/decisions",
                          json={"decision": "confirm", "action": "stop_payment"})  # fmt: skip
    assert decided.status_code == 201 and decided.json()["state"] == "confirmed"
    again = client.post(f"/api/v1/verify/items/{items[0]['id']}/decisions",
                        json={"decision": "confirm", "action": "stop_payment"})  # fmt: skip
    assert again.status_code == 409 and again.json()["code"] == "verify.already_decided"
    login("hrss.approver2")
    second = client.post(f"/api/v1/verify/items/{items[0]['id']}/decisions",
                         json={"decision": "confirm", "action": "stop_payment"})  # fmt: skip
    assert second.json()["state"] == "action_approved"
    assert [d["reviewer"] for d in second.json()["decisions"]] == [
        "hrss.approver", "hrss.approver2",
    ]  # fmt: skip
    no_reason = client.post(f"/api/v1/verify/items/{items[-1]['id']}/decisions",
                            json={"decision": "reject"})  # fmt: skip
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"

    login("hrss.analyst")
    late = client.post(f"{location}/cancel")
    assert late.status_code == 409 and late.json()["code"] == "verify.bad_state"


@pytest.mark.parametrize(
    ("who", "change", "status", "code"),
    [
        ("edu.analyst", {}, 403, "exchange.no_grant_for"),
        ("hrss.analyst", {"rules": RULES.replace("district: district",
                                                 "district: {left: district, right: region}")},
         422, "verify.missing_column"),
        ("hrss.analyst", {"mode": "dedupe"}, 422, "verify.dedupe_references"),
        ("hrss.analyst", {"rules": "no_such_rules: [1"}, 422, "verify.rules_syntax"),
        ("hrss.approver", {}, 403, "access.denied"),
    ],
)  # fmt: skip
def test_bad_input_is_a_problem_and_nothing_is_queued(
    city, client, login, who, change, status, code
) -> None:
    login(who)
    r = client.post("/api/v1/verify/jobs", json={**BODY, **change})
    assert r.status_code == status, r.text
    assert r.json()["code"] == code
    assert r.headers["content-type"].startswith("application/problem+json")
    login("hrss.admin")
    assert client.get("/api/v1/verify/jobs").json()["items"] == []


def test_shipped_rule_sets_are_listed(city, client, login) -> None:
    login("hrss.analyst")
    names = [r["name"] for r in client.get("/api/v1/verify/rulesets").json()["items"]]
    assert {"person_zh", "febrl"} <= set(names)


def test_a_job_with_an_uploaded_roster(city, client, login) -> None:
    from verify_city import PERSON, write_csv

    path = write_csv(city.tmp / "名册.csv", city.roster, [*PERSON, "monthly_pension"])
    login("hrss.analyst")
    with path.open("rb") as f:
        queued = client.post(
            "/api/v1/verify/jobs/upload",
            files={"file": ("名册.csv", f, "text/csv")},
            data={"references": [DEATHS], "rules": RULES, "money_column": "monthly_pension"},
        )
    assert queued.status_code == 202, queued.text
    assert queued.json()["roster"] is None and queued.json()["roster_file"] == "roster.csv"
    job = _wait(client, queued.headers["location"])
    assert job["state"] == "done", job
    assert job["summary"]["records"]["roster"] == len(city.roster)
    assert job["summary"]["money"]["records"] > 0
