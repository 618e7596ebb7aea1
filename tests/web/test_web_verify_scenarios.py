"""Scenario templates over HTTP: the list with each slot's candidates for the caller, a
scenario started (202 and its Location) and followed to its outcomes; bad input answered
with problem details before anything is queued."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps" / "verify"))
from scenario_city import BIRTHS, CODES, POPULATION, build_scenario_city


@pytest.fixture()
def city(world, settings, seeded_calendar, tmp_path):
    return build_scenario_city(world, settings, tmp_path)


def _wait(client, url: str) -> dict:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = client.get(url).json()
        if job["state"] not in ("queued", "running") and job["progress"]["status"] in (
            "succeeded", "failed",
        ):  # fmt: skip
            return job
        time.sleep(0.2)
    raise AssertionError(job)


def test_scenarios_over_http(city, client, login) -> None:
    login("hrss.analyst")
    listed = client.get("/api/v1/verify/scenarios", headers={"Accept-Language": "en"})
    assert listed.status_code == 200, listed.text
    items = {s["name"]: s for s in listed.json()["items"]}
    assert list(items) == ["pension", "senior_card", "dibao"]
    pension = items["pension"]
    assert pension["title"] == "Pension eligibility" and pension["rules"] == "person_zh"
    assert [o["name"] for o in pension["outcomes"]][:2] == ["deceased", "moved_away"]
    assert pension["outcomes"][0]["action"] == "stop_payment"
    slots = {s["name"]: s for s in pension["slots"]}
    assert list(slots) == ["roster", "deaths", "cremations", "residence"]
    assert slots["roster"]["money"] == "monthly_pension" and slots["roster"]["role"] == "roster"
    assert slots["residence"]["finds"]["by"] == "status"
    assert slots["residence"]["finds"]["values"] == {"死亡": "deceased", "迁出": "moved_away"}
    assert "status" in slots["residence"]["columns"]
    assert [c["code"] for c in slots["residence"]["candidates"]] == [CODES["residence"]]
    assert {s: slots[s]["default"] for s in slots} == {
        "roster": CODES["pensioners"], "deaths": CODES["deaths"],
        "cremations": CODES["cremations"], "residence": CODES["residence"],
    }  # fmt: skip
    assert BIRTHS not in [c["code"] for c in slots["deaths"]["candidates"]]
    assert items["dibao"]["slots"][0]["default"] is None  # HRSS has no allowance roster

    refs = {"deaths": CODES["deaths"], "cremations": CODES["cremations"],
            "residence": CODES["residence"]}  # fmt: skip
    for name, body, status, code in [
        ("burial", {"roster": CODES["pensioners"], "references": refs}, 404,
         "verify.scenario_not_found"),
        ("pension", {"roster": CODES["pensioners"],
                     "references": {**refs, "cremations": ""}}, 422,
         "verify.scenario_missing_slot"),
        ("pension", {"roster": CODES["pensioners"],
                     "references": {**refs, "residence": POPULATION}}, 422,
         "verify.scenario_missing_column"),
        ("pension", {"roster": CODES["pensioners"], "references": {**refs, "deaths": BIRTHS}},
         403, "exchange.no_grant_for"),
    ]:  # fmt: skip
        r = client.post(f"/api/v1/verify/scenarios/{name}/jobs", json=body)
        assert r.status_code == status, r.text
        assert r.json()["code"] == code
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/verify/jobs").json()["items"] == []

    login("civil.analyst")
    dibao = next(s for s in client.get("/api/v1/verify/scenarios").json()["items"]
                 if s["name"] == "dibao")  # fmt: skip
    chosen = {s["name"]: s["default"] for s in dibao["slots"]}
    body = {"roster": chosen.pop("roster"), "references": chosen}
    queued = client.post("/api/v1/verify/scenarios/dibao/jobs", json=body)
    assert queued.status_code == 202, queued.text
    location = queued.headers["location"]
    assert location == f"/api/v1/verify/jobs/{queued.json()['id']}"
    assert queued.json()["scenario"] == "dibao"
    job = _wait(client, location)
    assert job["state"] == "done", job
    assert job["slots"] == {CODES["vehicles"]: "vehicles", CODES["property"]: "property"}
    outcomes = job["summary"]["outcomes"]
    assert list(outcomes) == ["owns_vehicle", "multiple_properties", "eligible"]
    assert outcomes["owns_vehicle"]["people"] > 0
    assert outcomes["owns_vehicle"]["action"] == "stop_payment"
    assert sum(o["people"] for o in outcomes.values()) == job["summary"]["records"]["roster"]
    assert job["summary"]["scenario"]["money_column"] == "monthly_allowance"
