"""Point lookups and keyset pages through the REST API on a 10M-row resource, served by
uvicorn in its own process and called over real HTTP with an API token — against the same
lookup written directly in DuckDB over the same Parquet files, in the same run.
Goals (issue #3): lookup p50 ≤ 15 ms, p99 ≤ 50 ms; keyset page of 100 p50 ≤ 30 ms."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import Case, Result

CODE = "1-01-009-000001"
SCHEMA = {
    "fields": [
        {"name": "id", "type": "integer", "constraints": {"required": True}},
        {"name": "name", "type": "string", "x-sensitivity": "personal"},
        {"name": "district_code", "type": "string"},
        {"name": "birth_date", "type": "date"},
        {"name": "age", "type": "integer"},
        {"name": "score", "type": "number"},
    ],
    "primaryKey": ["id"],
}
LOOKUPS, PAGES = 1000, 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup(home: Path, rows: int) -> tuple[str, Path]:
    """A provider, its analyst with a token, the resource and its 10M-row version."""
    from bench.query_measure import build
    from zhili.access import system_actor
    from zhili.catalog.loading import table_for
    from zhili.catalog.service import ResourceSpec, create_resource, record_version
    from zhili.db import Database, migrate
    from zhili.identity.orgs import OrgSpec, upsert_org
    from zhili.identity.tokens import create_token
    from zhili.identity.users import UserSpec, create_user

    url = f"sqlite:///{home / 'zhili.db'}"
    migrate(url)
    db = Database(url)
    with db.session() as s:
        upsert_org(s, OrgSpec("CITY", "示例市", "city", "government", None))
        upsert_org(s, OrgSpec("PSB", "公安局", "city", "department", "CITY"))
        create_user(s, system_actor(), UserSpec("bench", "Bench", "PSB", ("analyst",), "x" * 16))
        resource = create_resource(s, system_actor(), ResourceSpec(
            code=CODE, name="人口基础信息（压测）", provider_code="PSB", classification="base",
            table_schema=SCHEMA, sharing_type="conditional", sharing_conditions="压测",
            open_type="closed", update_cycle="daily", grade="important",
        ))  # fmt: skip
        path = Path(table_for(home, resource).uri)
        build(path, rows)
        record_version(
            s, resource, version=0, mode="replace", rows_written=rows, total_rows=rows,
            size=0, source="bench", by="bench",
        )  # fmt: skip
        token = create_token(s, system_actor(), username="bench", name="bench").plaintext
    db.dispose()
    return token, path


def _serve(home: Path, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ZHILI_HOME": str(home), "ZHILI_JOB_WORKERS": "0"}
    env.pop("ZHILI_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "zhili.web.app:create_app", "--factory",
         "--port", str(port), "--log-level", "warning", "--no-access-log",
         "--workers", str(workers)],
        env=env,
    )  # fmt: skip


def _wait_ready(client, base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.get(f"{base}/readyz").status_code == 200:
                return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def _sample(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def run(quick: bool) -> Result:
    import httpx

    from bench.cases.query_engines import _direct_lookups
    from bench.query_measure import percentiles

    rows = 1_000_000 if quick else 10_000_000
    with tempfile.TemporaryDirectory(prefix="zhili-bench-api-") as tmp:
        home = Path(tmp)
        token, table = _setup(home, rows)
        port = _free_port()
        server = _serve(home, port)
        base = f"http://127.0.0.1:{port}"
        rng = random.Random(11)
        try:
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
                _wait_ready(c, base)
                url = f"{base}/api/v1/catalog/{CODE}/rows"

                def lookup() -> None:
                    r = c.get(url, params={"filter": f"id:eq:{rng.randrange(rows)}"})
                    assert r.status_code == 200 and len(r.json()["rows"]) == 1, r.text

                cursors = []

                def page() -> None:
                    r = c.get(url, params={"limit": 100, "filter": f"id:ge:{rng.randrange(rows)}"})
                    body = r.json()
                    assert r.status_code == 200 and body["rows"], r.text
                    cursors.append(body["next"])

                def next_page() -> None:
                    r = c.get(url, params={"limit": 100, "after": cursors.pop()})
                    assert r.status_code == 200 and len(r.json()["rows"]) == 100, r.text

                _sample(lookup, 50)  # warm the server's engine and caches
                api_lookup = percentiles(_sample(lookup, LOOKUPS))
                api_page = percentiles(_sample(page, PAGES))
                api_next = percentiles(_sample(next_page, min(PAGES, len(cursors) - 1)))
        finally:
            server.terminate()
            server.wait(timeout=30)
        direct = _direct_lookups(table, rows)
    met = api_lookup["p50_ms"] <= 15 and api_lookup["p99_ms"] <= 50 and api_next["p50_ms"] <= 30
    return Result(
        metrics={
            "rows": rows,
            "api_lookup_p50_ms": api_lookup["p50_ms"],
            "api_lookup_p99_ms": api_lookup["p99_ms"],
            "api_first_page_p50_ms": api_page["p50_ms"],
            "api_next_page_p50_ms": api_next["p50_ms"],
            "api_next_page_p99_ms": api_next["p99_ms"],
            "direct_duckdb_lookup_p50_ms": direct["p50_ms"],
            "direct_duckdb_lookup_p99_ms": direct["p99_ms"],
        },
        ratio=direct["p50_ms"] / api_lookup["p50_ms"],
        ratio_label="direct DuckDB lookup p50 ÷ lookup through the REST API p50",
        goal="lookup p50 ≤ 15 ms and p99 ≤ 50 ms; keyset page of 100 p50 ≤ 30 ms (over HTTP)",
        goal_met=met if not quick else None,
        notes=[
            "One uvicorn process, SQLite metadata, token auth on every call, one keep-alive "
            "client; the table is sorted by id in 100k-row groups, as the lake writes it.",
            "first page = a page of 100 from a random start (filter id ≥ N); next page = the "
            "page after it through the keyset cursor.",
        ],
    )


CASE = Case(
    name="api_lookup",
    title="Point lookup and keyset pages through the REST API on a 10M-row resource",
    baseline="the same lookup as hand-written DuckDB SQL over the same Parquet files",
    run=run,
)
