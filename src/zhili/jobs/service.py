"""Reading and writing job rows; who may see a job (its owner, and platform admins)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhili.access import Actor, Role
from zhili.clock import utcnow
from zhili.errors import NotFound
from zhili.jobs.models import Job, JobStatus


def _visible(actor: Actor, job: Job) -> bool:
    return job.user_id == actor.user_id or Role.platform_admin in actor.roles


def get_job(session: Session, actor: Actor, job_id: str) -> Job:
    """The job, if ``actor`` may see it (404 otherwise, so ids are not probed)."""
    job = session.get(Job, job_id)
    if job is None or not _visible(actor, job):
        raise NotFound("jobs.not_found", "no job {id}", id=job_id)
    return job


def list_jobs(
    session: Session, actor: Actor, *, subject: str | None = None, limit: int = 20
) -> list[Job]:
    stmt = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if Role.platform_admin not in actor.roles:
        stmt = stmt.where(Job.user_id == actor.user_id)
    if subject is not None:
        stmt = stmt.where(Job.subject == subject)
    return list(session.scalars(stmt))


def create_job(
    session: Session,
    actor: Actor,
    kind: str,
    *,
    subject: str | None,
    params: dict[str, Any],
    unit: str = "rows",
) -> Job:
    assert actor.user_id is not None and actor.org_id is not None
    job = Job(
        kind=kind,
        user_id=actor.user_id,
        org_id=actor.org_id,
        subject=subject,
        params=params,
        unit=unit,
        status=JobStatus.queued,
    )
    session.add(job)
    session.flush()
    return job


def claim(session: Session, job_id: str) -> bool:
    """Move a queued job to running; False when another worker took it first."""
    now = utcnow()
    moved = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.queued)
        .values(
            status=JobStatus.running, started_at=now, heartbeat_at=now, attempts=Job.attempts + 1
        )
    ).rowcount
    return bool(moved)


def report_progress(
    session: Session, job_id: str, *, done: int, total: int | None, phase: str | None
) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(done=done, total=total, phase=phase, heartbeat_at=utcnow())
    )


def finish(
    session: Session,
    job_id: str,
    *,
    result: dict[str, Any] | None = None,
    problem: dict[str, Any] | None = None,
    done: int = 0,
) -> None:
    """End the job; on success the (estimated) total becomes what was actually done."""
    values: dict[str, Any] = {
        "result": result,
        "problem": problem,
        "finished_at": utcnow(),
        "phase": None,
        "done": done,
    }
    if problem is None:
        values.update(status=JobStatus.succeeded, total=done)
    else:
        values["status"] = JobStatus.failed
    session.execute(update(Job).where(Job.id == job_id).values(**values))
