"""Catalog pages: browse with facets, a resource's page, describe a new resource, and the
steward's upload form with its validation report."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from zhili.access import Actor, can
from zhili.catalog import loading, service, tableschema
from zhili.catalog.models import (
    Classification,
    Grade,
    OpenType,
    SharingType,
    UpdateCycle,
)
from zhili.errors import InvalidInput, ZhiliError
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
    from sqlalchemy import select

    from zhili.identity.models import Organization

    codes = [code for code, _ in page.facets.get("provider", [])]
    names = dict(
        session.execute(
            select(Organization.code, Organization.name).where(Organization.code.in_(codes))
        ).all()
    )
    return render(
        request,
        "catalog.html",
        {
            "provider_names": names,
            "page": page_no,
            "pages": max((page.total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
            "result": page,
            "filters": filters,
            "q": q or "",
            "facet_names": (*service.FACETS, "tag"),
        },
    )


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


@router.post("/catalog/new", dependencies=[Depends(authorize("catalog.manage"))])
def create(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    code: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    provider_code: Annotated[str, Form()] = "",
    classification: Annotated[str, Form()] = "department",
    sharing_type: Annotated[str, Form()] = "conditional",
    sharing_conditions: Annotated[str, Form()] = "",
    legal_basis: Annotated[str, Form()] = "",
    open_type: Annotated[str, Form()] = "closed",
    update_cycle: Annotated[str, Form()] = "monthly",
    grade: Annotated[str, Form()] = "general",
    summary: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
    table_schema: Annotated[str, Form()] = "",
) -> Response:
    form = dict(request.query_params) | {
        "code": code, "name": name, "provider_code": provider_code,
        "classification": classification, "sharing_type": sharing_type,
        "sharing_conditions": sharing_conditions, "legal_basis": legal_basis,
        "open_type": open_type, "update_cycle": update_cycle, "grade": grade,
        "summary": summary, "tags": tags, "table_schema": table_schema,
    }  # fmt: skip
    try:
        try:
            schema = json.loads(table_schema)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                "catalog.schema_not_json",
                "the Table Schema is not valid JSON (line {line}, column {column})",
                field="table_schema",
                line=exc.lineno,
                column=exc.colno,
            ) from None
        spec = service.ResourceSpec(
            code=code.strip(),
            name=name,
            provider_code=provider_code.strip() or _own_org(session, actor),
            classification=classification,
            table_schema=schema,
            sharing_type=sharing_type,
            sharing_conditions=sharing_conditions or None,
            legal_basis=legal_basis or None,
            open_type=open_type,
            update_cycle=update_cycle,
            grade=grade,
            summary=summary,
            tags=[t for t in tags.replace("，", ",").split(",") if t.strip()],
        )
        resource = service.create_resource(session, actor, spec)
    except ZhiliError as exc:
        session.rollback()
        return render(
            request,
            "resource_new.html",
            {"choices": CHOICES, "form": form, "error": exc.message(locale)},
            status_code=exc.status,
        )
    return RedirectResponse(f"/catalog/{resource.code}", status_code=303)


def _own_org(session: DbSession, actor: Actor) -> str:
    from zhili.identity.models import Organization

    org = session.get(Organization, actor.org_id) if actor.org_id else None
    return org.code if org else ""


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
    try:
        with spooled(file) as path:
            version = loading.load_file(
                session,
                actor,
                home=settings.home,
                code=code,
                path=path,
                filename=file.filename or path.name,
                mode=mode,
            )
    except ZhiliError as exc:
        session.rollback()
        report = exc.params.get("report")
        return _resource_page(
            request,
            session,
            actor,
            settings,
            code,
            status_code=exc.status,
            error=exc.message(locale),
            report=report,
        )
    return _resource_page(request, session, actor, settings, code, loaded=version)


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
    name: Annotated[str, Form()] = "",
    classification: Annotated[str, Form()] = "department",
    sharing_type: Annotated[str, Form()] = "conditional",
    sharing_conditions: Annotated[str, Form()] = "",
    legal_basis: Annotated[str, Form()] = "",
    open_type: Annotated[str, Form()] = "closed",
    update_cycle: Annotated[str, Form()] = "monthly",
    grade: Annotated[str, Form()] = "general",
    summary: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
    table_schema: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Save the form as a new revision (only changed fields count)."""
    changes: dict[str, Any] = {
        "name": name, "classification": classification, "sharing_type": sharing_type,
        "sharing_conditions": sharing_conditions or None, "legal_basis": legal_basis or None,
        "open_type": open_type, "update_cycle": update_cycle, "grade": grade,
        "summary": summary,
        "tags": [t for t in tags.replace("，", ",").split(",") if t.strip()],
    }  # fmt: skip
    try:
        try:
            changes["table_schema"] = json.loads(table_schema)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                "catalog.schema_not_json",
                "the Table Schema is not valid JSON (line {line}, column {column})",
                field="table_schema",
                line=exc.lineno,
                column=exc.colno,
            ) from None
        service.update_resource(session, actor, code, changes, note or None)
    except ZhiliError as exc:
        session.rollback()
        form = {**changes, "code": code, "tags": tags, "table_schema": table_schema}
        return render(
            request,
            "resource_new.html",
            {"choices": CHOICES, "form": form, "edit": code, "error": exc.message(locale)},
            status_code=exc.status,
        )
    return RedirectResponse(f"/catalog/{code}", status_code=303)
