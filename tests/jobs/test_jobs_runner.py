"""The DB-backed job queue: each job runs once even with several runners, failures are
recorded as problems, and jobs orphaned by a dead process are failed on the next start."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import update

from zhili.errors import InvalidInput
from zhili.identity.auth import actor_for
from zhili.identity.models import User
from zhili.jobs import Job, JobContext, JobRunner, register
from zhili.jobs.models import JobStatus
from zhili.jobs.runner import render_problem
from zhili.jobs.service import create_job

RUNS: list[str] = []
LOCK = threading.Lock()


@register("test.count")
def _count(ctx: JobContext) -> dict:
    for i in range(3):
        ctx.progress(i + 1, 3, "counting")
    with LOCK:
        RUNS.append(ctx.job_id)
    return {"by": ctx.actor.username}


@register("test.refuse")
def _refuse(ctx: JobContext) -> dict:
    raise InvalidInput("catalog.bad_mode", "mode", field="mode", valid="append", value="x")


@register("test.crash")
def _crash(ctx: JobContext) -> dict:
    raise RuntimeError("boom")


def _queue(world, kind: str, n: int = 1, username: str = "steward") -> list[str]:
    with world.db.session() as s:
        user = s.query(User).filter_by(username=username).one()
        actor = actor_for(user)
        return [create_job(s, actor, kind, subject="x", params={}).id for _ in range(n)]


def _runner(world, tmp_path, workers: int = 2) -> JobRunner:
    return JobRunner(world.db, tmp_path, "k", workers=workers, poll_seconds=0.05)


def test_each_job_runs_once_across_runners(world, tmp_path) -> None:
    world.user("steward", "PSB", "data_steward")
    RUNS.clear()
    ids = _queue(world, "test.count", 12)
    runners = [_runner(world, tmp_path) for _ in range(3)]
    for r in runners:
        r.start()
    try:
        finished = [runners[0].wait(i, timeout=30) for i in ids]
    finally:
        for r in runners:
            r.stop()
    assert sorted(RUNS) == sorted(ids)  # exactly once each
    assert {j.status for j in finished} == {JobStatus.succeeded}
    assert all(j.result == {"by": "steward"} and j.done == 3 for j in finished)


def test_failures_become_problems(world, tmp_path) -> None:
    world.user("steward", "PSB", "data_steward")
    refused, crashed = _queue(world, "test.refuse")[0], _queue(world, "test.crash")[0]
    runner = _runner(world, tmp_path)
    runner.start()
    try:
        a, b = runner.wait(refused), runner.wait(crashed)
    finally:
        runner.stop()
    assert a.status == b.status == JobStatus.failed
    assert a.problem["code"] == "catalog.bad_mode" and a.problem["params"]["field"] == "mode"
    assert "x" in render_problem(a.problem, "en")
    assert b.problem["code"] == "jobs.crashed" and "boom" not in str(b.problem)


def test_inactive_owner_and_stale_jobs(world, tmp_path) -> None:
    world.user("steward", "PSB", "data_steward")
    world.user("leaver", "PSB", "data_steward")
    orphan = _queue(world, "test.count")[0]
    queued = _queue(world, "test.count", username="leaver")[0]
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    with world.db.session() as s:
        s.execute(update(Job).where(Job.id == orphan).values(status="running", heartbeat_at=old))
        s.query(User).filter_by(username="leaver").update({"is_active": False})
    runner = _runner(world, tmp_path)
    runner.start()
    try:
        stale, inactive = runner.wait(orphan), runner.wait(queued)
    finally:
        runner.stop()
    assert stale.status == JobStatus.failed and stale.problem["code"] == "jobs.interrupted"
    assert inactive.problem["code"] == "jobs.owner_inactive"
