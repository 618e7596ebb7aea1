"""The catalog over HTTP: browse with facets, describe and edit resources, their Table
Schema, revisions, lake versions, loads and the provider's preview."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from zhili.catalog import load_jobs, loading, service, tableschema
from zhili.catalog.load_jobs import version_result
from zhili.catalog.models import Resource, ResourceRevision
from zhili.errors import InvalidInput
from zhili.exchange import door, export_jobs
from zhili.jobs import Job
from zhili.query import MEDIA_TYPES
from zhili.web.api.jobs import job_location, job_out
from zhili.web.deps import CurrentActor, DbSession, SettingsDep, authorize

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])
READ = [Depends(authorize("catalog.read"))]
MANAGE = [Depends(authorize("catalog.manage"))]
INGEST = [Depends(authorize("lake.ingest"))]
PREVIEW = [Depends(authorize("lake.preview"))]
MAX_UPLOAD = 4 * 1024**3  # 4 GiB; the upload is spooled to disk, never held in memory


class ResourcePatch(BaseModel):
    changes: dict[str, Any]
    note: str | None = None


def resource_out(r: Resource) -> dict[str, Any]:
    return {
        **service.snapshot(r),
        "provider_name": r.provider.name,
        "revision": r.revision,
        "current_version": r.current_version,
        "updated_at": r.updated_at.isoformat(),
        "updated_by": r.updated_by,
        "personal_items": tableschema.personal_fields(r.table_schema),
    }


version_out = version_result


def revision_out(r: ResourceRevision) -> dict[str, Any]:
    return {
        "revision": r.revision,
        "changed_fields": r.changed_fields,
        "changed_by": r.changed_by,
        "changed_at": r.changed_at.isoformat(),
        "note": r.note,
        "snapshot": r.snapshot,
    }


@router.get("", dependencies=READ)
def browse(
    actor: CurrentActor,
    session: DbSession,
    q: str | None = None,
    provider: str | None = None,
    classification: str | None = None,
    sharing_type: str | None = None,
    open_type: str | None = None,
    grade: str | None = None,
    update_cycle: str | None = None,
    tag: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    filters = {
        "provider": provider,
        "classification": classification,
        "sharing_type": sharing_type,
        "open_type": open_type,
        "grade": grade,
        "update_cycle": update_cycle,
        "tag": tag,
    }
    page = service.browse(session, actor, q=q, filters=filters, limit=limit, offset=offset)
    return {
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "items": [resource_out(r) for r in page.items],
        "facets": {k: [{"value": v, "count": n} for v, n in vs] for k, vs in page.facets.items()},
    }


@router.post("", dependencies=MANAGE, status_code=201)
def create(body: service.ResourceSpec, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    """Describe a resource (the body is the service's own spec, validated at the edge)."""
    return resource_out(service.create_resource(session, actor, body))


@router.get("/{code}", dependencies=READ)
def show(code: str, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    return resource_out(service.view_resource(session, actor, code))


@router.patch("/{code}", dependencies=MANAGE)
def edit(code: str, body: ResourcePatch, actor: CurrentActor, session: DbSession) -> dict:
    return resource_out(service.update_resource(session, actor, code, body.changes, body.note))


@router.get("/{code}/schema", dependencies=READ)
def table_schema(code: str, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    """The items as a Frictionless Table Schema v2 document."""
    return tableschema.export(service.view_resource(session, actor, code).table_schema)


@router.get("/{code}/revisions", dependencies=READ)
def revisions(code: str, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    return {"items": [revision_out(r) for r in service.revisions(session, actor, code)]}


@router.get("/{code}/versions", dependencies=READ)
def versions(code: str, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    return {"items": [version_out(v) for v in service.versions(session, actor, code)]}


@router.post("/{code}/versions", dependencies=INGEST, status_code=201)
def load(
    code: str,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
    mode: Annotated[str, Form()] = "append",
    background: Annotated[bool, Form()] = False,
) -> Any:
    """Upload a file (CSV, JSON/JSONL, Parquet, XLSX) as a new version; 422 with the
    validation report when any row is bad (nothing is committed then). With
    ``background=true`` the load runs as a job: 202 and the job (``Location``) to follow."""
    with spooled(file) as path:
        filename = file.filename or path.name
        if background:
            job = load_jobs.submit_file(
                session,
                actor,
                home=settings.home,
                code=code,
                spooled=path,
                filename=filename,
                mode=mode,
            )
            return _accepted(request, session, job)
        version = loading.load_file(
            session,
            actor,
            home=settings.home,
            code=code,
            path=path,
            filename=filename,
            mode=mode,
        )
    return version_out(version)


class DatabaseLoad(BaseModel):
    url: str = Field(description="SQLAlchemy URL, e.g. postgresql://user:pw@host/db")
    query: str = Field(min_length=1, max_length=20_000, description="SELECT on that database")
    mode: str = "append"


@router.post("/{code}/versions/from-database", dependencies=INGEST, status_code=202)
def load_database(
    code: str,
    body: DatabaseLoad,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
) -> JSONResponse:
    """Load the rows of a query on the department's own database as a new version, in
    the background (202 and the job to follow). The URL's password is sealed in the
    queue and never shown again."""
    job = load_jobs.submit_database(
        session,
        actor,
        code=code,
        url=body.url,
        query=body.query,
        mode=body.mode,
        secret_key=settings.secret_key,
        allowed_drivers=settings.allowed_source_drivers,
    )
    return _accepted(request, session, job)


def _accepted(request: Request, session: DbSession, job: Job) -> JSONResponse:
    session.commit()
    jobs = getattr(request.app.state, "jobs", None)
    if jobs is not None:
        jobs.wake()
    location = job_location(request, job)
    return JSONResponse(job_out(job), status_code=202, headers={"Location": location})


@router.get("/{code}/preview", dependencies=PREVIEW)
def preview(
    code: str,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    version: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    fields, rows = loading.preview(
        session, actor, home=settings.home, code=code, limit=limit, version=version
    )
    return {"fields": fields, "rows": rows}


@router.get(
    "/{code}/datapackage",
    dependencies=[Depends(authorize("portal.read"))],
    response_class=FileResponse,
)
def datapackage(
    code: str,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    version: Annotated[int | None, Query(ge=0)] = None,
) -> FileResponse:
    """A version as a Frictionless Data Package (zip of datapackage.json + CSV). Open
    resources are downloadable by anyone; others by the provider's own staff."""
    resource, path = loading.package_file(
        session, actor, home=settings.home, code=code, version=version
    )
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"{resource.code}.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get("/{code}/rows", dependencies=[Depends(authorize("portal.read"))])
def rows(
    code: str,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    version: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """A keyset page of rows: ``fields``, repeatable ``filter=FIELD:OP[:VALUE]``,
    ``sort=-a,b``, ``limit``, ``after`` (the previous page's ``next``), ``total=true``.
    Through the exchange's one door: the provider's staff read their own data, consumer
    organizations read under their grant (its fields, rows and masking; metered and
    audited), anyone reads open resources without their personal items."""
    page, pinned, access = door.read_rows(
        session,
        actor,
        home=settings.home,
        code=code,
        params=list(request.query_params.multi_items()),
        version=version,
    )
    return {
        "version": pinned,
        "basis": access.basis,
        "grant": access.grant.id if access.grant else None,
        "fields": [c.name for c in page.columns],
        "rows": jsonable_encoder(page.rows),
        "next": page.next_cursor,
        "total": page.total,
    }


@router.get("/{code}/export", dependencies=[Depends(authorize("portal.read"))])
def export(
    code: str,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    format: Annotated[str, Query(pattern="^(csv|jsonl|parquet)$")] = "csv",
    version: Annotated[int | None, Query(ge=0)] = None,
    bom: bool = False,
) -> StreamingResponse:
    """The whole result (same filters and sort as ``rows``) streamed as CSV, JSONL or
    Parquet, never held in memory."""
    chunks = door.export_rows(
        session,
        actor,
        home=settings.home,
        code=code,
        params=list(request.query_params.multi_items()),
        fmt=format,
        version=version,
        bom=bom,
    )
    return StreamingResponse(
        chunks,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{code}.{format}"'},
    )


@router.post("/{code}/exports", dependencies=[Depends(authorize("exchange.read"))], status_code=202)
def export_job(
    code: str,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    format: Annotated[str, Query(pattern="^(csv|jsonl|parquet)$")] = "csv",
) -> JSONResponse:
    """The same export as a background job (for large results): 202 and the job; when it
    succeeds, ``GET /api/v1/jobs/{id}/file`` downloads it (resumable, with its SHA-256).
    Query parameters as for ``rows`` (filters, fields, sort)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "format"]
    job = export_jobs.submit_export(session, actor, code=code, params=params, fmt=format)
    return _accepted(request, session, job)


class spooled:
    """Copy an upload to a temporary file on disk (streamed) and remove it afterwards."""

    def __init__(self, upload: UploadFile) -> None:
        self.upload = upload
        self.dir = Path(tempfile.mkdtemp(prefix="zhili-upload-"))

    def __enter__(self) -> Path:
        name = Path(self.upload.filename or "upload").name or "upload"
        path = self.dir / name
        written = 0
        with path.open("wb") as out:
            while chunk := self.upload.file.read(1024 * 1024):
                written += len(chunk)
                if written > MAX_UPLOAD:
                    shutil.rmtree(self.dir, ignore_errors=True)
                    raise InvalidInput(
                        "catalog.upload_too_large",
                        "the upload exceeds {max} bytes",
                        field="file",
                        max=MAX_UPLOAD,
                    )
                out.write(chunk)
        return path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
