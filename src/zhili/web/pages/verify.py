"""Verification pages (比对核验): the organization's jobs, the form that starts one (a
roster resource or an uploaded file, references, a rule set), a job's page that follows its
progress and then shows the summary with charts and the result's download, and cancel.
The review queue and its items are in ``verify_review.py``, the scenario templates in
``verify_scenarios.py``.

Thin like the JSON API (``web/api/verify.py``): every form calls the same service of
``zhili.apps.verify``; a refused form is shown again as typed, the message next to the
field it names, with the error's status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from zhili.access import Actor, can
from zhili.apps.verify import jobs as service
from zhili.apps.verify import review
from zhili.apps.verify.models import OPEN_STATES, JobState, Mode, VerificationJob
from zhili.apps.verify.rules import builtin_rule_sets, load_rules
from zhili.catalog.models import OpenType, Resource
from zhili.errors import ZhiliError
from zhili.exchange import door
from zhili.exchange.models import Grant, RequestState
from zhili.identity.models import Organization
from zhili.jobs.runner import render_problem
from zhili.web.api.catalog import spooled
from zhili.web.api.verify import result_url
from zhili.web.deps import CurrentActor, DbSession, Locale, SettingsDep, authorize
from zhili.web.pages.exchange import local
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
READ = [Depends(authorize("verify.read"))]
RUN = [Depends(authorize("verify.run"))]

#: Most resources offered in the form's selects.
MAX_CHOICES = 300
#: The rule-set select's choice for a rule set pasted as text.
CUSTOM = "custom"
#: The form's fields, the names an error may point at.
FORM_FIELDS = ("roster", "file", "references", "rules", "mode", "money_column")
#: Roster files the page offers (the readers take more: TSV, JSON, XLSX).
ACCEPT = ".csv,.tsv,.txt,.parquet,.json,.jsonl,.xlsx"


def has_scenarios() -> bool:
    """Whether the scenario templates (``zhili.apps.verify.scenarios``) are installed."""
    try:
        from zhili.apps.verify import scenarios
    except ImportError:
        return False
    return hasattr(scenarios, "list_scenarios")


def scenario_titles(home: Path, locale: str) -> dict[str, str]:
    """The scenario templates' titles by name, in ``locale``."""
    if not has_scenarios():
        return {}
    from zhili.apps.verify import scenarios

    return {sc.name: sc.title.get(locale) for sc in scenarios.list_scenarios(home)}


def page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    return render(
        request,
        template,
        {"local": local, "has_scenarios": has_scenarios(), **context},
        status_code=status_code,
    )


def follow(request: Request, session: Session, job: VerificationJob) -> Response:
    """Commit the queued job, wake this process's runner and show the job's page."""
    session.commit()
    runner = getattr(request.app.state, "jobs", None)
    if runner is not None:
        runner.wake()
    return RedirectResponse(f"/verify/jobs/{job.id}", status_code=303)


# --- what the organization may read ---------------------------------------------------


def readable(session: Session, actor: Actor) -> list[Resource]:
    """Resources with data that ``actor`` could read now through the door: its own
    organization's (subtree), those granted to it, open ones — its own first."""
    if actor.org_id is None:
        return []
    granted = select(Grant.resource_id).where(
        Grant.consumer_org_id == actor.org_id, Grant.state == RequestState.active
    )
    stmt = (
        select(Resource)
        .join(Organization, Organization.id == Resource.provider_id)
        .where(Resource.current_version.is_not(None))
        .where(
            or_(
                Organization.path.startswith(actor.org_path or "/nowhere/"),
                Resource.id.in_(granted),
                Resource.open_type == OpenType.open,
            )
        )
        .order_by(Resource.code)
        .limit(MAX_CHOICES)
    )
    found = [r for r in session.scalars(stmt).unique() if door.may_read(session, actor, r)]
    return sorted(found, key=lambda r: (r.provider_id != actor.org_id, r.code))


def names_of(session: Session, codes: list[str]) -> dict[str, str]:
    """Catalog names of resource codes (metadata, visible to every user)."""
    if not codes:
        return {}
    rows = session.execute(select(Resource.code, Resource.name).where(Resource.code.in_(codes)))
    return {code: name for code, name in rows}


def rule_sets() -> list[dict[str, str]]:
    """The shipped rule sets: name and description."""
    return [
        {"name": name, "description": load_rules(name).description}
        for name in sorted(builtin_rule_sets())
    ]


def error_of(exc: ZhiliError, locale: str, form: dict[str, Any]) -> dict[str, Any]:
    """The message and the form field it is about (a parameter ``field`` that names one,
    else the side, rule set or resource the error names)."""
    return {"error": exc.message(locale), "error_field": field_of(exc, form)}


def field_of(exc: ZhiliError, form: dict[str, Any]) -> str | None:
    params = exc.params
    from_file = form.get("roster_source") == "file"
    if exc.code.startswith("verify.rules_") or exc.code == "verify.link_type_mismatch":
        return "rules"
    named = params.get("field")
    if named in FORM_FIELDS:
        return "file" if named == "roster" and from_file else str(named)
    side = params.get("side")
    if side == "roster":
        return "file" if from_file else "roster"
    if side == "reference":
        return "references"
    code = params.get("code")
    if code is not None and code == form.get("roster") and not from_file:
        return "roster"
    if code is not None and code in form.get("references", []):
        return "references"
    if exc.code in ("verify.unreadable_input", "lake.unknown_format"):
        return "file"
    return None


# --- the list -------------------------------------------------------------------------


@router.get("/verify", dependencies=READ)
def jobs_page(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    state: str = "",
) -> Response:
    """The organization's (subtree's) jobs, newest first."""
    states = [s.value for s in JobState]
    state = state if state in states else ""
    found = service.list_jobs(session, actor, state=state or None, limit=200)
    codes = {c for j in found for c in [j.roster_code, *j.reference_codes] if c}
    return page(
        request,
        "verify_jobs.html",
        {
            "jobs": found,
            "state": state,
            "states": states,
            "names": names_of(session, sorted(codes)),
            "scenario_titles": scenario_titles(settings.home, locale),
        },
    )


# --- a new job ------------------------------------------------------------------------


def _new_page(
    request: Request,
    session: Session,
    actor: Actor,
    form: dict[str, Any],
    status_code: int = 200,
    **extra: Any,
) -> Response:
    resources = readable(session, actor)
    money = sorted(
        {
            f["name"]
            for r in resources
            if r.provider_id == actor.org_id or r.code == form.get("roster")
            for f in r.table_schema.get("fields", [])
            if f.get("type") in ("number", "integer")
        }
    )
    return page(
        request,
        "verify_new.html",
        {
            "form": form,
            "resources": resources,
            "rule_sets": rule_sets(),
            "money_columns": money,
            "accept": ACCEPT,
            "custom": CUSTOM,
            "modes": [m.value for m in Mode],
            **extra,
        },
        status_code=status_code,
    )


def default_form() -> dict[str, Any]:
    return {
        "roster_source": "resource",
        "roster": "",
        "references": [],
        "rules": "person_zh",
        "rules_text": "",
        "mode": Mode.link.value,
        "money_column": "",
    }


@router.get("/verify/new", dependencies=RUN)
def new_page(request: Request, actor: CurrentActor, session: DbSession) -> Response:
    """The form that starts a job."""
    return _new_page(request, session, actor, default_form())


@router.post("/verify/new", dependencies=RUN)
def create(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    roster_source: Annotated[str, Form()] = "resource",
    roster: Annotated[str, Form(max_length=40)] = "",
    references: Annotated[list[str] | None, Form()] = None,
    rules: Annotated[str, Form(max_length=100)] = "person_zh",
    rules_text: Annotated[str, Form(max_length=service.MAX_RULES_CHARS)] = "",
    mode: Annotated[str, Form(max_length=16)] = Mode.link.value,
    money_column: Annotated[str, Form(max_length=64)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Queue the job and show its page; a refused form comes back as it was typed."""
    form = {
        "roster_source": "file" if roster_source == "file" else "resource",
        "roster": roster.strip(),
        "references": [c for c in (references or []) if c.strip()],
        "rules": rules,
        "rules_text": rules_text,
        "mode": mode,
        "money_column": money_column.strip(),
    }
    given = rules_text if rules == CUSTOM else rules
    try:
        if form["roster_source"] == "file":
            job = _create_from_file(session, actor, settings, form, given, file)
        else:
            spec = service.JobSpec(
                roster=form["roster"] or None,
                references=tuple(form["references"]),
                rules=given,
                mode=mode,
                money_column=form["money_column"] or None,
            )
            job = service.create_job(session, actor, spec, home=settings.home)
    except ZhiliError as exc:
        session.rollback()
        return _new_page(
            request, session, actor, form, status_code=exc.status, **error_of(exc, locale, form)
        )
    return follow(request, session, job)


def _create_from_file(
    session: Session,
    actor: Actor,
    settings: Any,
    form: dict[str, Any],
    rules: str,
    file: UploadFile | None,
) -> VerificationJob:
    spec = service.JobSpec(
        references=tuple(form["references"]),
        rules=rules,
        mode=form["mode"],
        money_column=form["money_column"] or None,
    )
    if file is None or not file.filename:
        # no file chosen: the service's own "give one roster" error, about the file
        return service.create_job(session, actor, spec, home=settings.home)
    with spooled(file) as path:
        spec = service.JobSpec(
            references=spec.references,
            rules=spec.rules,
            mode=spec.mode,
            money_column=spec.money_column,
            roster_file=path,
            roster_filename=file.filename,
        )
        return service.create_job(session, actor, spec, home=settings.home)


# --- one job --------------------------------------------------------------------------


def downloads(job: VerificationJob) -> dict[str, str]:
    """The result version as CSV and Parquet, through the catalog's export (the door)."""
    url = result_url(job)
    if url is None:
        return {}
    return {"csv": url, "parquet": url.replace("format=csv", "format=parquet")}


def _phase(phase: str | None) -> tuple[str, str | None]:
    """A runner phase ("2/3 predict") as (prefix, step key)."""
    if not phase:
        return "", None
    head, _, tail = phase.partition(" ")
    if "/" in head and tail:
        return head + " ", tail.replace(" ", "_")
    return "", phase.replace(" ", "_")


def _progress(session: Session, job: VerificationJob, locale: str) -> dict[str, Any]:
    progress = service.progress_of(session, job) or {}
    prefix, step = _phase(progress.get("phase"))
    return {
        "progress": progress,
        "phase_prefix": prefix,
        "phase": step,
        "open": job.state in OPEN_STATES,
        "job_error": render_problem(job.error, locale) if job.error else None,
    }


def outcome_rows(summary: dict[str, Any], locale: str) -> list[dict[str, Any]]:
    """A scenario job's outcomes in precedence order: title, people (decided
    automatically, awaiting review, matched nowhere), money and the action."""
    rows = []
    for name, o in (summary.get("outcomes") or {}).items():
        title = o.get("title") or {}
        rows.append(
            {
                "name": name,
                "label": title.get(locale) or title.get("zh-CN") or name,
                **{k: o.get(k, 0) for k in ("people", "auto", "review", "unmatched")},
                "money": o.get("money", 0),
                "money_review": o.get("money_review", 0),
                "action": o.get("action"),
            }
        )
    return rows


def charts_of(job: VerificationJob, names: dict[str, str], locale: str) -> dict[str, Any]:
    """The numbers the charts draw (the tables on the page show the same)."""
    summary = job.summary or {}
    refs = summary.get("references", {})
    labels = [names.get(code, code) for code in refs]
    return {
        "references": labels,
        "tiers": {t: [r["tiers"].get(t, 0) for r in refs.values()] for t in ("auto", "review")},
        "passes": {
            p: [r["passes"].get(p, 0) for r in refs.values()] for p in ("exact", "probabilistic")
        },
        "outcome_rows": outcome_rows(summary, locale),
    }


def _job_page(
    request: Request,
    session: Session,
    actor: Actor,
    locale: str,
    job_id: int,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    job = service.get_job(session, actor, job_id)
    codes = [c for c in [job.roster_code, *job.reference_codes] if c]
    summary = job.summary or {}
    result = [job.result_code] if job.result_code else []
    names = names_of(session, [*codes, *result, *summary.get("references", {})])
    pending = None
    if job.state == JobState.done and summary.get("review_items"):
        pending = review.counts(session, actor, job.id).get("pending", 0)
    return page(
        request,
        "verify_job.html",
        {
            "job": job,
            "s": summary,
            "names": names,
            "downloads": downloads(job),
            "charts": charts_of(job, names, locale) if job.summary else None,
            "pending": pending,
            "problem_codes": sorted(
                {c for counts in summary.get("id_problems", {}).values() for c in counts}
            ),
            "can_cancel": job.state in OPEN_STATES and _may_run(actor, job),
            **_progress(session, job, locale),
            **extra,
        },
        status_code=status_code,
    )


def _may_run(actor: Actor, job: VerificationJob) -> bool:
    return can(actor, "verify.run", job)


@router.get("/verify/jobs/{verification_id}", dependencies=READ)
def job_page(
    request: Request, verification_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> Response:
    """A job: its inputs, its progress while it runs, then the summary and the result."""
    return _job_page(request, session, actor, locale, verification_id)


@router.get("/verify/jobs/{verification_id}/panel", dependencies=READ)
def job_panel(
    request: Request, verification_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> Response:
    """The job's progress as an HTML fragment that polls itself while the job is open;
    once it has ended the page reloads to show the summary (``HX-Refresh``)."""
    job = service.get_job(session, actor, verification_id)
    response = page(
        request,
        "_verify_progress.html",
        {
            "job": job,
            "can_cancel": job.state in OPEN_STATES and _may_run(actor, job),
            **_progress(session, job, locale),
        },
    )
    if job.state not in OPEN_STATES and request.headers.get("HX-Request"):
        response.headers["HX-Refresh"] = "true"
    return response


@router.post("/verify/jobs/{verification_id}/cancel", dependencies=RUN)
def cancel(
    request: Request, verification_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> Response:
    """Cancel a queued or running job; one that has ended says so on its page (409)."""
    try:
        service.cancel_job(session, actor, verification_id)
    except ZhiliError as exc:
        session.rollback()
        return _job_page(
            request,
            session,
            actor,
            locale,
            verification_id,
            status_code=exc.status,
            error=exc.message(locale),
        )
    session.commit()
    return RedirectResponse(f"/verify/jobs/{verification_id}", status_code=303)
