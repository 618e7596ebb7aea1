"""Exchange pages: apply for a resource, the request lists (mine / to review / the
bureau's / all), a request with its timeline and the reviewer's decision form, and the
grants with today's usage and the manager's suspend / resume / revoke forms.

Thin like the JSON API (``web/api/exchange.py``): every form calls the same service; a
refused form is shown again with the message naming the field, and the status of the
error (422 for bad input)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from zhili.access import Actor, Role, can
from zhili.calendar.service import WorkCalendar
from zhili.catalog import service as catalog
from zhili.catalog import tableschema
from zhili.clock import CITY_TZ
from zhili.errors import InvalidInput, ZhiliError
from zhili.exchange import grants as grant_service
from zhili.exchange import requests as service
from zhili.exchange import stats
from zhili.exchange.masking import RULES, default_rules
from zhili.exchange.models import Grant, RequestState, ShareRequest
from zhili.settings import Settings
from zhili.web.api.exchange import is_overdue
from zhili.web.deps import CurrentActor, DbSession, Locale, SettingsDep, authorize
from zhili.web.pages.subscriptions import panel as subscription_panel
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
READ = [Depends(authorize("exchange.read"))]
APPLY = [Depends(authorize("exchange.apply"))]
REVIEW = [Depends(authorize("exchange.review"))]
MANAGE = [Depends(authorize("grant.manage"))]

S = RequestState
#: Masking choices of the decision form ("" = shown in clear).
MASK_CHOICES = ("", *RULES)
#: The decision form's ``pattern`` keeps the first and the last character.
PATTERN = {"rule": "pattern", "keep_start": 1, "keep_end": 1, "char": "*"}
ROW_FILTER_EXAMPLE = "district_code in ('120101','120102') and age >= 60"


def local(value: dt.datetime | None) -> str:
    """A timestamp in the city's time zone, to the minute ("—" when there is none)."""
    return value.astimezone(CITY_TZ).strftime("%Y-%m-%d %H:%M") if value else "—"


def _page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    return render(
        request,
        template,
        {"local": local, "overdue": is_overdue, "S": S, **context},
        status_code=status_code,
    )


# --- forms ----------------------------------------------------------------------------


def _date(value: str, name: str) -> dt.date | None:
    text = value.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            "exchange.bad_date",
            "{field}: {value} is not a date (YYYY-MM-DD)",
            field=name,
            value=text,
        ) from None


def _count(value: str, name: str) -> int | None:
    text = value.strip().replace(",", "")
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(
            "exchange.bad_number",
            "{field}: {value} is not a whole number",
            field=name,
            value=value.strip(),
        )
    return int(text)


class RequestForm(BaseModel):
    """The apply (and amend) form, as posted."""

    resource_code: str = ""
    system: str = ""
    purpose: str = ""
    legal_basis: str = ""
    fields: list[str] = Field(default_factory=list)
    row_filter: str = ""
    period_start: str = ""
    period_end: str = ""

    def spec(self, code: str) -> service.RequestSpec:
        if not self.fields:  # the page asks for items explicitly (the API: none = all)
            raise InvalidInput("exchange.required", "{field} is required", field="fields")
        return service.RequestSpec(
            resource_code=code,
            system=self.system,
            purpose=self.purpose,
            legal_basis=self.legal_basis,
            fields=tuple(self.fields),
            row_filter=self.row_filter or None,
            period_start=_date(self.period_start, "period_start"),
            period_end=_date(self.period_end, "period_end"),
        )


class DecisionForm(BaseModel):
    """The approve form: terms of the grant; one masking select per requested item."""

    reason: str = ""
    valid_until: str = ""
    calls_per_day: str = ""
    rows_per_day: str = ""
    no_onward_sharing: bool = False
    mask_field: list[str] = Field(default_factory=list)
    mask_rule: list[str] = Field(default_factory=list)

    def decision(self) -> service.Decision:
        masking: dict[str, object] = {}
        for name, kind in zip(self.mask_field, self.mask_rule, strict=False):
            if kind:
                masking[name] = dict(PATTERN) if kind == "pattern" else {"rule": kind}
        return service.Decision(
            reason=self.reason.strip(),
            masking=masking,
            valid_until=_date(self.valid_until, "valid_until"),
            calls_per_day=_count(self.calls_per_day, "calls_per_day"),
            rows_per_day=_count(self.rows_per_day, "rows_per_day"),
            no_onward_sharing=self.no_onward_sharing,
        )


def _default_form(request: ShareRequest | None = None) -> dict[str, Any]:
    if request is None:
        start = service.today()
        return {
            "fields": [],
            "period_start": start.isoformat(),
            "period_end": (start.replace(year=start.year + 1) - dt.timedelta(days=1)).isoformat(),
        }
    return {
        "system": request.system,
        "purpose": request.purpose,
        "legal_basis": request.legal_basis,
        "fields": list(request.fields),
        "row_filter": request.row_filter or "",
        "period_start": request.period_start.isoformat(),
        "period_end": request.period_end.isoformat(),
    }


def _error(exc: ZhiliError, locale: str) -> dict[str, Any]:
    return {"error": exc.message(locale), "error_field": exc.params.get("field")}


# --- apply ----------------------------------------------------------------------------


def _apply_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    code: str,
    form: dict[str, Any],
    status_code: int = 200,
    **extra: Any,
) -> Response:
    resource = catalog.view_resource(session, actor, code)
    return _page(
        request,
        "exchange_apply.html",
        {
            "r": resource,
            "items": tableschema.items(resource.table_schema),
            "form": form,
            "own": resource.provider_id == actor.org_id,
            "example": ROW_FILTER_EXAMPLE,
            **extra,
        },
        status_code=status_code,
    )


@router.get("/exchange/apply", dependencies=APPLY)
def apply_form(
    request: Request, actor: CurrentActor, session: DbSession, resource: str = ""
) -> Response:
    """The application form for one resource (``?resource=CODE``)."""
    if not resource:
        return RedirectResponse("/catalog", status_code=303)
    return _apply_page(request, session, actor, resource, _default_form())


@router.post("/exchange/apply", dependencies=APPLY)
def apply(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    form: Annotated[RequestForm, Form()],
) -> Response:
    """Create and submit the request, then show it."""
    try:
        created = service.create_request(session, actor, form.spec(form.resource_code))
        _submit(session, actor, created, settings)
    except ZhiliError as exc:
        session.rollback()
        return _apply_page(
            request,
            session,
            actor,
            form.resource_code,
            form.model_dump(),
            status_code=exc.status,
            **_error(exc, locale),
        )
    session.commit()
    return RedirectResponse(f"/exchange/requests/{created.id}", status_code=303)


def _submit(session: DbSession, actor: Actor, request: ShareRequest, settings: Settings) -> None:
    calendar = WorkCalendar.from_session(session)
    service.submit(session, actor, request, calendar, settings.review_policy)


# --- request lists --------------------------------------------------------------------


def request_tabs(actor: Actor) -> list[str]:
    """The list tabs the actor sees: ours always; to review for approvers; the bureau's
    queue for platform admins; everything for platform admins and auditors."""
    tabs = ["consumer"]
    if can(actor, "exchange.review"):
        tabs.append("provider")
    if Role.platform_admin in actor.roles:
        tabs.append("bureau")
    if actor.roles & {Role.platform_admin, Role.auditor}:
        tabs.append("all")
    return tabs


@router.get("/exchange/requests", dependencies=READ)
def requests_page(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    side: str = "",
    state: str = "",
) -> Response:
    tabs = request_tabs(actor)
    if side not in tabs:
        side = tabs[1] if len(tabs) > 1 and not can(actor, "exchange.apply") else tabs[0]
    states = [s.value for s in S]
    items = service.list_requests(
        session, actor, side=side, state=state if state in states else None
    )
    return _page(
        request,
        "exchange_requests.html",
        {"tabs": tabs, "side": side, "state": state, "states": states, "items": items},
    )


# --- one request ----------------------------------------------------------------------


def _applicant(actor: Actor, request: ShareRequest) -> bool:
    return actor.org_id == request.consumer_org_id and can(actor, "exchange.apply", request)


def _request_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    request_id: int,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    found = service.get_request(session, actor, request_id)
    resource = found.resource
    items = {i.name: i for i in tableschema.items(resource.table_schema)}
    defaults = default_rules(resource.table_schema).to_dict()
    form = extra.pop("form", None) or _default_form(found)
    decision = extra.pop("decision", None) or {}
    return _page(
        request,
        "exchange_request.html",
        {
            "r": found,
            "resource": resource,
            "items": items,
            "all_items": list(items.values()),
            "transitions": service.transitions(session, found),
            "can_review": service.may_review(actor, found),
            "applicant": _applicant(actor, found),
            "open_states": service.OPEN,
            "mask_choices": MASK_CHOICES,
            "default_masks": {f: defaults.get(f, {}).get("rule", "") for f in found.fields},
            "form": form,
            "decision": decision,
            "example": ROW_FILTER_EXAMPLE,
            **extra,
        },
        status_code=status_code,
    )


@router.get("/exchange/requests/{request_id}", dependencies=READ)
def request_page(
    request: Request, request_id: int, actor: CurrentActor, session: DbSession
) -> Response:
    return _request_page(request, session, actor, request_id)


def _act(
    request: Request,
    session: DbSession,
    actor: Actor,
    locale: str,
    request_id: int,
    act: Any,
    **on_error: Any,
) -> Response:
    """Run ``act(share_request)``; on success show the request, else the page again with
    the message (and the status of the error)."""
    found = service.get_request(session, actor, request_id)
    try:
        act(found)
    except ZhiliError as exc:
        session.rollback()
        return _request_page(
            request,
            session,
            actor,
            request_id,
            status_code=exc.status,
            **_error(exc, locale),
            **on_error,
        )
    session.commit()
    return RedirectResponse(f"/exchange/requests/{request_id}", status_code=303)


@router.post("/exchange/requests/{request_id}/approve", dependencies=REVIEW)
def approve(
    request: Request,
    request_id: int,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    form: Annotated[DecisionForm, Form()],
) -> Response:
    def act(found: ShareRequest) -> None:
        service.approve(session, actor, found, form.decision())

    return _act(request, session, actor, locale, request_id, act, decision=form.model_dump())


@router.post("/exchange/requests/{request_id}/reject", dependencies=REVIEW)
def reject(
    request: Request,
    request_id: int,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    reason: Annotated[str, Form()] = "",
) -> Response:
    def act(found: ShareRequest) -> None:
        service.reject(session, actor, found, reason)

    return _act(request, session, actor, locale, request_id, act)


@router.post("/exchange/requests/{request_id}/more-info", dependencies=REVIEW)
def more_info(
    request: Request,
    request_id: int,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    reason: Annotated[str, Form()] = "",
) -> Response:
    def act(found: ShareRequest) -> None:
        service.ask_more(session, actor, found, reason)

    return _act(request, session, actor, locale, request_id, act)


@router.post("/exchange/requests/{request_id}/withdraw", dependencies=APPLY)
def withdraw(
    request: Request, request_id: int, actor: CurrentActor, session: DbSession, locale: Locale
) -> Response:
    def act(found: ShareRequest) -> None:
        service.withdraw(session, actor, found)

    return _act(request, session, actor, locale, request_id, act)


@router.post("/exchange/requests/{request_id}/amend", dependencies=APPLY)
def amend(
    request: Request,
    request_id: int,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    form: Annotated[RequestForm, Form()],
) -> Response:
    """Change a returned request and send it for review again."""

    def act(found: ShareRequest) -> None:
        service.amend(session, actor, found, form.spec(found.resource.code))
        _submit(session, actor, found, settings)

    return _act(request, session, actor, locale, request_id, act, form=form.model_dump())


# --- grants ---------------------------------------------------------------------------

GRANT_TABS = ("all", "consumer", "provider")


@router.get("/exchange/grants", dependencies=READ)
def grants_page(
    request: Request, actor: CurrentActor, session: DbSession, side: str = "all"
) -> Response:
    side = side if side in GRANT_TABS else "all"
    items = grant_service.list_grants(session, actor, side=side)
    return _page(
        request, "exchange_grants.html", {"tabs": GRANT_TABS, "side": side, "items": items}
    )


def _grant_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    grant_id: int,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    grant: Grant = grant_service.get_grant(session, actor, grant_id)
    calls, rows = grant_service.usage_today(session, grant, service.today())
    items = {i.name: i for i in tableschema.items(grant.resource.table_schema)}
    return _page(
        request,
        "exchange_grant.html",
        {
            "g": grant,
            "items": items,
            "usage": {"calls": calls, "rows": rows, "day": service.today().isoformat()},
            "can_manage": grant_service.may_manage(actor, grant),
            "subs": subscription_panel(session, actor, grant),
            **extra,
        },
        status_code=status_code,
    )


@router.get("/exchange/grants/{grant_id}", dependencies=READ)
def grant_page(
    request: Request, grant_id: int, actor: CurrentActor, session: DbSession
) -> Response:
    return _grant_page(request, session, actor, grant_id)


@router.post("/exchange/grants/{grant_id}/{action}", dependencies=MANAGE)
def change_grant(
    request: Request,
    grant_id: int,
    action: str,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """``suspend``, ``resume`` or ``revoke`` with a reason, then show the grant."""
    grant = grant_service.get_grant(session, actor, grant_id)
    try:
        grant_service.change_state(session, actor, grant, action, reason)
    except ZhiliError as exc:
        session.rollback()
        return _grant_page(
            request, session, actor, grant_id, status_code=exc.status, **_error(exc, locale)
        )
    session.commit()
    return RedirectResponse(f"/exchange/grants/{grant_id}", status_code=303)


@router.get("/exchange/stats", dependencies=READ)
def stats_page(request: Request, session: DbSession) -> Response:
    """数据共享应用量: what is connected, held and shared, by day, provider, consumer and
    resource, and the review backlog — charts with the same numbers as tables."""
    return _page(request, "exchange_stats.html", {"s": stats.statistics(session)})
