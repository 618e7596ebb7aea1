"""Organization pages: browse and filter the tree; import a CSV (bureau admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response

from zhili.errors import ZhiliError
from zhili.identity import org_csv, orgs
from zhili.identity.models import OrgKind, OrgLevel
from zhili.web.api.orgs import MAX_CSV_BYTES, decode_csv
from zhili.web.deps import CurrentActor, DbSession, Locale, authorize
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _page(request: Request, session: DbSession, actor: CurrentActor, **extra: object) -> Response:
    params = request.query_params
    level = params.get("level") or None
    kind = params.get("kind") or None
    q = params.get("q") or None
    parent = params.get("parent") or None
    try:
        page = max(int(params.get("page", "1")), 1)
    except ValueError:
        page = 1
    rows, total = orgs.list_orgs(
        session,
        actor,
        level=level,
        kind=kind,
        q=q,
        parent_code=parent,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    status = int(extra.pop("status_code", 200))  # type: ignore[call-overload]
    return render(
        request,
        "orgs.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
            "filters": {"level": level, "kind": kind, "q": q, "parent": parent},
            "levels": list(OrgLevel),
            "kinds": list(OrgKind),
            "counts": orgs.org_counts(session),
            **extra,
        },
        status_code=status,
    )


@router.get("/admin/orgs", dependencies=[Depends(authorize("org.read"))])
def orgs_page(request: Request, actor: CurrentActor, session: DbSession) -> Response:
    return _page(request, session, actor)


@router.post("/admin/orgs/import", dependencies=[Depends(authorize("org.manage"))])
def import_orgs(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    file: Annotated[UploadFile, File()],
) -> Response:
    try:
        data = file.file.read(MAX_CSV_BYTES + 1)
        report = org_csv.import_org_csv(session, actor, decode_csv(data))
    except ZhiliError as exc:
        session.rollback()
        errors = exc.params.get("errors") or []
        return _page(
            request,
            session,
            actor,
            error=exc.message(locale),
            line_errors=errors,
            status_code=exc.status,
        )
    return _page(request, session, actor, report=report)
