"""Verification (比对核验) over HTTP: start a job, follow it, cancel it, work its review
queue. Thin: each route validates its body and calls one service of
``zhili.apps.verify``; the services check who may see or decide what. The result is an
ordinary catalog resource, downloaded through the catalog's export (the one door)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from zhili.access import Actor, can
from zhili.apps.verify import jobs as service
from zhili.apps.verify import review
from zhili.apps.verify.models import ItemState, JobState, Mode, ReviewItem, VerificationJob
from zhili.apps.verify.rules import builtin_rule_sets, load_rules
from zhili.jobs.runner import render_problem
from zhili.web.api.catalog import spooled
from zhili.web.deps import CurrentActor, DbSession, Locale, SettingsDep, authorize

router = APIRouter(prefix="/api/v1/verify", tags=["verify"])
READ = [Depends(authorize("verify.read"))]
RUN = [Depends(authorize("verify.run"))]
REVIEW = [Depends(authorize("verify.review"))]


# --- bodies ---------------------------------------------------------------------------


class JobBody(BaseModel):
    """A new job. ``rules`` is a shipped rule set's name (``person_zh``) or the rule set's
    YAML/JSON text; ``money_column`` (a numeric roster column, e.g. ``monthly_pension``) is
    totalled over the roster records matched automatically."""

    roster: str = Field(max_length=40)
    references: list[str] = Field(default_factory=list, max_length=20)
    rules: str = Field(default="person_zh", max_length=service.MAX_RULES_CHARS)
    mode: Mode = Mode.link
    money_column: str | None = Field(default=None, max_length=64)

    def spec(self) -> service.JobSpec:
        return service.JobSpec(
            roster=self.roster,
            references=tuple(self.references),
            rules=self.rules,
            mode=self.mode,
            money_column=self.money_column,
        )


class DecisionBody(BaseModel):
    """``confirm`` (the same person) or ``reject`` (not; ``reason`` required). ``action``
    (with confirm) asks for ``stop_payment``, ``cancel_card`` or ``recover_payment``;
    it is approved when two different reviewers of the job's organization ask for it."""

    decision: Literal["confirm", "reject"]
    action: str | None = Field(default=None, max_length=32)
    reason: str = Field(default="", max_length=2000)


class BulkBody(DecisionBody):
    """The same decision on many review items of one job (at most
    ``review.MAX_BULK``); items this reviewer may not decide are passed over, each with
    the code of its refusal."""

    items: list[int] = Field(min_length=1, max_length=review.MAX_BULK)


# --- shapes ---------------------------------------------------------------------------


def result_url(job: VerificationJob) -> str | None:
    """The result version's download through the catalog's export (the one door)."""
    if job.result_code is None or job.result_version is None:
        return None
    return f"/api/v1/catalog/{job.result_code}/export?format=csv&version={job.result_version}"


def job_out(
    job: VerificationJob, actor: Actor, session: Session, locale: str | None = None
) -> dict[str, Any]:
    error = None
    if job.error is not None:
        error = {
            "code": job.error.get("code"),
            "detail": render_problem(job.error, locale),
            **job.error.get("params", {}),
        }
    return {
        "id": job.id,
        "state": job.state,
        "mode": job.mode,
        "org": {"code": job.org.code, "name": job.org.name},
        "created_by": job.created_by,
        "roster": job.roster_code,
        "roster_file": job.roster_file,
        "references": list(job.reference_codes),
        "rules": job.rules_name or None,
        "money_column": job.money_column,
        # a scenario job's template and slots (reference code → slot); its summary has
        # ``outcomes`` (people and money per outcome) and ``awaiting_review``
        "scenario": job.scenario,
        "slots": job.slots,
        "progress": service.progress_of(session, job),
        "result": None
        if job.result_code is None
        else {"code": job.result_code, "version": job.result_version, "url": result_url(job)},
        "summary": job.summary,
        "error": error,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "can_cancel": job.state in (JobState.queued, JobState.running)
        and can(actor, "verify.run", job),
    }


def item_out(item: ReviewItem, actor: Actor, session: Session | None = None) -> dict[str, Any]:
    """An item; with ``session`` also both records side by side and the decisions."""
    out: dict[str, Any] = {
        "id": item.id,
        "job_id": item.job_id,
        "reference": item.reference_code,
        "left_id": item.left_id,
        "right_id": item.right_id,
        "tier": item.tier,
        "match_probability": item.match_probability,
        "state": item.state,
        "action": item.action,
        "outcome": item.evidence.get("outcome"),
        "suggested_action": item.evidence.get("suggested_action"),
        "can_decide": review.may_decide(actor, item),
    }
    if session is not None:
        out["pass"] = item.evidence.get("pass")
        out["records"] = {"left": item.evidence.get("left"), "right": item.evidence.get("right")}
        out["match_weight"] = item.evidence.get("match_weight")
        out["side_by_side"] = [
            {"name": r.name, "left": r.left, "right": r.right, "label": r.label,
             "bayes_factor": r.bayes_factor}
            for r in review.side_by_side(item)
        ]  # fmt: skip
        out["decisions"] = [
            {"reviewer": d.reviewer, "decision": d.decision, "action": d.action,
             "reason": d.reason, "at": d.decided_at.isoformat()}
            for d in review.decisions_of(session, item)
        ]  # fmt: skip
    return out


# --- jobs -------------------------------------------------------------------------------


@router.get("/rulesets", dependencies=READ)
def rulesets() -> dict[str, Any]:
    """The rule sets shipped with zhili, by name (give the name as ``rules``)."""
    items = []
    for name in sorted(builtin_rule_sets()):
        rules = load_rules(name)
        items.append({"name": name, "description": rules.description})
    return {"items": items}


@router.post("/jobs", dependencies=RUN, status_code=202)
def create(
    body: JobBody,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
) -> JSONResponse:
    """Check the inputs (each bad input with its own code, nothing queued) and queue the
    job: 202 with the job and its ``Location``; follow it there."""
    job = service.create_job(session, actor, body.spec(), home=settings.home)
    return accepted(request, actor, session, job, locale)


@router.post("/jobs/upload", dependencies=RUN, status_code=202)
def create_from_file(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    file: Annotated[UploadFile, File(description="the roster: CSV, JSON, Parquet, XLSX")],
    references: Annotated[list[str] | None, Form()] = None,
    rules: Annotated[str, Form(max_length=service.MAX_RULES_CHARS)] = "person_zh",
    mode: Annotated[Mode, Form()] = Mode.link,
    money_column: Annotated[str | None, Form(max_length=64)] = None,
) -> JSONResponse:
    """The same with an uploaded roster (multipart form; ``references`` repeated), kept
    under ``ZHILI_HOME/verify/<id>/`` for the job."""
    with spooled(file) as path:
        spec = service.JobSpec(
            references=tuple(references or ()),
            rules=rules,
            mode=mode,
            money_column=money_column,
            roster_file=path,
            roster_filename=file.filename or path.name,
        )
        job = service.create_job(session, actor, spec, home=settings.home)
    return accepted(request, actor, session, job, locale)


def accepted(
    request: Request, actor: Actor, session: Session, job: VerificationJob, locale: str
) -> JSONResponse:
    """Commit a queued job, wake the runner, answer 202 with the job and its Location."""
    session.commit()
    runner = getattr(request.app.state, "jobs", None)
    if runner is not None:
        runner.wake()
    location = str(request.url_for("verify_job", verification_id=job.id).path)
    return JSONResponse(
        job_out(job, actor, session, locale), status_code=202, headers={"Location": location}
    )


@router.get("/jobs", dependencies=READ)
def list_jobs(
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Jobs of the caller's organization (subtree; platform admins: all), newest first."""
    found = service.list_jobs(session, actor, state=state, limit=limit)
    return {"items": [job_out(j, actor, session, locale) for j in found]}


@router.get("/jobs/{verification_id}", dependencies=READ, name="verify_job")
def get_job(
    verification_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> dict[str, Any]:
    """One job: ``state`` queued → running → done | failed | cancelled, ``progress``
    (steps done of total, the current step), the ``summary`` and the ``result`` (its
    resource, version and download URL), or the ``error``."""
    return job_out(service.get_job(session, actor, verification_id), actor, session, locale)


@router.post("/jobs/{verification_id}/cancel", dependencies=RUN)
def cancel(
    verification_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> dict[str, Any]:
    """Cancel a queued or running job (409 ``verify.bad_state`` once it has ended)."""
    job = service.cancel_job(session, actor, verification_id)
    session.commit()
    return job_out(job, actor, session, locale)


# --- the review queue -------------------------------------------------------------------


@router.get("/jobs/{verification_id}/items", dependencies=READ)
def items(
    verification_id: int,
    actor: CurrentActor,
    session: DbSession,
    state: ItemState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """The job's review items, most probable first (``state`` filters)."""
    found = review.queue(session, actor, verification_id, state=state, limit=limit, offset=offset)
    return {"items": [item_out(i, actor) for i in found]}


@router.get("/items/{item_id}", dependencies=READ)
def item(item_id: int, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    """One item: both records side by side with the evidence, and the decisions so far."""
    return item_out(review.get_item(session, actor, item_id), actor, session)


@router.post("/items/{item_id}/decisions", dependencies=REVIEW, status_code=201)
def decide(
    item_id: int, body: DecisionBody, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """Record the caller's decision (one per reviewer; audited as ``verify.decide``)."""
    found = review.decide(
        session, actor, item_id, body.decision, action=body.action, reason=body.reason
    )
    session.commit()
    return item_out(found, actor, session)


@router.post("/jobs/{verification_id}/decisions", dependencies=REVIEW)
def decide_many(
    verification_id: int, body: BulkBody, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """Record the caller's decision on each of ``items`` (each audited as
    ``verify.decide``): which were decided, which passed over and why."""
    done = review.decide_many(
        session, actor, verification_id, body.items, body.decision,
        action=body.action, reason=body.reason,
    )  # fmt: skip
    session.commit()
    return {"decided": done.decided, "skipped": {str(k): v for k, v in done.skipped.items()}}
