"""Loads as background jobs over HTTP: a large upload or a department database's query
runs off the request; the job reports progress, the new version or the report."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from test_web_catalog import GOOD, steward, wait_job  # noqa: F401 (fixture)

URL = "/api/v1/catalog/3-03-001-000001"


def test_background_upload_reports_progress_then_the_version(steward: TestClient) -> None:  # noqa: F811
    r = steward.post(
        f"{URL}/versions",
        files={"file": ("d.csv", GOOD.encode(), "text/csv")},
        data={"background": "true"},
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running") and job["params"]["filename"] == "d.csv"
    done = wait_job(steward, job["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["version"] == 0 and done["result"]["rows_written"] == 2
    assert done["done"] == 2 and done["percent"] == 100.0
    assert steward.get(f"{URL}/versions").json()["items"][0]["version"] == 0
    listed = steward.get("/api/v1/jobs", params={"subject": "3-03-001-000001"}).json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_background_upload_failure_keeps_the_report(steward: TestClient) -> None:  # noqa: F811
    bad = "id_number,name,death_date\n123,x,2026-01-01\n11010519491231002X,y,not-a-date\n"
    r = steward.post(
        f"{URL}/versions",
        files={"file": ("d.csv", bad.encode(), "text/csv")},
        data={"background": "true"},
    )
    done = wait_job(steward, r.json()["id"])
    assert done["status"] == "failed"
    problem = done["problem"]
    assert problem["code"] == "lake.validation_failed" and problem["status"] == 422
    rows = {(e["rowNumber"], e["fieldName"]) for e in problem["report"]["errors"]}
    assert rows == {(2, "id_number"), (3, "death_date")}
    assert steward.get(f"{URL}/versions").json()["items"] == []  # nothing committed
    unknown = steward.post(
        f"{URL}/versions",
        files={"file": ("d.doc", b"x", "application/msword")},
        data={"background": "true"},
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "lake.unknown_format"


def test_jobs_are_private_to_their_owner(steward: TestClient, world, login) -> None:  # noqa: F811
    r = steward.post(
        f"{URL}/versions",
        files={"file": ("d.csv", GOOD.encode(), "text/csv")},
        data={"background": "true"},
    )
    job_id = r.json()["id"]
    wait_job(steward, job_id)
    world.user("psb.analyst", "PSB", "analyst")
    login("psb.analyst")
    assert steward.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert steward.get(f"/jobs/{job_id}/panel").status_code == 404
    assert steward.get("/api/v1/jobs").json()["items"] == []
    world.user("root", "BUREAU", "platform_admin")
    login("root")
    assert steward.get(f"/api/v1/jobs/{job_id}").json()["status"] == "succeeded"


@pytest.fixture()
def department_db(database_url: str):
    """A table in a 'department database' (the worker's own database, SQLite or PostgreSQL)."""
    table = f"dept_{uuid.uuid4().hex[:8]}"
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (sfzh VARCHAR(18), xm VARCHAR(20), swrq DATE)"))
        conn.execute(
            text(f"INSERT INTO {table} VALUES (:a, :b, :c)"),
            [
                {"a": "11010519491231002X", "b": "张三", "c": "2026-10-01"},
                {"a": "120101199001010113", "b": "李四", "c": "2026-10-02"},
            ],
        )
    yield database_url, table
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    engine.dispose()


def test_load_from_a_department_database(steward: TestClient, settings, department_db) -> None:  # noqa: F811
    url, table = department_db
    query = f"SELECT sfzh AS id_number, xm AS name, swrq AS death_date FROM {table}"
    backend = url.split(":")[0].split("+")[0]
    settings.source_drivers = backend
    r = steward.post(f"{URL}/versions/from-database", json={"url": url, "query": query})
    assert r.status_code == 202, r.text
    job = r.json()
    assert "url" not in job["params"] and job["params"]["query"] == query
    done = wait_job(steward, job["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["rows_written"] == 2 and done["result"]["source"].startswith("sql:")
    rows = steward.get(f"{URL}/rows", params={"sort": "death_date"}).json()["rows"]
    assert [r["name"] for r in rows] == ["张三", "李四"]
    failing = steward.post(
        f"{URL}/versions/from-database", json={"url": url, "query": "SELECT * FROM nowhere"}
    )
    assert wait_job(steward, failing.json()["id"])["status"] == "failed"


def test_database_urls_are_checked(steward: TestClient, settings) -> None:  # noqa: F811
    assert settings.allowed_source_drivers == ("postgresql", "mysql", "mssql", "oracle")
    cases = {
        "sqlite:////etc/zhili.db": "catalog.source_driver",  # file databases: refused
        "not a url": "catalog.bad_source_url",
    }
    for url, code in cases.items():
        r = steward.post(f"{URL}/versions/from-database", json={"url": url, "query": "SELECT 1"})
        assert (r.status_code, r.json()["code"]) == (422, code), r.text
        assert r.json()["field"] == "url"
    secret = steward.post(
        f"{URL}/versions/from-database",
        json={"url": "postgresql://dept:s3cret@127.0.0.1:9/x", "query": "SELECT 1"},
    )
    assert secret.status_code == 202 and "s3cret" not in secret.text
    assert secret.json()["params"]["source"] == "postgresql://dept:***@127.0.0.1:9/x"
    failed = wait_job(steward, secret.json()["id"])
    assert failed["status"] == "failed" and "s3cret" not in str(failed)
