"""Home: the platform at a glance — organizations, users, the city map."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from zhili.access import ROLES
from zhili.i18n import translate
from zhili.identity.overview import overview
from zhili.web.deps import CurrentActor, DbSession, Locale, authorize
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/", dependencies=[Depends(authorize("page.home"))])
def home(request: Request, actor: CurrentActor, session: DbSession, locale: Locale) -> Response:
    labels = {role: translate(f"role.{role}", locale) for role in ROLES}
    return render(
        request, "home.html", {"overview": overview(session, actor), "role_labels": labels}
    )
