"""The admission gate in front of the metadata database: at most ``size`` requests of
one process hold a session at a time; the rest wait here, holding neither a thread nor
a connection.

Without it, a burst of requests deadlocks the process for the pool's timeout: sync
dependencies (the actor's token lookup) run in the thread pool and check a connection
out, and the endpoint's own thread-pool hop then waits for a thread that every other
request holds while it waits for a connection. With the gate no wider than the pool, a
request inside it always finds both. One gate per event loop (uvicorn has one; each test
client portal its own), because asyncio primitives belong to the loop they wait on.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

from sqlalchemy.exc import TimeoutError as PoolTimeout


class DatabaseGate:
    """A per-loop semaphore with a deadline: waiting longer than ``timeout`` seconds
    answers like an exhausted pool (503 ``db.busy`` with Retry-After)."""

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.timeout = timeout
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._gates = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.size)
        return gate

    @contextlib.asynccontextmanager
    async def enter(self) -> AsyncIterator[None]:
        gate = self._semaphore()
        try:
            await asyncio.wait_for(gate.acquire(), self.timeout)
        except TimeoutError:
            raise PoolTimeout(f"waited {self.timeout:g} s for one of {self.size} slots") from None
        try:
            yield
        finally:
            gate.release()
