"""200 grid workers reporting events over real HTTP (``POST /api/v1/grid/events``, each
with its own API token) to uvicorn with 2 workers on a PostgreSQL metadata database:
every report is located in the demo city's 25,000 areas, checked for duplicates,
recorded with its steps and auto-dispatched (register + dispatch to the responsible
department).

Two loads. *Closed loop*: the 200 reporters send back to back (no pause), which finds the
most events/s the machine can take; their latency then is queueing (Little's law: 200 in
flight at R events/s wait 200/R s). *Open loop*: reports arrive at a fixed rate spread
over the 200 reporters, latency counted from when each was due (so a stall is not hidden
by fewer sends), one rate after another; the sustainable rate is the highest with p95 ≤
200 ms, no errors and the rate achieved. Baseline, same run: bare single-row INSERTs of
event rows (no workflow, no HTTP) from 16 threads, one transaction each. Goal: ≥ 300
events/s, p95 ≤ 200 ms, no errors."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.cases.api_lookup import _free_port
from bench.grid_data import NOW, pg_url, seed_city
from bench.run import Case, Result, peak_rss_mb

REPORTERS = 200


def _tokens(db, n: int) -> tuple[list[str], list[tuple[float, float]]]:
    from sqlalchemy import select

    from zhili.access import system_actor
    from zhili.apps.grid.models import GridArea
    from zhili.identity.tokens import create_token
    from zhili.identity.users import UserSpec, create_user

    with db.session() as s:
        street = s.scalar(
            select(GridArea.code).where(GridArea.level == "street").order_by(GridArea.code)
        )
        spots = [(a.center_lon, a.center_lat) for a in s.scalars(
            select(GridArea).where(GridArea.level == "grid").order_by(GridArea.code))]  # fmt: skip
        tokens = []
        for i in range(n):
            name = f"gw{i:03d}"
            create_user(s, system_actor(), UserSpec(name, name, street, ("grid_worker",), "x" * 16))
            tokens.append(create_token(s, system_actor(), username=name, name="bench").plaintext)
    return tokens, spots


def _serve(home: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ZHILI_HOME": str(home),
        "ZHILI_DATABASE_URL": url,
        "ZHILI_JOB_WORKERS": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "zhili.web.app:create_app", "--factory",
         "--port", str(port), "--log-level", "warning", "--no-access-log", "--workers", "2"],
        env=env,
    )  # fmt: skip


def _body(rng: random.Random, spots) -> dict[str, object]:
    lon, lat = rng.choice(spots)
    dx, dy = rng.uniform(-3e-4, 3e-4), rng.uniform(-3e-4, 3e-4)
    return {"category": f"cat-{rng.randrange(12):02d}", "source": "grid_worker",
            "lon": lon + dx, "lat": lat + dy, "description": "路面堆物"}  # fmt: skip


def _summary(latencies: list[float], errors: list[str], elapsed: float) -> dict[str, float]:
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "rps": n / elapsed if elapsed else 0.0,
            "p95_s": latencies[int(0.95 * (n - 1))] if n else float("nan"),
            "p50_s": latencies[n // 2] if n else float("nan"),
            "errors": len(errors), "first_error": errors[0] if errors else ""}  # fmt: skip


async def _send(client, base: str, token: str, body, due: float, out: list, errors: list) -> None:
    import httpx

    try:
        r = await client.post(
            f"{base}/api/v1/grid/events", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    except httpx.HTTPError as e:  # a reset or refused connection is an error, not a crash
        out.append(time.perf_counter() - due)
        errors.append(f"{type(e).__name__} {e}")
        return
    out.append(time.perf_counter() - due)
    if r.status_code != 201 or r.json().get("event", {}).get("state") != "dispatched":
        errors.append(f"{r.status_code} {r.text[:200]}")


async def _load(base: str, tokens: list[str], spots, seconds: float) -> dict[str, float]:
    """Closed loop: every reporter sends its next report when the last one is answered."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=len(tokens) + 10)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def reporter(i: int) -> None:
            rng = random.Random(i)
            while time.monotonic() < stop:
                due = time.perf_counter()
                await _send(client, base, tokens[i], _body(rng, spots), due, latencies, errors)

        began = time.monotonic()
        await asyncio.gather(*(reporter(i) for i in range(len(tokens))))
        elapsed = time.monotonic() - began
    return _summary(latencies, errors, elapsed)


async def _open_loop(
    base: str, tokens: list[str], spots, rate: float, seconds: float
) -> dict[str, float]:
    """Open loop: report k is due at k / rate, from reporter k mod 200."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=len(tokens) + 10)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        start = time.perf_counter()
        tasks = []
        for k in range(int(rate * seconds)):
            due = start + k / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            body = _body(random.Random(k), spots)
            token = tokens[k % len(tokens)]
            tasks.append(
                asyncio.create_task(_send(client, base, token, body, due, latencies, errors))
            )
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return _summary(latencies, errors, elapsed)


def _bare_inserts(db, n: int) -> float:
    """Events/s of plain single-row INSERTs (16 threads, one transaction each)."""
    from sqlalchemy import select, text

    from zhili.apps.grid.models import EventCategory, GridArea

    with db.session() as s:
        cat = s.scalar(select(EventCategory.id))
        area = s.scalar(select(GridArea.id).where(GridArea.level == "grid"))
    sql = text(
        "INSERT INTO grid_events (category_id, area_id, command_area_id, level, lon, lat, "
        "address, description, answers, source, state, open, seq, stage_seq, warned_seq, "
        "escalations, supervised, reopened, reported_at, updated_at) VALUES (:c, :a, :a, "
        "'street', 117.2, 39.1, '', '道路上堆放建筑材料', '{}', 'grid_worker', 'reported', true, "
        "0, 0, 0, 0, false, 0, :t, :t)"
    )
    per = n // 16

    def work() -> None:
        for _ in range(per):
            with db.engine.begin() as conn:
                conn.execute(sql, {"c": cat, "a": area, "t": NOW})

    threads = [threading.Thread(target=work) for _ in range(16)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * 16 / (time.perf_counter() - start)


def run(quick: bool) -> Result:
    import httpx

    from bench.cases.api_lookup import _wait_ready
    from zhili.db import Database

    url = pg_url("zhili_bench_grid_report")
    db = Database(url)
    try:
        seed_city(db)
        tokens, spots = _tokens(db, REPORTERS)
        with tempfile.TemporaryDirectory(prefix="zhili-bench-grid-") as tmp:
            port = _free_port()
            server = _serve(Path(tmp), url, port)
            base = f"http://127.0.0.1:{port}"
            try:
                with httpx.Client(timeout=30) as c:
                    _wait_ready(c, base)
                    probe = c.post(f"{base}/api/v1/grid/events", json={},
                                   headers={"Authorization": f"Bearer {tokens[0]}"})  # fmt: skip
                if probe.status_code in (404, 405):
                    return Result(
                        metrics={"route": "missing"},
                        notes=["POST /api/v1/grid/events not there yet"],
                    )
                asyncio.run(_load(base, tokens[:20], spots, 3))  # warm both workers
                load = asyncio.run(_load(base, tokens, spots, 10 if quick else 30))
                rates = {}
                for rate in (25, 50, 100) if quick else (50, 100, 150, 200, 300):
                    rates[rate] = asyncio.run(
                        _open_loop(base, tokens, spots, rate, 5 if quick else 10)
                    )
            finally:
                server.terminate()
                server.wait(timeout=30)
        bare = _bare_inserts(db, 4_000 if quick else 20_000)
    finally:
        db.dispose()
    ok = [
        rate for rate, r in rates.items()
        if r["p95_s"] <= 0.2 and r["errors"] == 0 and r["rps"] >= 0.98 * rate
    ]  # fmt: skip
    sustainable = max(ok, default=0)
    per_rate: dict[str, float | int] = {}
    for rate, r in rates.items():
        per_rate[f"open_{rate}_per_s.achieved"] = round(r["rps"], 1)
        per_rate[f"open_{rate}_per_s.p50_ms"] = round(r["p50_s"] * 1000, 1)
        per_rate[f"open_{rate}_per_s.p95_ms"] = round(r["p95_s"] * 1000, 1)
        per_rate[f"open_{rate}_per_s.errors"] = r["errors"]
    met = sustainable >= 300
    firsts = [r["first_error"] for r in (load, *rates.values()) if r["errors"]]
    return Result(
        metrics={
            "reporters": REPORTERS,
            "closed_loop.events": load["requests"],
            "closed_loop.events_per_s": round(load["rps"], 1),
            "closed_loop.p50_ms": round(load["p50_s"] * 1000, 1),
            "closed_loop.p95_ms": round(load["p95_s"] * 1000, 1),
            "closed_loop.errors": load["errors"],
            **per_rate,
            "sustainable_events_per_s": sustainable,
            "bare_insert_events_per_s": round(bare, 1),
            "peak_rss_mb": round(peak_rss_mb()),
        },
        ratio=bare / load["rps"] if load["rps"] else None,
        ratio_label="bare INSERT events/s ÷ reported-and-dispatched events/s over HTTP, "
        "closed loop (lower is better)",
        goal="200 concurrent reporters: ≥ 300 events/s created and auto-dispatched, "
        "p95 ≤ 200 ms, no errors",
        goal_met=met if not quick else None,
        notes=[
            "sustainable rate: the highest open-loop rate tried with p95 ≤ 200 ms, no errors "
            "and ≥ 98 % of the rate achieved",
            *(f"first error: {e}" for e in firsts[:1]),
        ],
    )


CASE = Case(
    "grid_report",
    "200 concurrent grid workers reporting events over HTTP, PostgreSQL",
    "bare single-row INSERTs of event rows (16 threads)",
    run,
)
