"""The verification pages (比对核验) as a person uses them: the organization's jobs, the
new-job form (a refused form keeps what was typed and names the field), a job's page
following its progress and then showing the summary, charts' data and the download of the
result through the catalog's export, the review queue and an item decided by two
reviewers (four eyes, audited), cancel, and who may see what."""

from __future__ import annotations

import html
import re
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps" / "verify"))
from verify_city import DEATHS, PENSIONS, PERSON, RULES, build_city, write_csv

from zhili.audit.models import AuditEntry

PAGE = {"Accept": "text/html"}
#: The reference has no column "region": the rule set refused, naming the references.
REGION = "district: {left: district, right: region}"
FORM = {
    "roster_source": "resource",
    "roster": PENSIONS,
    "references": [DEATHS],
    "rules": "custom",
    "rules_text": RULES,
    "mode": "link",
    "money_column": "monthly_pension",
}


@pytest.fixture()
def city(world, settings, seeded_calendar, tmp_path):
    return build_city(world, settings, tmp_path)


def _wait(client: TestClient, job_id: int) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/verify/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running") and job["progress"]["status"] in (
            "succeeded", "failed",
        ):  # fmt: skip
            return job
        time.sleep(0.1)
    raise AssertionError(job)


def _start(client: TestClient, **change) -> int:
    r = client.post("/verify/new", data={**FORM, **change}, follow_redirects=False)
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/verify/jobs/(\d+)", r.headers["location"])
    assert found, r.headers["location"]
    return int(found.group(1))


def _field_error(page: str) -> str | None:
    found = re.search(r'class="field-error" role="alert" data-field="([a-z_]+)"', page)
    return found.group(1) if found else None


def test_list_and_the_new_job_form(city, client, login) -> None:
    login("hrss.analyst")
    page = client.get("/verify", headers=PAGE)
    assert page.status_code == 200
    assert 'href="/verify"' in page.text and "比对核验" in page.text  # the nav entry
    assert "暂无比对任务" in page.text and 'id="new-job"' in page.text
    form = client.get("/verify/new", headers=PAGE).text
    # the roster select and the reference choices: own resource and the granted one
    assert f'<option value="{PENSIONS}"' in form
    assert f'name="references" value="{DEATHS}"' in form
    assert '<option value="person_zh" selected' in form and 'value="owner_zh"' in form
    assert '<option value="monthly_pension">' in form  # the money column's suggestions
    client.cookies.set("zhili_lang", "en")
    english = client.get("/verify/new", headers=PAGE).text
    assert "New job" in english and "References" in english


def test_progress_phases_read_as_steps() -> None:
    from zhili.web.pages.verify import _phase

    assert _phase("2/3 train_u") == ("2/3 ", "train_u")
    assert _phase("read reference") == ("", "read_reference")
    assert _phase(None) == ("", None)


@pytest.mark.parametrize(
    ("change", "status", "field", "kept"),
    [
        ({"references": []}, 422, "references", f'<option value="{PENSIONS}" selected'),
        ({"rules_text": "name: x\nfields: [1"}, 422, "rules", "name: x\nfields: [1"),
        ({"money_column": "name"}, 422, "money_column", 'value="name"'),
        ({"roster": ""}, 422, "roster", f'value="{DEATHS}" checked'),
        ({"roster_source": "file"}, 422, "file", 'value="file" checked'),
        ({"mode": "dedupe"}, 422, "references", 'value="dedupe" checked'),
        ({"rules_text": RULES.replace("district: district", REGION)}, 422, "references", REGION),
    ],
)
def test_a_refused_form_keeps_what_was_typed_and_names_the_field(
    city, client, login, change, status, field, kept
) -> None:
    login("hrss.analyst")
    r = client.post("/verify/new", data={**FORM, **change}, follow_redirects=False)
    assert r.status_code == status, r.text[:500]
    assert _field_error(r.text) == field
    assert kept in html.unescape(r.text)
    assert 'aria-invalid="true"' in r.text
    assert client.get("/api/v1/verify/jobs").json()["items"] == []


def test_a_job_from_start_to_summary_and_download(city, client, login) -> None:
    login("hrss.analyst")
    job_id = _start(client)
    page = client.get(f"/verify/jobs/{job_id}", headers=PAGE)
    assert page.status_code == 200 and "比对任务 #" in page.text
    job = _wait(client, job_id)
    assert job["state"] == "done", job
    # the progress fragment: once the job has ended htmx reloads the page
    panel = client.get(f"/verify/jobs/{job_id}/panel", headers={"HX-Request": "true"})
    assert panel.headers.get("HX-Refresh") == "true"
    assert 'data-state="done"' in panel.text and "hx-trigger" not in panel.text

    page = client.get(f"/verify/jobs/{job_id}", headers=PAGE).text
    csv_url = f"/api/v1/catalog/{job['result']['code']}/export?format=csv&amp;version=0"
    assert f'href="{csv_url}"' in page and 'id="download-parquet"' in page
    assert 'id="chart-tiers"' in page and 'id="chart-passes"' in page
    assert 'id="verify-data"' in page and "/static/vendor/echarts.min.js" in page
    assert 'id="id-problems"' in page and "校验码错误" in page  # the roster's bad number
    assert 'id="timings"' in page and "死亡人员信息" in page
    assert 'id="cancel-form"' not in page
    assert f'href="/verify/jobs/{job_id}/review"' in page
    tiers = job["summary"]["tiers"]
    assert '"auto": [{}]'.format(tiers["auto"]) in page.replace("&#34;", '"')
    download = client.get(html.unescape(csv_url))
    assert download.status_code == 200
    assert download.text.count("\n") == tiers["auto"] + tiers["review"] + 1
    parquet = client.get(html.unescape(csv_url).replace("format=csv", "format=parquet"))
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"

    listed = client.get("/verify", headers=PAGE).text
    assert f'data-job="{job_id}"' in listed and "已完成" in listed
    assert "养老金领取人员名册" in listed
    login("edu.analyst")  # another organization: no such job
    assert client.get(f"/verify/jobs/{job_id}", headers=PAGE).status_code == 404
    assert f'data-job="{job_id}"' not in client.get("/verify", headers=PAGE).text


def test_a_job_with_an_uploaded_roster(city, client, login) -> None:
    path = write_csv(city.tmp / "名册.csv", city.roster, [*PERSON, "monthly_pension"])
    login("hrss.analyst")
    with path.open("rb") as f:
        r = client.post(
            "/verify/new",
            data={**FORM, "roster_source": "file", "roster": ""},
            files={"file": ("名册.csv", f, "text/csv")},
            follow_redirects=False,
        )
    assert r.status_code == 303, r.text[:500]
    job = _wait(client, int(r.headers["location"].rsplit("/", 1)[1]))
    assert job["state"] == "done" and job["roster_file"] == "roster.csv"
    page = client.get(f"/verify/jobs/{job['id']}", headers=PAGE).text
    assert "上传的文件" in page and 'id="download-csv"' in page


def test_review_by_two_reviewers(city, client, login, monkeypatch) -> None:
    login("hrss.analyst")
    job = _wait(client, _start(client))
    login("hrss.approver")
    queue = client.get(f"/verify/jobs/{job['id']}/review", headers=PAGE)
    assert queue.status_code == 200
    ids = [int(i) for i in re.findall(r'data-item="(\d+)"', queue.text)]
    assert len(ids) == job["summary"]["review_items"] >= 2
    assert 'data-tab="pending"' in queue.text and "待复核" in queue.text
    first, last = ids[0], ids[-1]

    item = client.get(f"/verify/items/{first}", headers=PAGE).text
    assert 'id="side-by-side"' in item and 'data-field="name"' in item
    assert re.search(r'class="compared verdict-(for|against|missing)"', item)
    assert 'id="decision-form"' in item and "尚无决定" in item
    decided = client.post(
        f"/verify/items/{first}/decide",
        data={"decision": "confirm", "action": "stop_payment", "reason": ""},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    item = client.get(decided.headers["location"], headers=PAGE).text
    assert 'id="decided"' in item and 'id="waiting"' in item
    assert 'id="decision-form"' not in item and 'id="already-mine"' in item
    again = client.post(
        f"/verify/items/{first}/decide", data={"decision": "confirm", "action": "stop_payment"}
    )
    assert again.status_code == 409
    assert 'data-code="verify.already_decided"' in again.text and "另一名复核人员" in again.text

    no_reason = client.post(f"/verify/items/{last}/decide", data={"decision": "reject"})
    assert no_reason.status_code == 422 and _field_error(no_reason.text) == "reason"

    login("hrss.approver2")
    second = client.post(
        f"/verify/items/{first}/decide",
        data={"decision": "confirm", "action": "stop_payment"},
        follow_redirects=False,
    )
    assert second.status_code == 303
    item = client.get(f"/verify/items/{first}", headers=PAGE).text
    assert 'id="approved"' in item and "处置已批准" in item
    assert item.count("hrss.approver") >= 2 and 'id="decision-form"' not in item
    with city.db.session() as s:
        audited = s.scalars(select(AuditEntry).where(AuditEntry.action == "verify.decide")).all()
    assert len(audited) == 2
    approved = client.get(f"/verify/jobs/{job['id']}/review?state=action_approved", headers=PAGE)
    assert re.findall(r'data-item="(\d+)"', approved.text) == [str(first)]
    # the queue lists the undecided first, a page at a time
    monkeypatch.setattr("zhili.web.pages.verify_review.PAGE_SIZE", 1)
    one = client.get(f"/verify/jobs/{job['id']}/review", headers=PAGE).text
    assert re.findall(r'data-item="(\d+)"', one) == [str(ids[1])] and "第 1 / 2 页" in one
    two = client.get(f"/verify/jobs/{job['id']}/review?page=2", headers=PAGE).text
    assert re.findall(r'data-item="(\d+)"', two) == [str(first)]

    login("hrss.analyst")  # may read, may not decide
    item = client.get(f"/verify/items/{last}", headers=PAGE).text
    assert 'id="decision-form"' not in item
    assert client.post(f"/verify/items/{last}/decide", data={"decision": "reject"}).status_code == (
        403
    )


def test_who_may_see_the_pages(city, client, login) -> None:
    assert (
        client.get("/verify", headers=PAGE, follow_redirects=False)
        .headers["location"]
        .startswith("/login?next=/verify")
    )
    login("hrss.grid")  # a grid worker: no verify.read
    home = client.get("/", headers=PAGE).text
    assert 'href="/verify"' not in home
    assert client.get("/verify", headers=PAGE).status_code == 403
    assert client.get("/verify/new", headers=PAGE).status_code == 403
    login("hrss.approver")  # reads and reviews, does not run jobs
    assert client.get("/verify", headers=PAGE).status_code == 200
    assert 'id="new-job"' not in client.get("/verify", headers=PAGE).text
    assert client.get("/verify/new", headers=PAGE).status_code == 403


@pytest.fixture()
def idle_client(city, settings, db, monkeypatch):
    """The app without a job runner: a queued job stays queued until cancelled."""
    from zhili.settings import get_settings
    from zhili.web.app import create_app

    monkeypatch.setenv("ZHILI_JOB_WORKERS", "0")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings(), db)) as c:
        yield c


def test_cancel_a_queued_job(idle_client) -> None:
    client = idle_client
    r = client.post("/api/v1/auth/login", json={"username": "hrss.analyst",
                                                "password": "correct-horse-battery"})  # fmt: skip
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    job_id = _start(client)
    page = client.get(f"/verify/jobs/{job_id}", headers=PAGE).text
    assert 'data-state="queued"' in page and 'id="cancel-form"' in page
    assert f'hx-get="/verify/jobs/{job_id}/panel"' in page
    panel = client.get(f"/verify/jobs/{job_id}/panel", headers={"HX-Request": "true"})
    assert "HX-Refresh" not in panel.headers and 'hx-trigger="every 1s"' in panel.text
    r = client.post(f"/verify/jobs/{job_id}/cancel", follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/verify/jobs/{job_id}", headers=PAGE).text
    assert 'data-state="cancelled"' in page and 'id="cancel-form"' not in page
    again = client.post(f"/verify/jobs/{job_id}/cancel")
    assert again.status_code == 409 and "无法取消" in again.text


def test_scenario_cards_and_a_refused_scenario_form(city, client, login) -> None:
    login("hrss.analyst")
    cards = client.get("/verify/scenarios", headers=PAGE)
    assert cards.status_code == 200
    names = re.findall(r'data-scenario="([a-z_]+)"', cards.text)
    assert names[:3] == ["pension", "senior_card", "dibao"]
    assert "养老金领取资格核验" in cards.text and 'href="/verify/scenarios/pension"' in cards.text
    form = client.get("/verify/scenarios/pension", headers=PAGE)
    assert form.status_code == 200
    # the death register fits the deaths slot by its name: chosen; the roster too
    slot = re.search(r'data-slot="deaths".*?</fieldset>', form.text, re.S).group(0)
    assert f'<option value="{DEATHS}" selected' in slot
    roster = re.search(r'data-slot="roster".*?</fieldset>', form.text, re.S).group(0)
    assert f'<option value="{PENSIONS}" selected' in roster
    refused = client.post(
        "/verify/scenarios/pension",
        data={"roster": PENSIONS, "slot": ["deaths", "cremations", "residence"],
              "code": [DEATHS, "", ""]},
    )  # fmt: skip
    assert refused.status_code == 422
    assert _field_error(refused.text) in ("cremations", "residence")
    slot = re.search(r'data-slot="deaths".*?</fieldset>', refused.text, re.S).group(0)
    assert f'<option value="{DEATHS}" selected' in slot  # kept as chosen
    assert client.get("/verify/scenarios/nothing", headers=PAGE).status_code == 404
    login("hrss.approver")  # reads the cards, may not start one
    assert "使用此模板" not in client.get("/verify/scenarios", headers=PAGE).text
    assert client.get("/verify/scenarios/pension", headers=PAGE).status_code == 403


@pytest.fixture()
def scenario_city(world, settings, seeded_calendar, tmp_path):
    from scenario_city import build_scenario_city

    return build_scenario_city(world, settings, tmp_path)


@pytest.mark.slow
def test_a_scenario_job_shows_people_and_money_per_outcome(scenario_city, client, login) -> None:
    from scenario_city import CODES

    login("hrss.analyst")
    form = client.get("/verify/scenarios/pension", headers=PAGE).text
    selected = r'data-slot="([a-z_]+)".*?<option value="([^"]+)" selected'
    chosen = dict(re.findall(selected, form, re.S))
    tables = {"roster": "pensioners", "deaths": "deaths", "cremations": "cremations",
              "residence": "residence"}  # fmt: skip
    assert chosen == {slot: CODES[table] for slot, table in tables.items()}
    slots = ["deaths", "cremations", "residence"]
    r = client.post(
        "/verify/scenarios/pension",
        data={"roster": chosen["roster"], "slot": slots, "code": [chosen[s] for s in slots]},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:800]
    job = _wait(client, int(r.headers["location"].rsplit("/", 1)[1]))
    assert job["state"] == "done", job
    page = client.get(r.headers["location"], headers=PAGE).text
    assert 'id="outcomes-table"' in page and 'id="chart-outcomes"' in page
    outcomes = job["summary"]["outcomes"]
    assert 'data-outcome="deceased"' in page and "已死亡" in page
    people = sum(o["people"] for o in outcomes.values())
    assert people == job["summary"]["records"]["roster"]
    assert '"outcome_rows"' in page.replace("&#34;", '"')
    assert "养老金领取资格核验" in client.get("/verify", headers=PAGE).text


def test_a_failed_job_shows_its_problem(idle_client, city) -> None:
    from zhili.apps.verify.jobs import job_dir
    from zhili.apps.verify.models import VerificationJob
    from zhili.apps.verify.run import run_here

    client = idle_client
    r = client.post("/api/v1/auth/login", json={"username": "hrss.analyst",
                                                "password": "correct-horse-battery"})  # fmt: skip
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    path = write_csv(city.tmp / "名册.csv", city.roster, [*PERSON, "monthly_pension"])
    with path.open("rb") as f:
        r = client.post(
            "/verify/new",
            data={**FORM, "roster_source": "file", "roster": ""},
            files={"file": ("名册.csv", f, "text/csv")},
            follow_redirects=False,
        )
    job_id = int(r.headers["location"].rsplit("/", 1)[1])
    (job_dir(city.home, job_id) / "roster.csv").write_bytes(b"")  # gone bad since the checks
    with city.db.session() as s:
        job = s.get(VerificationJob, job_id)
        s.expunge(job)
    assert run_here(city.db, city.home, city.secret_key, job).state == "failed"
    page = client.get(f"/verify/jobs/{job_id}", headers=PAGE).text
    assert 'data-state="failed"' in page and 'id="job-error"' in page
    problem = re.search(r'<p id="job-error">([^<]+)</p>', page).group(1)
    assert "无法读取 roster.csv" in html.unescape(problem)  # its problem, rendered
    assert 'id="cancel-form"' not in page and 'id="verify-kpis"' not in page


def test_a_bulk_decision_on_the_queue_page_and_over_the_api(city, client, login) -> None:
    login("hrss.analyst")
    job = _wait(client, _start(client))
    queue = client.get(f"/verify/jobs/{job['id']}/review", headers=PAGE)
    assert 'id="bulk-form"' in queue.text and 'id="select-all"' not in queue.text  # no role
    login("hrss.approver")
    queue = client.get(f"/verify/jobs/{job['id']}/review", headers=PAGE)
    assert 'id="select-all"' in queue.text and 'name="items"' in queue.text
    ids = [int(i) for i in re.findall(r'name="items" value="(\d+)"', queue.text)]
    assert len(ids) >= 2
    form = {"items": [str(i) for i in ids], "decision": "confirm", "action": "stop_payment"}
    done = client.post(f"/verify/jobs/{job['id']}/review/bulk", data=form)
    assert done.status_code == 200 and 'id="bulk-done"' in done.text
    assert f"已处理 {len(ids)} 条；跳过 0 条" in done.text
    # nothing ticked: refused with its message, nothing decided
    none = client.post(f"/verify/jobs/{job['id']}/review/bulk", data={"decision": "confirm"})
    assert none.status_code == 422 and 'data-code="verify.no_items"' in none.text

    login("hrss.approver2")
    body = {"items": [*ids, 987_654], "decision": "confirm", "action": "stop_payment"}
    api = client.post(f"/api/v1/verify/jobs/{job['id']}/decisions", json=body)
    assert api.status_code == 200, api.text
    assert api.json() == {"decided": ids, "skipped": {"987654": "verify.item_not_found"}}
    items = client.get(f"/api/v1/verify/jobs/{job['id']}/items").json()["items"]
    approved = {i["id"] for i in items if i["state"] == "action_approved"}
    assert set(ids) <= approved
    bad = client.post(f"/api/v1/verify/jobs/{job['id']}/decisions",
                      json={"items": [], "decision": "confirm"})  # fmt: skip
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
