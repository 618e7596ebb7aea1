"""The event catalogue (事项目录) over HTTP: list and show categories, import a catalogue
(YAML or JSON, as the body or an uploaded ``file``), and check a report's answers against
a category's form. Thin: `zhili.apps.grid.categories` checks everything; a refusal is a
422 problem naming the category, the attribute and the field."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from zhili.apps.grid import categories as service
from zhili.apps.grid.models import EventCategory
from zhili.errors import InvalidInput
from zhili.web.deps import CurrentActor, DbSession, Locale, authorize

router = APIRouter(prefix="/api/v1/grid/categories", tags=["grid"])
READ = [Depends(authorize("grid.read"))]
MANAGE = [Depends(authorize("grid.manage"))]
MAX_BYTES = 2_000_000

_IMPORT_BODY = {
    "required": True,
    "content": {
        "application/yaml": {"schema": {"type": "string"}},
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "categories": {"type": "array", "items": {"type": "object"}},
                    "routes": {"type": "array", "items": {"type": "object"}},
                },
            }
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}


class AnswersBody(BaseModel):
    """A report's answers by attribute code (multivaluelist: a list of keys)."""

    answers: dict[str, Any] = Field(default_factory=dict, max_length=100)


def _org(org: Any) -> dict[str, Any]:
    return {"code": org.code, "name": org.name, "name_en": org.name_en}


def category_out(category: EventCategory, locale: str) -> dict[str, Any]:
    """A category in a list: names, group, department, level and time limits."""
    english = locale == "en"
    return {
        "code": category.code,
        "name": category.name,
        "name_en": category.name_en,
        "title": (english and category.name_en) or category.name,
        "group": category.group,
        "group_en": category.group_en,
        "description": category.description,
        "keywords": list(category.keywords or []),
        "department": _org(category.department),
        "level": category.level,
        "time_limits": category.time_limits or {},
        "attributes": len(category.attributes or []),
        "active": category.active,
    }


def category_detail(session: Session, category: EventCategory, locale: str) -> dict[str, Any]:
    """A category whole: its attributes (the Open311 service definition's), routes."""
    routes = [
        {"area": r.area.code, "area_name": r.area.name, "level": r.area.level,
         "department": _org(r.department)}
        for r in service.routes_of(session, category)
    ]  # fmt: skip
    return {
        **category_out(category, locale),
        "attributes": [dict(a) for a in category.attributes or []],
        "routes": routes,
    }


async def catalogue_text(request: Request) -> tuple[str, str]:
    """(source name, text) of the catalogue sent: a multipart ``file``, else the body."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput(
                "grid.catalogue_no_file", "Send the catalogue as the file field.", field="file"
            )
        name, data = upload.filename or "upload", await upload.read(MAX_BYTES + 1)
    else:
        name, data = "request body", await request.body()
    if len(data) > MAX_BYTES:
        raise InvalidInput(
            "grid.catalogue_too_large",
            "The event catalogue is larger than {limit} bytes.",
            field="file",
            limit=MAX_BYTES,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "grid.catalogue_encoding", "The event catalogue is not UTF-8 text.", field="file"
        ) from None
    if not text.strip():
        raise InvalidInput(
            "grid.catalogue_empty", "The event catalogue sent is empty.", field="file"
        )
    return name, text


@router.get("", dependencies=READ)
def list_categories(
    session: DbSession,
    locale: Locale,
    group: str | None = Query(None, max_length=100, description="only this group (市容环境 …)"),
) -> dict[str, Any]:
    """Active categories by group then code."""
    rows = service.list_categories(session, group=group)
    return {"items": [category_out(c, locale) for c in rows]}


@router.post("/import", dependencies=MANAGE, openapi_extra={"requestBody": _IMPORT_BODY})
def import_catalogue(
    actor: CurrentActor,
    session: DbSession,
    sent: tuple[str, str] = Depends(catalogue_text),
) -> dict[str, Any]:
    """Upsert categories by code and routes by (category, area): all of them or none."""
    name, text = sent
    data = service.read_catalogue_text(text, name=name)
    report = service.import_categories(session, actor, data, by=name)
    return {"created": report.created, "updated": report.updated, "routes": report.routes}


@router.get("/{code}", dependencies=READ)
def get_category(code: str, session: DbSession, locale: Locale) -> dict[str, Any]:
    """One category with its attributes, time limits, department and routes."""
    return category_detail(session, service.get_category(session, code), locale)


@router.post("/{code}/check", dependencies=READ)
def check_answers(code: str, body: AnswersBody, session: DbSession) -> dict[str, Any]:
    """Check a report's answers against the category's form: the normalized answers, or
    a 422 problem naming the attribute (``field``)."""
    category = service.get_category(session, code)
    return {"code": category.code, "answers": service.validate_answers(category, body.answers)}
