"""The exchange over HTTP: share requests (共享申请) with their review, and the grants
(授权) approvals create. Thin: each route validates its body and calls one service of
``zhili.exchange``; the services check who may act on which request or grant."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.calendar.service import WorkCalendar
from zhili.clock import utcnow
from zhili.exchange import grants as grant_service
from zhili.exchange import requests as service
from zhili.exchange.models import Grant, RequestState, RequestTransition, ShareRequest
from zhili.web.deps import CurrentActor, DbSession, SettingsDep, authorize

router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"])
READ = [Depends(authorize("exchange.read"))]
APPLY = [Depends(authorize("exchange.apply"))]
REVIEW = [Depends(authorize("exchange.review"))]
MANAGE = [Depends(authorize("grant.manage"))]

RequestSide = Literal["consumer", "provider", "bureau", "all"]
GrantSide = Literal["consumer", "provider", "all"]
GrantAction = Literal["suspend", "resume", "revoke"]


# --- bodies ---------------------------------------------------------------------------


class RequestBody(BaseModel):
    """A new request; ``fields`` empty asks for every item of the resource."""

    resource_code: str
    system: str = ""
    purpose: str = ""
    legal_basis: str = ""
    fields: list[str] = Field(default_factory=list)
    row_filter: str | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    submit: bool = Field(default=True, description="send it for review at once")

    def spec(self) -> service.RequestSpec:
        return service.RequestSpec(
            resource_code=self.resource_code,
            system=self.system,
            purpose=self.purpose,
            legal_basis=self.legal_basis,
            fields=tuple(self.fields),
            row_filter=self.row_filter,
            period_start=self.period_start,
            period_end=self.period_end,
        )


class AmendBody(BaseModel):
    """Changes to a draft or a returned request; what is left out stays as it was."""

    system: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    fields: list[str] | None = None
    row_filter: str | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None

    def spec(self, request: ShareRequest) -> service.RequestSpec:
        given = self.model_fields_set

        def pick(name: str) -> Any:
            return getattr(self, name) if name in given else getattr(request, name)

        return service.RequestSpec(
            resource_code=request.resource.code,
            system=pick("system"),
            purpose=pick("purpose"),
            legal_basis=pick("legal_basis"),
            fields=tuple(pick("fields") or ()),
            row_filter=pick("row_filter"),
            period_start=pick("period_start"),
            period_end=pick("period_end"),
        )


class ReasonBody(BaseModel):
    reason: str = ""


class DecisionBody(BaseModel):
    """A reviewer's terms. ``masking`` null means the default rules for personal items;
    ``calls_per_day`` / ``rows_per_day`` null mean no limit."""

    reason: str = ""
    masking: dict[str, Any] | None = None
    valid_until: dt.date | None = None
    calls_per_day: int | None = Field(default=10_000, ge=0)
    rows_per_day: int | None = Field(default=10_000_000, ge=0)
    no_onward_sharing: bool = True
    fields: list[str] | None = None
    row_filter: str | None = None

    def decision(self) -> service.Decision:
        return service.Decision(
            reason=self.reason,
            masking=self.masking,
            valid_until=self.valid_until,
            calls_per_day=self.calls_per_day,
            rows_per_day=self.rows_per_day,
            no_onward_sharing=self.no_onward_sharing,
            fields=self.fields,
            row_filter=self.row_filter,
        )


# --- shapes ---------------------------------------------------------------------------


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def is_overdue(request: ShareRequest, now: dt.datetime | None = None) -> bool:
    """Under review past its deadline (escalation to the bureau follows)."""
    return (
        request.state == RequestState.under_review
        and request.due_at is not None
        and request.due_at < (now or utcnow())
    )


def transition_out(t: RequestTransition) -> dict[str, Any]:
    return {
        "from": t.from_state,
        "to": t.to_state,
        "actor": t.actor,
        "reason": t.reason,
        "at": t.at.isoformat(),
    }


def request_out(
    request: ShareRequest, actor: Actor, session: Session | None = None
) -> dict[str, Any]:
    """A request as JSON; with ``session`` also its transitions (and the grant reloaded,
    as an approval in this session adds it without touching the request's relationship)."""
    if session is not None:
        session.expire(request, ["grant"])
    resource = request.resource
    out: dict[str, Any] = {
        "id": request.id,
        "resource_code": resource.code,
        "resource_name": resource.name,
        "sharing_type": resource.sharing_type,
        "provider": {"code": resource.provider.code, "name": resource.provider.name},
        "consumer": {"code": request.consumer.code, "name": request.consumer.name},
        "applicant": request.applicant,
        "system": request.system,
        "purpose": request.purpose,
        "legal_basis": request.legal_basis,
        "fields": list(request.fields),
        "row_filter": request.row_filter,
        "period_start": _iso(request.period_start),
        "period_end": _iso(request.period_end),
        "state": request.state,
        "reviewer": "provider" if request.reviewer_org_id is not None else "bureau",
        "due_at": _iso(request.due_at),
        "overdue": is_overdue(request),
        "escalated": request.escalated,
        "decision_reason": request.decision_reason,
        "grant_id": request.grant.id if request.grant is not None else None,
        "can_review": service.may_review(actor, request),
        "created_at": _iso(request.created_at),
        "updated_at": _iso(request.updated_at),
    }
    if session is not None:
        out["transitions"] = [transition_out(t) for t in service.transitions(session, request)]
    return out


def grant_out(grant: Grant, actor: Actor, session: Session | None = None) -> dict[str, Any]:
    """A grant as JSON; with ``session`` also today's usage against its quotas."""
    resource = grant.resource
    out: dict[str, Any] = {
        "id": grant.id,
        "request_id": grant.request_id,
        "resource_code": resource.code,
        "resource_name": resource.name,
        "provider": {"code": resource.provider.code, "name": resource.provider.name},
        "consumer": {"code": grant.consumer.code, "name": grant.consumer.name},
        "system": grant.system,
        "purpose": grant.purpose,
        "fields": list(grant.fields),
        "row_filter": grant.row_filter,
        "masking": grant.masking,
        "valid_from": _iso(grant.valid_from),
        "valid_until": _iso(grant.valid_until),
        "calls_per_day": grant.calls_per_day,
        "rows_per_day": grant.rows_per_day,
        "no_onward_sharing": grant.no_onward_sharing,
        "state": grant.state,
        "state_reason": grant.state_reason,
        "approved_by": grant.approved_by,
        "created_at": _iso(grant.created_at),
        "can_manage": grant_service.may_manage(actor, grant),
    }
    if session is not None:
        day = service.today()
        calls, rows = grant_service.usage_today(session, grant, day)
        out["usage"] = {"day": day.isoformat(), "calls": calls, "rows": rows}
    return out


# --- requests -------------------------------------------------------------------------


@router.post("/requests", dependencies=APPLY, status_code=201)
def create(
    body: RequestBody, actor: CurrentActor, session: DbSession, settings: SettingsDep
) -> dict[str, Any]:
    """Apply for a resource for the caller's organization. With ``submit`` (default) the
    request goes to its reviewer at once; an unconditional resource may come back
    already ``active``, with its grant."""
    request = service.create_request(session, actor, body.spec())
    if body.submit:
        calendar = WorkCalendar.from_session(session)
        service.submit(session, actor, request, calendar, settings.review_policy)
    session.commit()
    return request_out(request, actor, session)


@router.get("/requests", dependencies=READ)
def list_requests(
    actor: CurrentActor,
    session: DbSession,
    side: RequestSide = "all",
    state: RequestState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    """``side``: consumer (our requests), provider (to review), bureau (the bureau's
    queue), all (what the caller may see)."""
    items = service.list_requests(session, actor, side=side, state=state, limit=limit)
    return {"items": [request_out(r, actor) for r in items]}


@router.get("/requests/{request_id}", dependencies=READ)
def show_request(request_id: int, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    return request_out(service.get_request(session, actor, request_id), actor, session)


@router.patch("/requests/{request_id}", dependencies=APPLY)
def amend(
    request_id: int, body: AmendBody, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """Change a draft, or a request returned for more information, before (re)submitting."""
    request = service.get_request(session, actor, request_id)
    service.amend(session, actor, request, body.spec(request))
    session.commit()
    return request_out(request, actor, session)


@router.post("/requests/{request_id}/submit", dependencies=APPLY)
def submit(
    request_id: int, actor: CurrentActor, session: DbSession, settings: SettingsDep
) -> dict[str, Any]:
    request = service.get_request(session, actor, request_id)
    calendar = WorkCalendar.from_session(session)
    service.submit(session, actor, request, calendar, settings.review_policy)
    session.commit()
    return request_out(request, actor, session)


@router.post("/requests/{request_id}/withdraw", dependencies=APPLY)
def withdraw(request_id: int, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    request = service.get_request(session, actor, request_id)
    service.withdraw(session, actor, request)
    session.commit()
    return request_out(request, actor, session)


@router.post("/requests/{request_id}/approve", dependencies=REVIEW, status_code=201)
def approve(
    request_id: int, body: DecisionBody, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """Approve under the given terms; 201 with the grant the approval created."""
    request = service.get_request(session, actor, request_id)
    grant = service.approve(session, actor, request, body.decision())
    session.commit()
    return grant_out(grant, actor, session)


@router.post("/requests/{request_id}/reject", dependencies=REVIEW)
def reject(
    request_id: int, actor: CurrentActor, session: DbSession, body: ReasonBody | None = None
) -> dict[str, Any]:
    """Reject; the reason is required and shown to the applicant."""
    request = service.get_request(session, actor, request_id)
    service.reject(session, actor, request, body.reason if body else "")
    session.commit()
    return request_out(request, actor, session)


@router.post("/requests/{request_id}/more-info", dependencies=REVIEW)
def more_info(
    request_id: int, actor: CurrentActor, session: DbSession, body: ReasonBody | None = None
) -> dict[str, Any]:
    """Return the request to the applicant for more information (补充材料)."""
    request = service.get_request(session, actor, request_id)
    service.ask_more(session, actor, request, body.reason if body else "")
    session.commit()
    return request_out(request, actor, session)


# --- grants ---------------------------------------------------------------------------


@router.get("/grants", dependencies=READ)
def list_grants(
    actor: CurrentActor,
    session: DbSession,
    side: GrantSide = "all",
    resource: str | None = None,
) -> dict[str, Any]:
    items = grant_service.list_grants(session, actor, side=side, resource_code=resource)
    return {"items": [grant_out(g, actor) for g in items]}


@router.get("/grants/{grant_id}", dependencies=READ)
def show_grant(grant_id: int, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    """One grant with today's usage (calls, rows) against its quotas."""
    return grant_out(grant_service.get_grant(session, actor, grant_id), actor, session)


@router.post("/grants/{grant_id}/{action}", dependencies=MANAGE)
def change_grant(
    grant_id: int,
    action: GrantAction,
    actor: CurrentActor,
    session: DbSession,
    body: ReasonBody | None = None,
) -> dict[str, Any]:
    """``suspend``, ``resume`` or ``revoke`` (final); the reason is required and recorded."""
    found = grant_service.get_grant(session, actor, grant_id)
    grant_service.change_state(session, actor, found, action, body.reason if body else "")
    session.commit()
    return grant_out(found, actor, session)


@router.get("/stats", dependencies=READ)
def statistics(
    session: DbSession, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> dict[str, Any]:
    """Sharing statistics (数据共享应用量): departments connected, resources, rows held and
    shared, calls, active grants, requests pending / overdue / escalated; rows and calls
    per day and by provider, consumer and resource."""
    from zhili.exchange import stats

    return stats.statistics(session, days)
