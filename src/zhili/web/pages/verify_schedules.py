"""The 定期核验 page: the organization's verification schedules — what each reruns, when
(every …, on a new version), its state, last run and next due time — with the form that
schedules a job's reruns, and pause, resume and remove.

Same services as ``web/api/verify_schedules.py``; a refused form is shown again as typed,
with the error's message and status.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from zhili.access import Actor, can
from zhili.apps.verify import jobs as job_service
from zhili.apps.verify import schedules as service
from zhili.apps.verify.models import VerificationJob
from zhili.errors import ZhiliError
from zhili.web.deps import CurrentActor, DbSession, Locale, authorize
from zhili.web.pages.exchange import local
from zhili.web.pages.verify import names_of
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
READ = [Depends(authorize("verify.read"))]
RUN = [Depends(authorize("verify.run"))]
#: Jobs offered in the form (newest first).
MAX_JOBS = 100


def schedulable(session: Session, actor: Actor) -> list[VerificationJob]:
    """The actor's organization's jobs on a roster resource: what can be scheduled."""
    if not can(actor, "verify.run"):
        return []
    found = job_service.list_jobs(session, actor, limit=MAX_JOBS)
    return [j for j in found if j.org_id == actor.org_id and j.roster_code is not None]


def every_parts(seconds: int | None) -> tuple[str, str] | None:
    """(number, unit) of an interval for the page's ``verify.sched.every.<unit>``."""
    text = service.format_every(seconds)
    return (text[:-1], text[-1]) if text else None


#: The form as first shown: a daily run that also follows new versions.
BLANK = {"job_id": None, "name": "", "every": "1d", "on_new_version": True}


def _page(
    request: Request,
    session: Session,
    actor: Actor,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    found = service.list_schedules(session, actor)
    jobs = schedulable(session, actor)
    codes = {c for s in found for c in s.inputs}
    codes |= {c for j in jobs for c in [j.roster_code, *j.reference_codes] if c}
    return render(
        request,
        "verify_schedules.html",
        {
            "schedules": found,
            "jobs": jobs,
            "names": names_of(session, sorted(codes)),
            "state_of": service.state_of,
            "every_parts": every_parts,
            "local": local,
            "may_manage": lambda s: can(actor, "verify.run", s),
            "form": form or BLANK,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/verify/schedules", dependencies=READ)
def schedules_page(
    request: Request, actor: CurrentActor, session: DbSession, job: int | None = None
) -> Response:
    """The schedules; ``?job=N`` preselects job N in the form."""
    return _page(request, session, actor, form={**BLANK, "job_id": job})


@router.post("/verify/schedules", dependencies=RUN)
def create(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    job_id: Annotated[int, Form()],
    name: Annotated[str, Form(max_length=service.MAX_NAME)] = "",
    every: Annotated[str, Form(max_length=20)] = "",
    on_new_version: Annotated[bool, Form()] = False,
) -> Response:
    spec = service.ScheduleSpec(
        job_id=job_id, name=name, every=every or None, on_new_version=on_new_version
    )
    try:
        service.create_schedule(session, actor, spec)
    except ZhiliError as exc:
        session.rollback()
        form = {"job_id": job_id, "name": name, "every": every, "on_new_version": on_new_version}
        return _page(
            request, session, actor, form=form, error=exc.message(locale), status_code=exc.status
        )
    session.commit()
    return RedirectResponse("/verify/schedules", status_code=303)


def _act(
    request: Request, session: Session, actor: Actor, locale: str, action: Any, schedule_id: int
) -> Response:
    try:
        action(session, actor, schedule_id)
    except ZhiliError as exc:
        session.rollback()
        return _page(request, session, actor, error=exc.message(locale), status_code=exc.status)
    session.commit()
    return RedirectResponse("/verify/schedules", status_code=303)


@router.post("/verify/schedules/{schedule_id}/pause", dependencies=RUN)
def pause(
    request: Request, schedule_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> Response:
    return _act(request, session, actor, locale, service.pause_schedule, schedule_id)


@router.post("/verify/schedules/{schedule_id}/resume", dependencies=RUN)
def resume(
    request: Request, schedule_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> Response:
    return _act(request, session, actor, locale, service.resume_schedule, schedule_id)


@router.post("/verify/schedules/{schedule_id}/remove", dependencies=RUN)
def remove(
    request: Request, schedule_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> Response:
    return _act(request, session, actor, locale, service.remove_schedule, schedule_id)
