"""Organizations: list and filter the tree, one organization, create, CSV import, GeoJSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile

from zhili.errors import InvalidInput
from zhili.identity import org_csv, orgs
from zhili.web.api.schemas import OrgIn, OrgOut, Page
from zhili.web.deps import CurrentActor, DbSession, authorize

router = APIRouter(prefix="/api/v1/orgs", tags=["organizations"])
READ = [Depends(authorize("org.read"))]
MANAGE = [Depends(authorize("org.manage"))]
MAX_CSV_BYTES = 20 * 1024 * 1024


@router.get("", dependencies=READ)
def list_orgs(
    actor: CurrentActor,
    session: DbSession,
    level: str | None = None,
    kind: str | None = None,
    parent: str | None = None,
    q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[OrgOut]:
    rows, total = orgs.list_orgs(
        session,
        actor,
        level=level,
        kind=kind,
        parent_code=parent,
        q=q,
        limit=limit,
        offset=offset,
    )
    return Page[OrgOut](total=total, limit=limit, offset=offset, items=[OrgOut.of(o) for o in rows])


@router.get("/geojson", dependencies=READ)
def geojson(
    actor: CurrentActor,
    session: DbSession,
    level: str = "district",
    parent: str | None = None,
) -> dict:
    """Organizations of one level with their polygons, as a GeoJSON FeatureCollection."""
    rows, _ = orgs.list_orgs(session, actor, level=level, parent_code=parent, limit=100_000)
    features = [
        {
            "type": "Feature",
            "id": o.code,
            "properties": {"code": o.code, "name": o.name, "name_en": o.name_en},
            "geometry": o.geometry,
        }
        for o in rows
        if o.geometry
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/{code}", dependencies=READ)
def get_org(code: str, actor: CurrentActor, session: DbSession) -> OrgOut:
    return OrgOut.of(orgs.view_org(session, actor, code))


@router.post("", dependencies=MANAGE, status_code=201)
def create_org(body: OrgIn, actor: CurrentActor, session: DbSession) -> OrgOut:
    spec = orgs.OrgSpec(**body.model_dump())
    return OrgOut.of(orgs.create_org(session, actor, spec))


@router.post("/import", dependencies=MANAGE)
def import_csv(
    actor: CurrentActor, session: DbSession, file: Annotated[UploadFile, File()]
) -> dict:
    """Create or update the org tree from a CSV file (all lines or none)."""
    data = file.file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput("identity.csv_too_large", "the CSV file exceeds 20 MB", field="file")
    text = decode_csv(data)
    report = org_csv.import_org_csv(session, actor, text)
    return {"created": report.created, "updated": report.updated}


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GB18030, which Chinese offices still use."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("identity.csv_encoding", "the CSV is neither UTF-8 nor GB18030")
