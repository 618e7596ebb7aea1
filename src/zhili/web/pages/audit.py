"""The audit log page: entries the viewer may see, filtered, newest first; auditors can
recompute the chain from here (htmx swaps the verdict into the page)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from zhili.audit import anchors
from zhili.audit.models import Kind, Outcome
from zhili.audit.queries import AuditQuery, list_entries
from zhili.audit.verify import verify
from zhili.clock import CITY_TZ
from zhili.web.api.audit import query_of
from zhili.web.deps import CurrentActor, DbSession, SettingsDep, authorize
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _local(at: dt.datetime) -> str:
    return at.astimezone(CITY_TZ).strftime("%Y-%m-%d %H:%M:%S")


@router.get("/audit", dependencies=[Depends(authorize("audit.read"))])
def audit_page(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    query: Annotated[AuditQuery, Depends(query_of)],
    after: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    page = list_entries(session, actor, query, after=after, limit=PAGE_SIZE)
    return render(
        request,
        "audit.html",
        {
            "page": page,
            "q": query,
            "params": request.query_params,
            "after": after,
            "outcomes": list(Outcome),
            "kinds": list(Kind),
            "local": _local,
        },
    )


@router.get("/audit/verify", dependencies=[Depends(authorize("audit.verify"))])
def audit_verify(request: Request, settings: SettingsDep) -> Response:
    """The verdict as a fragment for htmx, or as a page of its own."""
    known = anchors.load(anchors.anchors_path(settings.home))
    result = verify(request.app.state.db, anchors=known)
    fragment = request.headers.get("hx-request") == "true"
    return render(
        request,
        "_audit_verify.html" if fragment else "audit_verify.html",
        {"result": result},
    )
