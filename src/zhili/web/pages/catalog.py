"""Catalog pages: browse with facets, a resource's page, describe a new resource, and the
steward's upload form with its validation report."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from zhili.access import Actor, can
from zhili.catalog import load_jobs, loading, service, tableschema
from zhili.catalog.models import (
    Classification,
    Grade,
    OpenType,
    SharingType,
    UpdateCycle,
)
from zhili.errors import InvalidInput, ZhiliError
from zhili.exchange import door, export_jobs
from zhili.jobs import get_job, list_jobs
from zhili.jobs.runner import render_problem
from zhili.lake.quality import freshness
from zhili.web.api.catalog import spooled
from zhili.web.deps import CurrentActor, DbSession, Locale, SettingsDep, authorize
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 30
CHOICES = {
    "classification": list(Classification),
    "sharing_type": list(SharingType),
    "open_type": list(OpenType),
    "update_cycle": list(UpdateCycle),
    "grade": list(Grade),
}


@router.get("/catalog", dependencies=[Depends(authorize("catalog.read"))])
def browse(request: Request, actor: CurrentActor, session: DbSession) -> Response:
    params = request.query_params
    filters = {k: params.get(k) or "" for k in (*service.FACETS, "tag")}
    q = params.get("q") or None
    try:
        page_no = max(int(params.get("page", "1")), 1)
    except ValueError:
        page_no = 1
    page = service.browse(
        session, actor, q=q, filters=filters, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
    )
    return render(
        request,
        "catalog.html",
        {
            "provider_names": page.provider_names,
            "page": page_no,
            "pages": max((page.total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
            "result": page,
            "filters": filters,
            "q": q or "",
            "facet_names": (*service.FACETS, "tag"),
        },
    )


def _job_param(request: Request, session: DbSession, actor: Actor) -> Any:
    job_id = request.query_params.get("job")
    if not job_id or actor.user_id is None:
        return None
    try:
        return get_job(session, actor, job_id)
    except ZhiliError:
        return None


def _resource_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    settings: Any,
    code: str,
    status_code: int = 200,
    **extra: object,
) -> Response:
    resource = service.view_resource(session, actor, code)
    versions = service.versions(session, actor, code)
    fields: list[str] = []
    rows: list[dict[str, Any]] = []
    if can(actor, "lake.preview", resource):
        fields, rows = loading.preview(session, actor, home=settings.home, code=code, limit=10)
    fresh = None
    if versions:
        fresh = freshness(resource.update_cycle, versions[0].committed_at)
    return render(
        request,
        "resource.html",
        {
            "r": resource,
            "items": tableschema.items(resource.table_schema),
            "versions": versions,
            "revisions": service.revisions(session, actor, code)[:10],
            "preview_fields": fields,
            "preview_rows": rows,
            "freshness": fresh,
            "job": (job := _job_param(request, session, actor)),
            "job_error": _job_error(job, getattr(request.state, "locale", None) or "zh-CN"),
            "read_basis": door.may_read(session, actor, resource),
            "recent_jobs": list_jobs(session, actor, subject=code, limit=5)
            if actor.user_id is not None
            else [],
            "schema_json": json.dumps(
                tableschema.export(resource.table_schema), ensure_ascii=False, indent=1
            ),
            **extra,
        },
        status_code=status_code,
    )


@router.get("/catalog/new", dependencies=[Depends(authorize("catalog.manage"))])
def new_form(request: Request, actor: CurrentActor) -> Response:
    return render(request, "resource_new.html", {"choices": CHOICES, "form": {}})


class ResourceForm(BaseModel):
    """The describe/edit form of a catalog entry, as posted (all text)."""

    code: str = ""
    name: str = ""
    provider_code: str = ""
    classification: str = "department"
    sharing_type: str = "conditional"
    sharing_conditions: str = ""
    legal_basis: str = ""
    open_type: str = "closed"
    update_cycle: str = "monthly"
    grade: str = "general"
    summary: str = ""
    tags: str = ""
    table_schema: str = ""
    note: str = ""

    def metadata(self) -> dict[str, Any]:
        """The editable metadata, parsed: tags split, the Table Schema read as JSON."""
        try:
            schema = json.loads(self.table_schema)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                "catalog.schema_not_json",
                "the Table Schema is not valid JSON (line {line}, column {column})",
                field="table_schema",
                line=exc.lineno,
                column=exc.colno,
            ) from None
        return {
            "name": self.name,
            "classification": self.classification,
            "sharing_type": self.sharing_type,
            "sharing_conditions": self.sharing_conditions or None,
            "legal_basis": self.legal_basis or None,
            "open_type": self.open_type,
            "update_cycle": self.update_cycle,
            "grade": self.grade,
            "summary": self.summary,
            "tags": [t for t in self.tags.replace("，", ",").split(",") if t.strip()],
            "table_schema": schema,
        }


def _form_page(
    request: Request, form: ResourceForm, locale: str, exc: ZhiliError, edit: str | None = None
) -> Response:
    return render(
        request,
        "resource_new.html",
        {"choices": CHOICES, "form": form.model_dump(), "edit": edit, "error": exc.message(locale)},
        status_code=exc.status,
    )


@router.post("/catalog/new", dependencies=[Depends(authorize("catalog.manage"))])
def create(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    form: Annotated[ResourceForm, Form()],
) -> Response:
    try:
        spec = service.ResourceSpec(
            code=form.code.strip(),
            provider_code=form.provider_code.strip(),
            **form.metadata(),
        )
        resource = service.create_resource(session, actor, spec)
    except ZhiliError as exc:
        session.rollback()
        return _form_page(request, form, locale, exc)
    return RedirectResponse(f"/catalog/{resource.code}", status_code=303)


@router.get("/catalog/{code}", dependencies=[Depends(authorize("catalog.read"))])
def resource_page(
    request: Request, code: str, actor: CurrentActor, session: DbSession, settings: SettingsDep
) -> Response:
    return _resource_page(request, session, actor, settings, code)


@router.post("/catalog/{code}/upload", dependencies=[Depends(authorize("lake.ingest"))])
def upload(
    request: Request,
    code: str,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    file: Annotated[UploadFile, File()],
    mode: Annotated[str, Form()] = "append",
) -> Response:
    """The upload is spooled (the browser shows bytes sent), then validated and committed
    by a background job whose progress the resource page follows."""
    try:
        with spooled(file) as path:
            job = load_jobs.submit_file(
                session,
                actor,
                home=settings.home,
                code=code,
                spooled=path,
                filename=file.filename or path.name,
                mode=mode,
            )
    except ZhiliError as exc:
        session.rollback()
        return _resource_page(
            request,
            session,
            actor,
            settings,
            code,
            status_code=exc.status,
            error=exc.message(locale),
        )
    return _follow(request, session, code, job.id)


@router.post("/catalog/{code}/load-database", dependencies=[Depends(authorize("lake.ingest"))])
def load_database(
    request: Request,
    code: str,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    url: Annotated[str, Form()],
    query: Annotated[str, Form()],
    mode: Annotated[str, Form()] = "append",
) -> Response:
    try:
        job = load_jobs.submit_database(
            session,
            actor,
            code=code,
            url=url,
            query=query,
            mode=mode,
            secret_key=settings.secret_key,
            allowed_drivers=settings.allowed_source_drivers,
        )
    except ZhiliError as exc:
        session.rollback()
        return _resource_page(
            request,
            session,
            actor,
            settings,
            code,
            status_code=exc.status,
            error=exc.message(locale),
            db_query=query,
        )
    return _follow(request, session, code, job.id)


def _follow(request: Request, session: DbSession, code: str, job_id: str) -> Response:
    """Commit the queued job, wake this process's runner, and send the browser to the
    resource page that follows the job (htmx needs ``HX-Redirect``, a form a 303)."""
    session.commit()
    runner = getattr(request.app.state, "jobs", None)
    if runner is not None:
        runner.wake()
    target = f"/catalog/{code}?job={job_id}"
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/catalog/{code}/export-job", dependencies=[Depends(authorize("exchange.read"))])
def export_job(
    request: Request,
    code: str,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    format: Annotated[str, Form()] = "csv",
) -> Response:
    """Queue a bulk export of what the reader may see; the page follows the job."""
    try:
        job = export_jobs.submit_export(session, actor, code=code, params=[], fmt=format)
    except ZhiliError as exc:
        session.rollback()
        return _resource_page(
            request,
            session,
            actor,
            settings,
            code,
            status_code=exc.status,
            error=exc.message(locale),
        )
    return _follow(request, session, code, job.id)


@router.get("/jobs/{job_id}/panel", dependencies=[Depends(authorize("job.read"))])
def job_panel(
    request: Request, job_id: str, actor: CurrentActor, session: DbSession, locale: Locale
) -> Response:
    """The job's progress as an HTML fragment; it polls itself until the job ends, and
    then reloads the page so the new version, preview and quality show."""
    job = get_job(session, actor, job_id)
    response = render(request, "_job.html", {"job": job, "job_error": _job_error(job, locale)})
    if job.finished and request.headers.get("HX-Request"):
        response.headers["HX-Refresh"] = "true"
    return response


def _job_error(job: Any, locale: str) -> str | None:
    return render_problem(job.problem, locale) if job and job.problem else None


@router.get("/catalog/{code}/edit", dependencies=[Depends(authorize("catalog.manage"))])
def edit_form(request: Request, code: str, actor: CurrentActor, session: DbSession) -> Response:
    resource = service.view_resource(session, actor, code)
    form = {
        **service.snapshot(resource),
        "tags": ", ".join(resource.tags),
        "table_schema": json.dumps(resource.table_schema, ensure_ascii=False, indent=1),
        "provider_code": resource.provider.code,
    }
    return render(request, "resource_new.html", {"choices": CHOICES, "form": form, "edit": code})


@router.post("/catalog/{code}/edit", dependencies=[Depends(authorize("catalog.manage"))])
def edit(
    request: Request,
    code: str,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    form: Annotated[ResourceForm, Form()],
) -> Response:
    """Save the form as a new revision (only changed fields count)."""
    try:
        service.update_resource(session, actor, code, form.metadata(), form.note or None)
    except ZhiliError as exc:
        session.rollback()
        return _form_page(request, form.model_copy(update={"code": code}), locale, exc, code)
    return RedirectResponse(f"/catalog/{code}", status_code=303)
