"""The event catalogue (事项目录) on the page: the categories by group (names in zh-CN and
English, the department that handles them, the level that dispatches them, their time
limits), and per category its details and a live preview of its report form.

The form is rendered from the category's Open311 attributes by the ``attribute_fields``
macro of ``grid_form.html`` — the report form reuses it — and the preview can be sent:
the answers are checked exactly as a report's are (`zhili.apps.grid.answers`), the
normalized values or the refusal shown next to the attribute it names.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRouter
from sqlalchemy.orm import Session

from zhili.apps.grid import categories as service
from zhili.apps.grid.models import EventCategory
from zhili.errors import ZhiliError
from zhili.web.deps import DbSession, Locale, authorize
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
READ = [Depends(authorize("grid.read"))]


async def form_items(request: Request) -> list[tuple[str, Any]]:
    """The posted form's fields in order, repeated names kept (checkbox lists)."""
    return list((await request.form()).multi_items())


@router.get("/grid/categories", dependencies=READ)
def categories_page(request: Request, session: DbSession, locale: Locale) -> Response:
    """Every active category, grouped (groups by name, categories by code)."""
    rows = service.list_categories(session)
    groups = [(name, list(items)) for name, items in groupby(rows, key=lambda c: c.group)]
    return render(request, "grid_categories.html", {"groups": groups, "lang": locale})


def _category_page(
    request: Request,
    session: Session,
    locale: str,
    category: EventCategory,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    context = {
        "c": category,
        "lang": locale,
        "routes": service.routes_of(session, category),
        "stages": service.STAGES,
        "values": {},
        "errors": {},
        **extra,
    }
    return render(request, "grid_category.html", context, status_code=status_code)


@router.get("/grid/categories/{code}", dependencies=READ)
def category_page(request: Request, code: str, session: DbSession, locale: Locale) -> Response:
    """One category: details, routes, and its report form (preview)."""
    return _category_page(request, session, locale, service.get_category(session, code))


@router.post("/grid/categories/{code}/check", dependencies=READ)
def check_preview(
    request: Request,
    code: str,
    session: DbSession,
    locale: Locale,
    items: list[tuple[str, Any]] = Depends(form_items),
) -> Response:
    """Check the preview form's answers as a report's would be; nothing is stored."""
    category = service.get_category(session, code)
    answers = service.answers_from_form(items, service.list_codes(category))
    try:
        normalized = service.validate_answers(category, answers)
    except ZhiliError as exc:
        field, message = str(exc.params.get("attribute", "")), exc.message(locale)
        asked = {a["code"] for a in category.attributes if a.get("variable", True)}
        inline = {"errors": {field: message}} if field in asked else {"error": message}
        return _category_page(
            request, session, locale, category, status_code=exc.status, values=answers, **inline
        )
    return _category_page(request, session, locale, category, values=answers, normalized=normalized)
