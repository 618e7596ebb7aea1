"""Scheduled verification (定期核验) over HTTP: schedule reruns of a job, list and follow
them, pause, resume, remove. Thin: each route calls one service of
``zhili.apps.verify.schedules``, which checks who may see or change what."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from zhili.access import Actor, can
from zhili.apps.verify import schedules as service
from zhili.apps.verify.schedule_models import VerificationSchedule
from zhili.jobs.runner import render_problem
from zhili.web.deps import CurrentActor, DbSession, Locale, authorize

router = APIRouter(prefix="/api/v1/verify/schedules", tags=["verify"])
READ = [Depends(authorize("verify.read"))]
RUN = [Depends(authorize("verify.run"))]


class ScheduleBody(BaseModel):
    """A schedule of job ``job_id``'s reruns: every ``every`` (``12h``, ``1d``, ``2w``)
    and/or whenever its roster or a reference gets a new version (``on_new_version``)."""

    job_id: int
    name: str = Field(default="", max_length=service.MAX_NAME)
    every: str | None = Field(default=None, max_length=20)
    on_new_version: bool = False

    def spec(self) -> service.ScheduleSpec:
        return service.ScheduleSpec(
            job_id=self.job_id,
            name=self.name,
            every=self.every,
            on_new_version=self.on_new_version,
        )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def schedule_out(
    schedule: VerificationSchedule, actor: Actor, locale: str | None = None
) -> dict[str, Any]:
    error = None
    if schedule.last_error is not None:
        error = {
            "code": schedule.last_error.get("code"),
            "detail": render_problem(schedule.last_error, locale),
            **schedule.last_error.get("params", {}),
        }
    last = schedule.last_job
    return {
        "id": schedule.id,
        "name": schedule.name,
        "state": service.state_of(schedule),
        "org": {"code": schedule.org.code, "name": schedule.org.name},
        "created_by": schedule.created_by,
        "source_job": schedule.source_job_id,
        "mode": schedule.mode,
        "roster": schedule.roster_code,
        "references": list(schedule.reference_codes),
        "rules": schedule.rules_name or None,
        "money_column": schedule.money_column,
        "scenario": schedule.scenario,
        "every": service.format_every(schedule.every_seconds),
        "every_seconds": schedule.every_seconds,
        "on_new_version": schedule.on_new_version,
        "active": schedule.active,
        "next_due_at": _iso(schedule.next_due_at),
        "due_reason": schedule.due_reason,
        "last_job": None
        if last is None
        else {"id": last.id, "state": last.state, "url": f"/api/v1/verify/jobs/{last.id}"},
        "last_run_at": _iso(schedule.last_run_at),
        "last_error": error,
        "created_at": _iso(schedule.created_at),
        "updated_at": _iso(schedule.updated_at),
        "removed_at": _iso(schedule.removed_at),
        "can_manage": schedule.removed_at is None and can(actor, "verify.run", schedule),
    }


@router.get("", dependencies=READ)
def list_schedules(
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    include_removed: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> dict[str, Any]:
    """Schedules of the caller's organization (subtree; platform admins: all), newest
    first; removed ones with ``include_removed``."""
    found = service.list_schedules(session, actor, include_removed=include_removed, limit=limit)
    return {"items": [schedule_out(s, actor, locale) for s in found]}


@router.post("", dependencies=RUN, status_code=201)
def create(
    body: ScheduleBody, request: Request, actor: CurrentActor, session: DbSession, locale: Locale
) -> JSONResponse:
    """Schedule reruns of a job of the caller's organization (on a roster resource): 201
    with the schedule and its ``Location``. Runs are made as the caller."""
    schedule = service.create_schedule(session, actor, body.spec())
    session.commit()
    location = str(request.url_for("verify_schedule", schedule_id=schedule.id).path)
    return JSONResponse(
        schedule_out(schedule, actor, locale), status_code=201, headers={"Location": location}
    )


@router.get("/{schedule_id}", dependencies=READ, name="verify_schedule")
def get_schedule(
    schedule_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> dict[str, Any]:
    """One schedule: ``state`` (waiting, due, running, failed, paused, removed), when it is
    due next and why, its last job and the last start's ``last_error``."""
    return schedule_out(service.get_schedule(session, actor, schedule_id), actor, locale)


@router.delete("/{schedule_id}", dependencies=RUN)
def remove(
    schedule_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> dict[str, Any]:
    """Stop the schedule for good (kept as history; its jobs stay)."""
    schedule = service.remove_schedule(session, actor, schedule_id)
    session.commit()
    return schedule_out(schedule, actor, locale)


@router.post("/{schedule_id}/pause", dependencies=RUN)
def pause(
    schedule_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> dict[str, Any]:
    """Start no runs until resumed."""
    schedule = service.pause_schedule(session, actor, schedule_id)
    session.commit()
    return schedule_out(schedule, actor, locale)


@router.post("/{schedule_id}/resume", dependencies=RUN)
def resume(
    schedule_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> dict[str, Any]:
    """Start runs again (one at the next sweep if it fell due while paused)."""
    schedule = service.resume_schedule(session, actor, schedule_id)
    session.commit()
    return schedule_out(schedule, actor, locale)
