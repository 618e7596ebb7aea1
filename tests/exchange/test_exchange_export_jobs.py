"""Bulk exports as jobs: written under the grant's scope, checksummed, downloadable in
resumable ranges, metered and audited like any read."""

from __future__ import annotations

import csv
import hashlib
import io
import time

from sqlalchemy import select
from test_exchange_door import CODE, city  # noqa: F401 (fixture)

from zhili.audit.models import AuditEntry
from zhili.exchange.models import GrantUsage


def _wait(client, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(job)


def test_export_job_scoped_checksummed_resumable(city, client, login) -> None:  # noqa: F811
    login("cab.analyst")
    queued = client.post(f"/api/v1/catalog/{CODE}/exports", params={"format": "csv"})
    assert queued.status_code == 202, queued.text
    job = _wait(client, queued.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["rows"] == 2 and job["percent"] == 100.0
    whole = client.get(f"/api/v1/jobs/{job['id']}/file")
    assert whole.status_code == 200
    assert whole.headers["x-checksum-sha256"] == hashlib.sha256(whole.content).hexdigest()
    assert whole.headers["x-checksum-sha256"] == job["result"]["sha256"]
    rows = list(csv.DictReader(io.StringIO(whole.content.decode("utf-8"))))
    assert [r["id_number"] for r in rows] == ["110105********002X", "120101********0019"]
    assert set(rows[0]) == {"id_number", "district", "death_date"}
    tail = client.get(f"/api/v1/jobs/{job['id']}/file", headers={"Range": "bytes=10-"})
    assert tail.status_code == 206 and tail.content == whole.content[10:]
    with city["db"].session() as s:
        assert s.scalars(select(GrantUsage.rows)).one() == 2
        actions = [a for a in s.scalars(select(AuditEntry.action)) if "export" in a]
    assert actions == ["exchange.export", "exchange.export.completed"]


def test_export_job_refused_without_a_grant(city, client, login) -> None:  # noqa: F811
    login("edu.analyst")
    refused = client.post(f"/api/v1/catalog/{CODE}/exports")
    assert refused.status_code == 403 and refused.json()["code"] == "exchange.no_grant_for"
    login("cab.analyst")
    job = _wait(client, client.post(f"/api/v1/catalog/{CODE}/exports").json()["id"])
    login("edu.analyst")
    assert client.get(f"/api/v1/jobs/{job['id']}/file").status_code == 404  # not theirs
