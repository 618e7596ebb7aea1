"""Background jobs over HTTP: follow a job's progress and read its result or problem."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from zhili.jobs import Job, get_job, list_jobs
from zhili.jobs.runner import render_problem
from zhili.web.deps import CurrentActor, DbSession, Locale, SettingsDep, authorize

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
READ = [Depends(authorize("job.read"))]


def job_out(job: Job, locale: str | None = None) -> dict[str, Any]:
    params = {k: v for k, v in job.params.items() if k not in ("url", "drivers")}
    out: dict[str, Any] = {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "subject": job.subject,
        "params": params,
        "phase": job.phase,
        "done": job.done,
        "total": job.total,
        "unit": job.unit,
        "percent": job.percent,
        "result": job.result,
        "problem": None,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    if job.problem is not None:
        out["problem"] = {
            "code": job.problem["code"],
            "status": job.problem.get("status", 500),
            "detail": render_problem(job.problem, locale),
            **{k: v for k, v in job.problem.get("params", {}).items() if k != "code"},
        }
    return out


def job_location(request: Request, job: Job) -> str:
    return str(request.url_for("job", job_id=job.id).path)


@router.get("", dependencies=READ)
def jobs(
    actor: CurrentActor, session: DbSession, locale: Locale, subject: str | None = None
) -> dict[str, Any]:
    """The caller's recent jobs (platform admins: everyone's), newest first."""
    return {"items": [job_out(j, locale) for j in list_jobs(session, actor, subject=subject)]}


@router.get("/{job_id}", dependencies=READ, name="job")
def job(job_id: str, actor: CurrentActor, session: DbSession, locale: Locale) -> dict[str, Any]:
    """One job: ``status`` queued → running → succeeded | failed, progress in ``done`` of
    ``total`` ``unit`` (total may be an estimate or null), and the ``result`` (the new
    version) or the ``problem`` (with the validation report when rows were bad)."""
    return job_out(get_job(session, actor, job_id), locale)


@router.get("/{job_id}/file", dependencies=READ, response_class=FileResponse)
def job_file(
    job_id: str, actor: CurrentActor, session: DbSession, settings: SettingsDep
) -> FileResponse:
    """A finished export's file. Range requests are honoured, so an interrupted download
    resumes (``Range: bytes=N-``); ``X-Checksum-SHA256`` lets the receiver verify it."""
    from zhili.exchange.export_jobs import export_file

    job = get_job(session, actor, job_id)
    path = export_file(settings.home, job)
    assert job.result is not None
    return FileResponse(
        path, filename=path.name, headers={"X-Checksum-SHA256": job.result["sha256"]}
    )
