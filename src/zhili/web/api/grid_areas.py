"""The grid tree over HTTP (网格): list areas, GeoJSON for maps, one area with its chain
and children, import the tree, locate a point, and the grid workers of a grid. Thin: each
route calls ``zhili.apps.grid.areas`` or ``members``, which check who may do what."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.apps.grid import areas as service
from zhili.apps.grid import members
from zhili.apps.grid.models import GridArea, GridMember
from zhili.errors import InvalidInput, NotFound
from zhili.identity.models import Organization
from zhili.web.api.orgs import MAX_CSV_BYTES, decode_csv
from zhili.web.deps import CurrentActor, DbSession, authorize

router = APIRouter(prefix="/api/v1/grid", tags=["grid"])
READ = [Depends(authorize("grid.read"))]
MANAGE = [Depends(authorize("grid.manage"))]
ASSIGN = [Depends(authorize("grid.assign"))]
#: The demo city's five levels together are about 30 MB of GeoJSON.
MAX_GEOJSON_BYTES = 200 * 1024 * 1024


class WorkerBody(BaseModel):
    """A grid worker to put on the grid."""

    username: str = Field(min_length=1, max_length=64)


def _codes(session: Session, model: Any, ids: set[int]) -> dict[int, str]:
    """Codes of areas or organizations by id, in one query (no lazy loads per row)."""
    if not ids:
        return {}
    return {i: c for i, c in session.execute(select(model.id, model.code).where(model.id.in_(ids)))}


def areas_out(session: Session, found: list[GridArea]) -> list[dict[str, Any]]:
    """Areas as JSON (no polygon), with their parent's and command org's codes."""
    parents = _codes(session, GridArea, {a.parent_id for a in found if a.parent_id})
    orgs = _codes(session, Organization, {a.org_id for a in found if a.org_id})
    return [
        {
            "code": a.code,
            "name": a.name,
            "name_en": a.name_en,
            "level": a.level,
            "parent_code": parents.get(a.parent_id) if a.parent_id else None,
            "org_code": orgs.get(a.org_id) if a.org_id else None,
            "center": [a.center_lon, a.center_lat],
            "bbox": [a.min_lon, a.min_lat, a.max_lon, a.max_lat],
        }
        for a in found
    ]


def worker_out(member: GridMember) -> dict[str, Any]:
    return {
        "username": member.user.username,
        "display_name": member.user.display_name,
        "assigned_at": member.assigned_at.isoformat(),
        "assigned_by": member.assigned_by,
    }


def _by(actor: Actor, how: str) -> str:
    return f"{actor.username or actor.system or 'system'} ({how})"


@router.get("/areas", dependencies=READ)
def list_areas(
    session: DbSession, level: str | None = None, parent: str | None = None
) -> list[dict[str, Any]]:
    """Areas of one ``level`` and/or directly under ``parent`` (a code), by code."""
    return areas_out(session, service.list_areas(session, level, parent))


@router.get("/areas.geojson", dependencies=READ)
def areas_geojson(
    session: DbSession, level: str | None = None, parent: str | None = None
) -> dict[str, Any]:
    """A FeatureCollection for maps: the children of ``parent``, or one ``level``
    (default: the districts). Each feature's id is its code; ``children`` counts the
    areas directly below it, so a map knows where it can drill down."""
    if level is None and parent is None:
        level = "district"
    found = service.list_areas(session, level, parent)
    counts = service.child_counts(session, found)
    features = [
        {
            "type": "Feature",
            "id": a.code,
            "properties": {
                "code": a.code,
                "name": a.name,
                "name_en": a.name_en,
                "level": a.level,
                "children": counts.get(a.id, 0),
            },
            "geometry": a.geometry,
        }
        for a in found
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/areas/{code}", dependencies=READ)
def get_area(code: str, session: DbSession) -> dict[str, Any]:
    """One area with its chain (city first, itself last), its children with their own
    children counts, the areas below it per level and its command organization."""
    area = service.get_area(session, code)
    chain = service.chain(session, area)
    below = service.children(session, area)
    counts = service.child_counts(session, below)
    org = service.command_org(session, area)
    children = areas_out(session, below)
    for item, child in zip(children, below, strict=True):
        item["children"] = counts[child.id]
    return {
        **areas_out(session, [area])[0],
        "chain": areas_out(session, chain),
        "children": children,
        "counts": service.descendant_counts(session, area),
        "command_org": None if org is None else {"code": org.code, "name": org.name},
        "workers": len(members.workers_of(session, area)),
    }


@router.post("/areas/import", dependencies=MANAGE)
async def import_areas(request: Request, actor: CurrentActor, session: DbSession) -> Any:
    """Create or update the tree from a GeoJSON FeatureCollection: the JSON body, or a
    multipart upload in ``file``. All features or none; a bad one is a 422 problem
    naming its index, code and field (``errors`` lists up to 50)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("grid.file_missing", "upload the GeoJSON as {field}", field="file")
        data = await upload.read(MAX_GEOJSON_BYTES + 1)
        how = upload.filename or "upload"
    else:
        data = await request.body()
        how = "api"
    if len(data) > MAX_GEOJSON_BYTES:
        raise InvalidInput(
            "grid.file_too_large",
            "the file exceeds {mb} MB",
            field="file",
            mb=MAX_GEOJSON_BYTES // 2**20,
        )
    try:
        collection = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "grid.bad_json", "the file is not JSON: {reason}", field="file", reason=str(exc)
        ) from None
    report = await run_in_threadpool(
        service.import_areas, session, actor, collection, by=_by(actor, how)
    )
    session.commit()
    return {
        "created": report.created,
        "updated": report.updated,
        "by_level": report.by_level,
        "linked_orgs": report.linked_orgs,
    }


@router.get("/locate", dependencies=READ)
def locate(
    session: DbSession,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
) -> dict[str, Any]:
    """The deepest area holding the point (a grid where the tree has grids) and its chain
    from the city down; 404 when the point is outside every area."""
    area = service.locate(session, lon, lat)
    if area is None:
        raise NotFound(
            "grid.point_outside", "no area contains the point ({lon}, {lat})", lon=lon, lat=lat
        )
    chain = areas_out(session, service.chain(session, area))
    return {"area": chain[-1], "chain": chain}


@router.get("/areas/{code}/workers", dependencies=READ)
def list_workers(code: str, session: DbSession) -> list[dict[str, Any]]:
    """The grid workers on a grid, by username."""
    area = service.get_area(session, code)
    return [worker_out(m) for m in members.workers_of(session, area)]


@router.post("/areas/{code}/workers", dependencies=ASSIGN)
def add_worker(
    code: str, body: WorkerBody, actor: CurrentActor, session: DbSession
) -> JSONResponse:
    """Put a grid worker on a grid: 201 when assigned, 200 when already there."""
    service.get_area(session, code)
    report = members.assign_worker(session, actor, code, body.username, by=_by(actor, "api"))
    session.commit()
    area = service.get_area(session, code)
    workers = [worker_out(m) for m in members.workers_of(session, area)]
    return JSONResponse(workers, status_code=201 if report.assigned else 200)


@router.delete("/areas/{code}/workers/{username}", dependencies=ASSIGN, status_code=204)
def remove_worker(code: str, username: str, actor: CurrentActor, session: DbSession) -> Response:
    """Take a grid worker off a grid (404 when they were not on it)."""
    members.unassign(session, actor, code, username)
    session.commit()
    return Response(status_code=204)


@router.post("/workers/import", dependencies=ASSIGN)
def import_workers(
    actor: CurrentActor, session: DbSession, file: Annotated[UploadFile, File()]
) -> dict[str, int]:
    """Assign grid workers from a CSV ``username,grid_code`` (UTF-8 or GB18030): all rows
    or none; a bad row is a problem naming its line and column."""
    data = file.file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput(
            "grid.file_too_large",
            "the file exceeds {mb} MB",
            field="file",
            mb=MAX_CSV_BYTES // 2**20,
        )
    by = _by(actor, file.filename or "upload")
    report = members.assign_worker_csv(session, actor, decode_csv(data), by=by)
    session.commit()
    return {"assigned": report.assigned, "unchanged": report.unchanged}
