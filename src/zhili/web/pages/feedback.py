"""Objection (数据异议) and demand (供需对接) pages: the lists, the form a consumer holding a
grant uses to dispute rows or items, an objection with its timeline, the provider's answer
form and the consumer's accept / reopen; the marketplace of data needs with the publish
form, a demand with its answers, the providers' answer form and the publisher's accept.

Thin like the JSON API (``web/api/feedback.py``): every form calls the same service; a
refused form is shown again with the message naming the field, with the error's status."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor, Role
from zhili.calendar.service import WorkCalendar
from zhili.catalog import service as catalog
from zhili.catalog import tableschema
from zhili.catalog.models import LakeVersion, Resource
from zhili.errors import Forbidden, InvalidInput, ZhiliError
from zhili.exchange import demands as demand_service
from zhili.exchange import objections as service
from zhili.exchange.feedback_models import Demand, DemandState, Objection, ObjectionState
from zhili.web.deps import CurrentActor, DbSession, Locale, SettingsDep, authorize
from zhili.web.pages.exchange import local
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
READ = [Depends(authorize("objection.read"))]
RAISE = [Depends(authorize("objection.raise"))]
ANSWER = [Depends(authorize("objection.answer"))]
DEMAND_READ = [Depends(authorize("demand.read"))]
PUBLISH = [Depends(authorize("demand.publish"))]
DEMAND_ANSWER = [Depends(authorize("demand.answer"))]

OBJECTION_TABS = ("all", "consumer", "provider")
DEMAND_TABS = ("all", "mine", "to_us")
#: Row keys shown on an objection's page before "… and N more".
SHOWN_KEYS = 100


def _page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    return render(
        request,
        template,
        {
            "local": local,
            "overdue": service.is_overdue,
            "late": demand_service.is_late,
            **context,
        },
        status_code=status_code,
    )


def _error(exc: ZhiliError, locale: str) -> dict[str, Any]:
    return {"error": exc.message(locale), "error_field": exc.params.get("field")}


def _int(value: str, name: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(
            "exchange.bad_number", "{field}: {value} is not a whole number", field=name, value=text
        )
    return int(text)


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


# --- objections: list -----------------------------------------------------------------


@router.get("/exchange/objections", dependencies=READ)
def objections_page(
    request: Request, actor: CurrentActor, session: DbSession, side: str = "all", state: str = ""
) -> Response:
    tabs = [*OBJECTION_TABS, *(["bureau"] if Role.platform_admin in actor.roles else [])]
    side = side if side in tabs else "all"
    states = [s.value for s in ObjectionState]
    state = state if state in states else ""
    items = service.list_objections(session, actor, side=side, state=state or None)
    return _page(
        request,
        "exchange_objections.html",
        {"tabs": tabs, "side": side, "state": state, "states": states, "items": items},
    )


# --- objections: raise ----------------------------------------------------------------


def _versions(session: Session, resource: Resource) -> list[LakeVersion]:
    return list(
        session.scalars(
            select(LakeVersion)
            .where(LakeVersion.resource_id == resource.id)
            .order_by(LakeVersion.version.desc())
        )
    )


def _new_page(
    request: Request,
    session: Session,
    actor: Actor,
    code: str,
    form: dict[str, Any],
    status_code: int = 200,
    **extra: Any,
) -> Response:
    resource = catalog.view_resource(session, actor, code)
    if actor.org_id is None or not service.has_grant(session, actor.org_id, resource):
        raise Forbidden(
            "objection.no_grant", "your organization received no data of {code}", code=code
        )
    return _page(
        request,
        "exchange_objection_new.html",
        {
            "r": resource,
            "items": tableschema.items(resource.table_schema),
            "versions": _versions(session, resource),
            "pk": service.primary_key(resource),
            "form": form,
            "max_keys": service.MAX_ROW_KEYS,
            "max_mb": service.MAX_EVIDENCE_BYTES // (1024 * 1024),
            **extra,
        },
        status_code=status_code,
    )


@router.get("/exchange/objections/new", dependencies=RAISE)
def new_objection(
    request: Request, actor: CurrentActor, session: DbSession, resource: str = ""
) -> Response:
    """The objection form for one resource the organization received (``?resource=CODE``)."""
    if not resource:
        return RedirectResponse("/exchange/grants?side=consumer", status_code=303)
    found = catalog.view_resource(session, actor, resource)
    form = {"version": str(found.current_version or ""), "fields": [], "row_keys": ""}
    return _new_page(request, session, actor, resource, form)


def _row_keys(session: Session, code: str, text: str) -> list[Any]:
    """One key per line; the values of a composite key separated by commas or tabs."""
    resource = session.scalar(select(Resource).where(Resource.code == code))
    composite = resource is not None and len(service.primary_key(resource)) > 1
    keys: list[Any] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        keys.append([v.strip() for v in line.replace("\t", ",").split(",")] if composite else line)
    return keys


@router.post("/exchange/objections", dependencies=RAISE)
def raise_objection(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    resource_code: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    row_keys: Annotated[str, Form()] = "",
    fields: Annotated[list[str] | None, Form()] = None,
    description: Annotated[str, Form()] = "",
    evidence: Annotated[str, Form()] = "",
    evidence_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Record the objection (and its evidence file), then show it."""
    form = {
        "version": version,
        "row_keys": row_keys,
        "fields": fields or [],
        "description": description,
        "evidence": evidence,
    }
    try:
        spec = service.ObjectionSpec(
            resource_code=resource_code,
            version=_int(version, "version"),
            row_keys=tuple(_row_keys(session, resource_code, row_keys)),
            fields=tuple(fields or ()),
            description=description,
            evidence=evidence,
        )
        calendar = WorkCalendar.from_session(session)
        created = service.raise_objection(session, actor, spec, calendar, settings.objection_days)
        if evidence_file is not None and evidence_file.filename:
            service.attach_evidence(
                session, actor, created, settings.home, evidence_file.filename, evidence_file.file
            )
    except ZhiliError as exc:
        session.rollback()
        return _new_page(
            request,
            session,
            actor,
            resource_code,
            form,
            status_code=exc.status,
            **_error(exc, locale),
        )
    session.commit()
    return RedirectResponse(f"/exchange/objections/{created.id}", status_code=303)


# --- objections: one ------------------------------------------------------------------


def _objection_page(
    request: Request,
    session: Session,
    actor: Actor,
    objection_id: int,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    found: Objection = service.get_objection(session, actor, objection_id)
    can_answer = service.may_answer(actor, found)
    newer = [v for v in _versions(session, found.resource) if v.version > found.version]
    return _page(
        request,
        "exchange_objection.html",
        {
            "o": found,
            "resource": found.resource,
            "items": {i.name: i for i in tableschema.items(found.resource.table_schema)},
            "pk": service.primary_key(found.resource),
            "keys": found.row_keys[:SHOWN_KEYS],
            "more_keys": max(len(found.row_keys) - SHOWN_KEYS, 0),
            "transitions": service.transitions(session, found),
            "can_answer": can_answer,
            "newer_versions": newer,
            "consumer": service.is_consumer(actor, found),
            "answered": found.state in service.ANSWERED,
            **extra,
        },
        status_code=status_code,
    )


@router.get("/exchange/objections/{objection_id}", dependencies=READ)
def objection_page(
    request: Request, objection_id: int, actor: CurrentActor, session: DbSession
) -> Response:
    return _objection_page(request, session, actor, objection_id)


def _act(
    request: Request,
    session: Session,
    actor: Actor,
    locale: str,
    objection_id: int,
    act: Any,
) -> Response:
    """Run ``act(objection)``; on success show the objection, else the page again with the
    message (and the status of the error)."""
    found = service.get_objection(session, actor, objection_id)
    try:
        act(found)
    except ZhiliError as exc:
        session.rollback()
        return _objection_page(
            request, session, actor, objection_id, status_code=exc.status, **_error(exc, locale)
        )
    session.commit()
    return RedirectResponse(f"/exchange/objections/{objection_id}", status_code=303)


@router.post("/exchange/objections/{objection_id}/answer", dependencies=ANSWER)
def answer_objection(
    request: Request,
    objection_id: int,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    outcome: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    def act(found: Objection) -> None:
        service.answer(
            session,
            actor,
            found,
            outcome=outcome,
            version=_int(version, "version"),
            reason=reason,
        )

    return _act(request, session, actor, locale, objection_id, act)


@router.post("/exchange/objections/{objection_id}/close", dependencies=RAISE)
def close_objection(
    request: Request,
    objection_id: int,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    reason: Annotated[str, Form()] = "",
) -> Response:
    def act(found: Objection) -> None:
        service.close(session, actor, found, reason)

    return _act(request, session, actor, locale, objection_id, act)


@router.post("/exchange/objections/{objection_id}/reopen", dependencies=RAISE)
def reopen_objection(
    request: Request,
    objection_id: int,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    reason: Annotated[str, Form()] = "",
) -> Response:
    def act(found: Objection) -> None:
        calendar = WorkCalendar.from_session(session)
        service.reopen(session, actor, found, reason, calendar, settings.objection_days)

    return _act(request, session, actor, locale, objection_id, act)


# --- demands --------------------------------------------------------------------------


def _demands_page(
    request: Request,
    session: Session,
    actor: Actor,
    side: str = "all",
    state: str = "",
    status_code: int = 200,
    **extra: Any,
) -> Response:
    side = side if side in DEMAND_TABS else "all"
    states = [s.value for s in DemandState]
    state = state if state in states else ""
    items = demand_service.list_demands(session, actor, side=side, state=state or None)
    return _page(
        request,
        "exchange_demands.html",
        {
            "tabs": DEMAND_TABS,
            "side": side,
            "state": state,
            "states": states,
            "items": items,
            "form": extra.pop("form", None) or {},
            "min_date": demand_service.today().isoformat(),
            **extra,
        },
        status_code=status_code,
    )


@router.get("/exchange/demands", dependencies=DEMAND_READ)
def demands_page(
    request: Request, actor: CurrentActor, session: DbSession, side: str = "all", state: str = ""
) -> Response:
    return _demands_page(request, session, actor, side, state)


@router.post("/exchange/demands", dependencies=PUBLISH)
def publish_demand(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    title: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    items: Annotated[str, Form()] = "",
    purpose: Annotated[str, Form()] = "",
    target_org: Annotated[str, Form()] = "",
    deadline: Annotated[str, Form()] = "",
) -> Response:
    """Publish the need, then show it."""
    form = {
        "title": title,
        "description": description,
        "items": items,
        "purpose": purpose,
        "target_org": target_org,
        "deadline": deadline,
    }
    try:
        spec = demand_service.DemandSpec(
            title=title,
            description=description,
            items=items,
            purpose=purpose,
            deadline=_date(deadline, "deadline"),
            target_org=target_org,
        )
        demand = demand_service.publish(session, actor, spec)
    except ZhiliError as exc:
        session.rollback()
        return _demands_page(
            request, session, actor, status_code=exc.status, form=form, **_error(exc, locale)
        )
    session.commit()
    return RedirectResponse(f"/exchange/demands/{demand.id}", status_code=303)


def _demand_page(
    request: Request,
    session: Session,
    actor: Actor,
    demand_id: int,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    found: Demand = demand_service.get_demand(session, actor, demand_id)
    return _page(
        request,
        "exchange_demand.html",
        {
            "d": found,
            "answers": demand_service.answers(session, found),
            "transitions": demand_service.transitions(session, found),
            "can_answer": demand_service.may_answer(actor, found),
            "publisher": demand_service.is_publisher(actor, found),
            "form": extra.pop("form", None) or {"kind": "resource"},
            "min_date": demand_service.today().isoformat(),
            **extra,
        },
        status_code=status_code,
    )


@router.get("/exchange/demands/{demand_id}", dependencies=DEMAND_READ)
def demand_page(
    request: Request, demand_id: int, actor: CurrentActor, session: DbSession
) -> Response:
    return _demand_page(request, session, actor, demand_id)


@router.post("/exchange/demands/{demand_id}/answers", dependencies=DEMAND_ANSWER)
def answer_demand(
    request: Request,
    demand_id: int,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    kind: Annotated[str, Form()] = "resource",
    resource_code: Annotated[str, Form()] = "",
    plan: Annotated[str, Form()] = "",
    planned_date: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Answer with a resource or a plan (the form's ``kind`` picks which is sent)."""
    form = {
        "kind": kind,
        "resource_code": resource_code,
        "plan": plan,
        "planned_date": planned_date,
        "note": note,
    }
    found = demand_service.get_demand(session, actor, demand_id)
    try:
        by_plan = kind == "plan"
        spec = demand_service.AnswerSpec(
            resource_code=None if by_plan else resource_code,
            plan=plan if by_plan else None,
            planned_date=_date(planned_date, "planned_date") if by_plan else None,
            note=note,
        )
        demand_service.answer(session, actor, found, spec)
    except ZhiliError as exc:
        session.rollback()
        return _demand_page(
            request,
            session,
            actor,
            demand_id,
            status_code=exc.status,
            form=form,
            **_error(exc, locale),
        )
    session.commit()
    return RedirectResponse(f"/exchange/demands/{demand_id}", status_code=303)


@router.post("/exchange/demands/{demand_id}/close", dependencies=PUBLISH)
def close_demand(
    request: Request,
    demand_id: int,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    answer_id: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Accept an answer and close (or close with a reason when no answer fits)."""
    found = demand_service.get_demand(session, actor, demand_id)
    try:
        demand_service.close(
            session, actor, found, answer_id=_int(answer_id, "answer_id"), reason=reason
        )
    except ZhiliError as exc:
        session.rollback()
        return _demand_page(
            request, session, actor, demand_id, status_code=exc.status, **_error(exc, locale)
        )
    session.commit()
    return RedirectResponse(f"/exchange/demands/{demand_id}", status_code=303)
