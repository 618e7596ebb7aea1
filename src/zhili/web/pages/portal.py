"""The public open-data portal (开放数据门户) and the DCAT catalog, no login needed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from zhili.catalog import dcat, portal, tableschema
from zhili.web.deps import CurrentActor, DbSession, authorize
from zhili.web.templating import render

router = APIRouter()
PUBLIC = [Depends(authorize("portal.read"))]
PAGE_SIZE = 30


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/open", dependencies=PUBLIC, include_in_schema=False)
def open_index(request: Request, actor: CurrentActor, session: DbSession) -> Response:
    q = request.query_params.get("q") or None
    try:
        page = max(int(request.query_params.get("page", "1")), 1)
    except ValueError:
        page = 1
    rows, total = portal.list_published(
        session, actor, q=q, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return render(
        request,
        "portal.html",
        {
            "rows": rows,
            "total": total,
            "q": q or "",
            "page": page,
            "pages": max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        },
    )


@router.get("/open/{code}", dependencies=PUBLIC, include_in_schema=False)
def open_resource(request: Request, code: str, actor: CurrentActor, session: DbSession) -> Response:
    resource = portal.get_published(session, actor, code)
    return render(
        request,
        "portal_resource.html",
        {"r": resource, "items": tableschema.items(resource.table_schema)},
    )


@router.get("/dcat/catalog.jsonld", dependencies=PUBLIC, tags=["open data"])
def dcat_jsonld(request: Request, session: DbSession) -> JSONResponse:
    """The published catalog as DCAT-AP 3 JSON-LD."""
    doc = dcat.catalog_jsonld(dcat.published(session), _base(request), "示例市开放数据目录")
    return JSONResponse(doc, media_type="application/ld+json")


@router.get("/dcat/catalog.ttl", dependencies=PUBLIC, tags=["open data"])
def dcat_turtle(request: Request, session: DbSession) -> Response:
    """The published catalog as DCAT-AP 3 Turtle."""
    doc = dcat.catalog_jsonld(dcat.published(session), _base(request), "示例市开放数据目录")
    return Response(dcat.to_turtle(doc), media_type="text/turtle; charset=utf-8")
