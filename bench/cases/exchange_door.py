"""The one door under load, on a 10M-row resource served by uvicorn over real HTTP:

* a consumer's point lookup through the whole door (token → grant check → scoped, masked
  relation → engine → metering → hash-chained audit record committed) against the same
  lookup straight on DuckDB over the same Parquet files, same run — goal ≤ 2× and
  p99 ≤ 50 ms;
* 32 concurrent clients against the query API — goal ≥ 300 requests/s on 2 cores, no
  errors (two uvicorn worker processes sharing the SQLite metadata database).
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path

from bench.cases.api_lookup import CODE, _free_port, _sample, _serve, _setup, _wait_ready
from bench.run import Case, Result

CLIENTS = 32


def _grant(home: Path) -> str:
    """A consumer organization (民政局) with an approved grant and an API token."""
    from zhili.access import system_actor
    from zhili.calendar.seed import seed_from_package
    from zhili.calendar.service import WorkCalendar
    from zhili.db import Database
    from zhili.exchange import requests as req
    from zhili.identity.auth import actor_for
    from zhili.identity.models import User
    from zhili.identity.orgs import OrgSpec, upsert_org
    from zhili.identity.tokens import create_token
    from zhili.identity.users import UserSpec, create_user

    db = Database(f"sqlite:///{home / 'zhili.db'}")
    with db.session() as s:
        seed_from_package(s, loaded_by="bench")
        upsert_org(s, OrgSpec("CAB", "民政局", "city", "department", "CITY"))
        create_user(s, system_actor(), UserSpec("cab", "Cab", "CAB", ("analyst",), "x" * 16))
        cab = actor_for(s.query(User).filter_by(username="cab").one())
        fields = ["id", "name", "district_code", "birth_date", "age", "score"]
        r = req.create_request(
            s,
            cab,
            req.RequestSpec(
                CODE,
                system="养老金系统",
                purpose="养老金资格核查",
                legal_basis="社会保险法",
                fields=fields,
                row_filter="age >= 0",
            ),
        )
        req.submit(s, cab, r, WorkCalendar.from_session(s), req.ReviewPolicy())
        req.approve(
            s,
            system_actor(),
            r,
            req.Decision(
                masking={"name": {"rule": "name"}},
                calls_per_day=None,
                rows_per_day=None,
            ),
        )
        token = create_token(s, system_actor(), username="cab", name="bench").plaintext
    db.dispose()
    return token


def _concurrent(base: str, token: str, rows: int, seconds: float) -> dict[str, float]:
    import httpx

    done, errors = [0] * CLIENTS, [0] * CLIENTS
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            while time.monotonic() < stop:
                r = c.get(
                    f"{base}/api/v1/catalog/{CODE}/rows",
                    params={"filter": f"id:eq:{rng.randrange(rows)}"},
                )
                if r.status_code == 200 and len(r.json()["rows"]) == 1:
                    done[i] += 1
                else:
                    errors[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    return {"rps": round(sum(done) / elapsed, 1), "requests": sum(done), "errors": sum(errors)}


def run(quick: bool) -> Result:
    import httpx

    from bench.cases.query_engines import _direct_lookups
    from bench.query_measure import percentiles

    rows = 1_000_000 if quick else 10_000_000
    with tempfile.TemporaryDirectory(prefix="zhili-bench-door-") as tmp:
        home = Path(tmp)
        _, table = _setup(home, rows)
        token = _grant(home)
        port = _free_port()
        server = _serve(home, port, workers=2)
        base = f"http://127.0.0.1:{port}"
        rng = random.Random(5)
        try:
            url = f"{base}/api/v1/catalog/{CODE}/rows"
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
                _wait_ready(c, base)

                def lookup() -> None:
                    r = c.get(url, params={"filter": f"id:eq:{rng.randrange(rows)}"})
                    body = r.json()
                    assert r.status_code == 200 and body["basis"] == "grant", r.text
                    assert body["rows"][0]["name"].endswith("*"), body  # masked

                _sample(lookup, 100)
                door = percentiles(_sample(lookup, 1000))
            load = _concurrent(base, token, rows, 10 if quick else 20)
        finally:
            server.terminate()
            server.wait(timeout=30)
        direct = _direct_lookups(table, rows)
    ratio = door["p50_ms"] / direct["p50_ms"]
    met = ratio <= 2 and door["p99_ms"] <= 50 and load["rps"] >= 300 and load["errors"] == 0
    return Result(
        metrics={
            "rows": rows,
            "door_lookup_p50_ms": door["p50_ms"],
            "door_lookup_p99_ms": door["p99_ms"],
            "direct_duckdb_lookup_p50_ms": direct["p50_ms"],
            "overhead_ratio": round(ratio, 2),
            "clients": CLIENTS,
            "concurrent_rps": load["rps"],
            "concurrent_requests": load["requests"],
            "concurrent_errors": load["errors"],
        },
        ratio=ratio,
        ratio_label="lookup through the door p50 ÷ direct DuckDB lookup p50 (lower is better)",
        goal="door overhead ≤ 2× and p99 ≤ 50 ms; 32 clients ≥ 300 requests/s, no errors",
        goal_met=met if not quick else None,
        notes=[
            "Each call: bearer token → grant check and quota → scoped relation (fields, row "
            "filter, masked name) → DuckDB → usage counters and the hash-chained audit entry "
            "in one group commit of the shared appender, committed before the response.",
            "Two uvicorn worker processes on the SQLite metadata database (WAL).",
        ],
    )


CASE = Case(
    name="exchange_door",
    title="The one door: lookup overhead and 32 concurrent clients on a 10M-row resource",
    baseline="the same lookup as hand-written DuckDB SQL over the same Parquet files",
    run=run,
)
