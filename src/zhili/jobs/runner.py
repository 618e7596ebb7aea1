"""Running jobs: a DB-backed queue any number of worker processes can share.

Submitting a job inserts a ``queued`` row; each :class:`JobRunner` (one per web worker, or
``zhili worker``) polls for queued jobs of the kinds it knows, claims one with a guarded
``UPDATE … WHERE status = 'queued'`` (only one claimer wins), and runs its handler in a
thread pool. Progress and a heartbeat are written to the row, so the page that started
the job — served by any worker — can follow it. A running job whose heartbeat stops (its
process died) is marked failed by the next runner to start; every handler's effect is a
single atomic commit at its end, so a failed job changed nothing and can be retried.

Handlers get a :class:`JobContext` and return a JSON-able result; a :class:`ZhiliError`
becomes the job's problem (code and parameters, rendered in the reader's language later).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from zhili.access import Actor
from zhili.clock import utcnow
from zhili.db import Database
from zhili.errors import ZhiliError
from zhili.jobs import service
from zhili.jobs.models import Job, JobStatus

log = logging.getLogger("zhili.jobs")

#: How often a running job's heartbeat is refreshed, and when a silent one counts as dead.
HEARTBEAT = dt.timedelta(seconds=20)
STALE_AFTER = dt.timedelta(minutes=2)
#: Progress is written at most this often (seconds) so a fast loop does not hammer the DB.
PROGRESS_EVERY = 0.5


@dataclass
class JobContext:
    """What a handler sees: its parameters, the actor it runs as, and a progress sink."""

    job_id: str
    params: dict[str, Any]
    actor: Actor
    db: Database
    home: Path
    secret_key: str
    done: int = 0
    #: also told of every progress report (a command line's progress bar)
    on_progress: Callable[[int, int | None, str | None], None] | None = None
    _last: float = field(default=0.0, repr=False)

    def progress(self, done: int, total: int | None = None, phase: str | None = None) -> None:
        """Record progress (throttled); ``total`` may be an estimate."""
        self.done = done
        if self.on_progress is not None:
            self.on_progress(done, total, phase)
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY and phase is None:
            return
        self._last = now
        with self.db.session() as session:
            service.report_progress(session, self.job_id, done=done, total=total, phase=phase)


Handler = Callable[[JobContext], dict[str, Any]]
_HANDLERS: dict[str, Handler] = {}
#: Housekeeping run by every runner's loop: name → (seconds between runs, fn(session)).
_PERIODIC: dict[str, tuple[float, Callable[[Any], object]]] = {}


def periodic(name: str, every_seconds: float) -> Callable[[Callable[[Any], object]], Any]:
    """Declare housekeeping (e.g. escalating overdue requests) the runners repeat; it must
    be idempotent, since every server process runs it."""

    def decorate(fn: Callable[[Any], object]) -> Callable[[Any], object]:
        _PERIODIC[name] = (every_seconds, fn)
        return fn

    return decorate


def register(kind: str) -> Callable[[Handler], Handler]:
    """Declare the handler of one job kind (at import time of the owning module)."""

    def decorate(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return decorate


def problem_of(exc: BaseException) -> dict[str, Any]:
    """A job's stored problem: enough to render the error later in any language."""
    if isinstance(exc, ZhiliError):
        params = {k: v for k, v in exc.params.items() if _jsonable(v)}
        return {"code": exc.code, "status": exc.status, "fallback": exc.fallback, "params": params}
    return {"code": "jobs.crashed", "status": 500, "fallback": "the job failed", "params": {}}


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict | type(None))


def render_problem(problem: dict[str, Any], locale: str | None) -> str:
    error = ZhiliError(problem["code"], problem.get("fallback"), **problem.get("params", {}))
    return error.message(locale)


class JobRunner:
    """Claims and runs queued jobs in ``workers`` threads of this process."""

    def __init__(
        self,
        db: Database,
        home: Path,
        secret_key: str,
        *,
        workers: int = 1,
        poll_seconds: float = 1.0,
        actor_of: Callable[[Any, int], Actor] | None = None,
    ) -> None:
        self.db, self.home, self.secret_key = db, home, secret_key
        self.workers, self.poll_seconds = workers, poll_seconds
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="zhili-job")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._actor_of = actor_of or _user_actor

    def start(self) -> None:
        with self.db.session() as session:
            failed = self.fail_stale(session)
        if failed:
            log.warning("marked %d interrupted job(s) failed", failed)
        self._thread = threading.Thread(target=self._loop, name="zhili-jobs", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def wake(self) -> None:
        """Look for queued jobs now rather than at the next poll."""
        self._wake.set()

    @staticmethod
    def fail_stale(session: Any) -> int:
        cutoff = utcnow() - STALE_AFTER
        problem = {"code": "jobs.interrupted", "status": 500, "fallback": "interrupted"}
        return session.execute(
            update(Job)
            .where(Job.status == JobStatus.running, Job.heartbeat_at < cutoff)
            .values(status=JobStatus.failed, problem=problem, finished_at=utcnow())
        ).rowcount

    def _loop(self) -> None:
        last_beat = 0.0
        last_run: dict[str, float] = {}
        while not self._stop.is_set():
            try:
                self._claim_free_slots()
                if time.monotonic() - last_beat > HEARTBEAT.total_seconds():
                    last_beat = time.monotonic()
                    self._beat()
                self._housekeeping(last_run)
            except Exception:  # the loop must survive a DB hiccup
                log.exception("job dispatcher")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _claim_free_slots(self) -> None:
        while len(self._running) < self.workers and not self._stop.is_set():
            with self.db.session() as session:
                candidates = session.scalars(
                    select(Job.id)
                    .where(Job.status == JobStatus.queued, Job.kind.in_(list(_HANDLERS)))
                    .order_by(Job.created_at)
                    .limit(self.workers)
                ).all()
                claimed = next((j for j in candidates if service.claim(session, j)), None)
            if claimed is None:
                return
            with self._lock:
                self._running.add(claimed)
            self._pool.submit(self._run, claimed)

    def _housekeeping(self, last_run: dict[str, float]) -> None:
        for name, (every, fn) in _PERIODIC.items():
            if time.monotonic() - last_run.get(name, -1e9) < every:
                continue
            last_run[name] = time.monotonic()
            with self.db.session() as session:
                fn(session)

    def _beat(self) -> None:
        with self._lock:
            ids = list(self._running)
        if ids:
            with self.db.session() as session:
                session.execute(update(Job).where(Job.id.in_(ids)).values(heartbeat_at=utcnow()))

    def _run(self, job_id: str) -> None:
        try:
            execute(self.db, self.home, self.secret_key, job_id, actor_of=self._actor_of)
        except Exception:
            log.exception("job %s could not be recorded", job_id)
        finally:
            with self._lock:
                self._running.discard(job_id)
            self._wake.set()

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Block until the job finishes (for the CLI and tests); the finished row."""
        deadline = time.monotonic() + timeout
        while True:
            with self.db.session() as session:
                job = session.get(Job, job_id)
                assert job is not None
                if job.finished or time.monotonic() > deadline:
                    session.expunge(job)
                    return job
            time.sleep(0.1)


def execute(
    db: Database,
    home: Path,
    secret_key: str,
    job_id: str,
    *,
    actor_of: Callable[[Any, int], Actor] | None = None,
    on_progress: Callable[[int, int | None, str | None], None] | None = None,
) -> None:
    """Run one claimed job's handler in this thread and record how it ended."""
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        kind, params, user_id = job.kind, dict(job.params), job.user_id
    ctx: JobContext | None = None
    try:
        with db.session() as session:
            actor = (actor_of or _user_actor)(session, user_id)
        ctx = JobContext(job_id, params, actor, db, home, secret_key, on_progress=on_progress)
        result = _HANDLERS[kind](ctx)
    except Exception as exc:
        if not isinstance(exc, ZhiliError):
            log.exception("job %s (%s) crashed", job_id, kind)
        with db.session() as session:
            service.finish(session, job_id, problem=problem_of(exc), done=ctx.done if ctx else 0)
        return
    with db.session() as session:
        service.finish(session, job_id, result=result, done=ctx.done)


def run_inline(
    db: Database,
    home: Path,
    secret_key: str,
    job_id: str,
    *,
    on_progress: Callable[[int, int | None, str | None], None] | None = None,
) -> Job:
    """Claim a queued job and run it here, now (a command line that shows its own
    progress, a test); the finished row. Refused (409) when a runner took it first."""
    with db.session() as session:
        claimed = service.claim(session, job_id)
    if not claimed:
        from zhili.errors import Conflict

        raise Conflict("jobs.not_queued", "job {id} is not queued", id=job_id)
    execute(db, home, secret_key, job_id, on_progress=on_progress)
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def _user_actor(session: Any, user_id: int) -> Actor:
    """The job's owner as they are now: a deactivated user's queued jobs do not run."""
    from zhili.identity.auth import actor_for
    from zhili.identity.models import User

    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise ZhiliError("jobs.owner_inactive", "the user who started the job is inactive")
    return actor_for(user)
