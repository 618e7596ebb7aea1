"""The admission gate: a burst wider than the thread pool and the connection pool
completes instead of deadlocking the two pools against each other."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from zhili.web.deps import DbSession
from zhili.web.gate import DatabaseGate


def test_the_gate_admits_size_at_once_and_times_out_the_rest() -> None:
    gate = DatabaseGate(2, timeout=0.2)
    inside = peak = 0

    async def hold(seconds: float) -> None:
        nonlocal inside, peak
        async with gate.enter():
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(seconds)
            inside -= 1

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(hold(0.5), hold(0.5), hold(0.01), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert peak == 2
    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], PoolTimeout)  # answered as db.busy (503, Retry-After)

    async def queued() -> None:  # a longer deadline: the third waits its turn
        patient = DatabaseGate(2, timeout=5)
        await asyncio.gather(*(_use(patient) for _ in range(6)))

    asyncio.run(queued())


async def _use(gate: DatabaseGate) -> None:
    async with gate.enter():
        await asyncio.sleep(0.01)


def test_one_gate_per_event_loop() -> None:
    gate = DatabaseGate(1, timeout=1)
    for _ in range(3):  # a new loop each time (as test clients make): no cross-loop error
        asyncio.run(_use(gate))
    assert len(gate._gates) <= 1  # loops that ended are forgotten


def test_a_burst_wider_than_both_pools_completes(settings, db) -> None:
    """120 requests at once, each checking a connection out in a sync dependency and then
    hopping to the thread pool (as the report endpoint does): without the gate the 40
    threads wait for connections that requests waiting for a thread hold, until the
    pool's timeout; with it every request succeeds and at most ``size`` are inside."""
    from zhili.web.app import create_app

    app = create_app(settings.model_copy(update={"db_concurrency": 3}), db)
    lock = threading.Lock()
    inside = peak = 0

    def touch(session: DbSession) -> Session:
        session.execute(text("SELECT 1"))  # the connection is now checked out
        return session

    @app.get("/burst")
    async def burst(session=Depends(touch)) -> dict[str, int]:
        def work() -> int:
            nonlocal inside, peak
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.005)
            value = int(session.execute(text("SELECT 2")).scalar_one())
            with lock:
                inside -= 1
            return value

        return {"value": await run_in_threadpool(work)}

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            replies = await asyncio.gather(*(client.get("/burst") for _ in range(120)))
        return [r.status_code for r in replies]

    assert app.state.db_gate.size == 3
    assert asyncio.run(main()) == [200] * 120
    assert 1 <= peak <= 3


@pytest.mark.parametrize("wanted", [1, 10_000])
def test_the_gate_is_never_wider_than_the_pool(settings, db, wanted: int) -> None:
    from zhili.web.app import _gate_size

    size = _gate_size(settings.model_copy(update={"db_concurrency": wanted}), db)
    pool = db.engine.pool.size() if hasattr(db.engine.pool, "size") else wanted
    assert size == min(wanted, pool) and size >= 1
