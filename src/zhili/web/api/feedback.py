"""Objections (数据异议) and demands (供需对接) over HTTP. Thin: each route validates its
body and calls one service of ``zhili.exchange.objections`` / ``zhili.exchange.demands``,
which check who may act on which objection or demand."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.calendar.service import WorkCalendar
from zhili.exchange import demands as demand_service
from zhili.exchange import objections as service
from zhili.exchange.feedback_models import (
    Demand,
    DemandAnswer,
    DemandState,
    DemandTransition,
    Objection,
    ObjectionState,
    ObjectionTransition,
)
from zhili.web.deps import CurrentActor, DbSession, SettingsDep, authorize

router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"])
READ = [Depends(authorize("objection.read"))]
RAISE = [Depends(authorize("objection.raise"))]
ANSWER = [Depends(authorize("objection.answer"))]
DEMAND_READ = [Depends(authorize("demand.read"))]
PUBLISH = [Depends(authorize("demand.publish"))]
DEMAND_ANSWER = [Depends(authorize("demand.answer"))]

ObjectionSide = Literal["consumer", "provider", "bureau", "all"]
DemandSide = Literal["all", "mine", "to_us"]
RowKey = str | int | list[str | int]


# --- bodies ---------------------------------------------------------------------------


class ObjectionBody(BaseModel):
    """A dispute of rows (primary-key values; a list per row for composite keys) and/or
    items of one version the consumer read."""

    resource_code: str
    version: int | None = None
    row_keys: list[RowKey] = Field(default_factory=list)
    fields: list[str] = Field(default_factory=list)
    description: str = ""
    evidence: str = ""

    def spec(self) -> service.ObjectionSpec:
        return service.ObjectionSpec(
            resource_code=self.resource_code,
            version=self.version,
            row_keys=tuple(self.row_keys),
            fields=tuple(self.fields),
            description=self.description,
            evidence=self.evidence,
        )


class AnswerBody(BaseModel):
    """``corrected`` with the ``version`` that fixes it, or ``rejected`` with a reason."""

    outcome: Literal["corrected", "rejected"]
    version: int | None = None
    reason: str = ""


class NoteBody(BaseModel):
    reason: str = ""


class DemandBody(BaseModel):
    title: str = ""
    description: str = ""
    items: str = Field(default="", description="the wanted items, free text")
    purpose: str = ""
    target_org: str | None = Field(default=None, description="code of the provider addressed")
    deadline: dt.date | None = Field(default=None, description="the date the data is needed by")

    def spec(self) -> demand_service.DemandSpec:
        return demand_service.DemandSpec(
            title=self.title,
            description=self.description,
            items=self.items,
            purpose=self.purpose,
            deadline=self.deadline,
            target_org=self.target_org,
        )


class DemandAnswerBody(BaseModel):
    """Either ``resource_code`` (an existing catalog resource) or ``plan`` + ``planned_date``."""

    resource_code: str | None = None
    plan: str | None = None
    planned_date: dt.date | None = None
    note: str = ""

    def spec(self) -> demand_service.AnswerSpec:
        return demand_service.AnswerSpec(
            resource_code=self.resource_code,
            plan=self.plan,
            planned_date=self.planned_date,
            note=self.note,
        )


class CloseDemandBody(BaseModel):
    answer_id: int | None = Field(default=None, description="the answer accepted")
    reason: str = ""


# --- shapes ---------------------------------------------------------------------------


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _step(t: ObjectionTransition | DemandTransition) -> dict[str, Any]:
    return {
        "from": t.from_state,
        "to": t.to_state,
        "actor": t.actor,
        "reason": t.reason,
        "at": t.at.isoformat(),
    }


def objection_out(
    objection: Objection, actor: Actor, session: Session | None = None
) -> dict[str, Any]:
    """An objection as JSON; with ``session`` also its transitions."""
    resource = objection.resource
    out: dict[str, Any] = {
        "id": objection.id,
        "resource_code": resource.code,
        "resource_name": resource.name,
        "provider": {"code": resource.provider.code, "name": resource.provider.name},
        "consumer": {"code": objection.consumer.code, "name": objection.consumer.name},
        "raised_by": objection.raised_by,
        "version": objection.version,
        "row_keys": list(objection.row_keys),
        "fields": list(objection.fields),
        "description": objection.description,
        "evidence": objection.evidence,
        "evidence_file": (
            {"name": objection.evidence_file, "bytes": objection.evidence_size}
            if objection.evidence_file
            else None
        ),
        "state": objection.state,
        "due_at": _iso(objection.due_at),
        "overdue": service.is_overdue(objection),
        "escalated": objection.escalated,
        "reopened": objection.reopened,
        "corrected_version": objection.corrected_version,
        "answer": objection.answer,
        "answered_by": objection.answered_by,
        "answered_at": _iso(objection.answered_at),
        "can_answer": service.may_answer(actor, objection),
        "is_consumer": service.is_consumer(actor, objection),
        "created_at": _iso(objection.created_at),
        "updated_at": _iso(objection.updated_at),
    }
    if session is not None:
        out["transitions"] = [_step(t) for t in service.transitions(session, objection)]
    return out


def answer_out(item: DemandAnswer) -> dict[str, Any]:
    resource = item.resource
    return {
        "id": item.id,
        "org": {"code": item.org.code, "name": item.org.name},
        "answered_by": item.answered_by,
        "kind": item.kind,
        "resource": {"code": resource.code, "name": resource.name} if resource else None,
        "plan": item.plan,
        "planned_date": _iso(item.planned_date),
        "note": item.note,
        "created_at": _iso(item.created_at),
    }


def demand_out(demand: Demand, actor: Actor, session: Session | None = None) -> dict[str, Any]:
    """A demand as JSON; with ``session`` also its answers and transitions."""
    target = demand.target
    out: dict[str, Any] = {
        "id": demand.id,
        "org": {"code": demand.org.code, "name": demand.org.name},
        "published_by": demand.published_by,
        "title": demand.title,
        "description": demand.description,
        "items": demand.items,
        "purpose": demand.purpose,
        "target_org": {"code": target.code, "name": target.name} if target else None,
        "deadline": _iso(demand.deadline),
        "late": demand_service.is_late(demand),
        "state": demand.state,
        "accepted_answer_id": demand.accepted_answer_id,
        "can_answer": demand_service.may_answer(actor, demand),
        "is_publisher": demand_service.is_publisher(actor, demand),
        "created_at": _iso(demand.created_at),
        "updated_at": _iso(demand.updated_at),
    }
    if session is not None:
        out["answers"] = [answer_out(a) for a in demand_service.answers(session, demand)]
        out["transitions"] = [_step(t) for t in demand_service.transitions(session, demand)]
    return out


# --- objections -----------------------------------------------------------------------


@router.post("/objections", dependencies=RAISE, status_code=201)
def raise_objection(
    body: ObjectionBody, actor: CurrentActor, session: DbSession, settings: SettingsDep
) -> dict[str, Any]:
    """Dispute rows and/or items of a resource the caller's organization received under a
    grant; the provider's deadline starts now (``ZHILI_OBJECTION_DAYS`` working days)."""
    calendar = WorkCalendar.from_session(session)
    objection = service.raise_objection(
        session, actor, body.spec(), calendar, settings.objection_days
    )
    session.commit()
    return objection_out(objection, actor, session)


@router.get("/objections", dependencies=READ)
def list_objections(
    actor: CurrentActor,
    session: DbSession,
    side: ObjectionSide = "all",
    state: ObjectionState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    """``side``: consumer (raised by us), provider (about our resources), bureau
    (escalated, waiting), all (what the caller may see)."""
    items = service.list_objections(session, actor, side=side, state=state, limit=limit)
    return {"items": [objection_out(o, actor) for o in items]}


@router.get("/objections/{objection_id}", dependencies=READ)
def show_objection(objection_id: int, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    return objection_out(service.get_objection(session, actor, objection_id), actor, session)


@router.post("/objections/{objection_id}/evidence", dependencies=RAISE)
def attach_evidence(
    objection_id: int,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="at most 10 MB; replaces an earlier file")],
) -> dict[str, Any]:
    """Attach the evidence file (multipart) while the provider has still to answer."""
    objection = service.get_objection(session, actor, objection_id)
    service.attach_evidence(session, actor, objection, settings.home, file.filename, file.file)
    session.commit()
    return objection_out(objection, actor, session)


@router.get("/objections/{objection_id}/evidence", dependencies=READ)
def download_evidence(
    objection_id: int, actor: CurrentActor, session: DbSession, settings: SettingsDep
) -> FileResponse:
    """The evidence file, always as a download (never rendered by the browser)."""
    objection = service.get_objection(session, actor, objection_id)
    path = service.evidence_path(settings.home, objection)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=path.name,
        headers={"X-Content-Type-Options": "nosniff"},
    )


@router.post("/objections/{objection_id}/answer", dependencies=ANSWER)
def answer_objection(
    objection_id: int, body: AnswerBody, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """The provider's answer: corrected in ``version`` (newer than the disputed one), or
    rejected with a ``reason``."""
    objection = service.get_objection(session, actor, objection_id)
    service.answer(
        session, actor, objection, outcome=body.outcome, version=body.version, reason=body.reason
    )
    session.commit()
    return objection_out(objection, actor, session)


@router.post("/objections/{objection_id}/close", dependencies=RAISE)
def close_objection(
    objection_id: int, actor: CurrentActor, session: DbSession, body: NoteBody | None = None
) -> dict[str, Any]:
    """The consumer accepts the answer."""
    objection = service.get_objection(session, actor, objection_id)
    service.close(session, actor, objection, body.reason if body else "")
    session.commit()
    return objection_out(objection, actor, session)


@router.post("/objections/{objection_id}/reopen", dependencies=RAISE)
def reopen_objection(
    objection_id: int,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    body: NoteBody | None = None,
) -> dict[str, Any]:
    """The consumer disagrees with the answer (once; reason required): a new deadline."""
    objection = service.get_objection(session, actor, objection_id)
    calendar = WorkCalendar.from_session(session)
    service.reopen(
        session, actor, objection, body.reason if body else "", calendar, settings.objection_days
    )
    session.commit()
    return objection_out(objection, actor, session)


# --- demands --------------------------------------------------------------------------


@router.post("/demands", dependencies=PUBLISH, status_code=201)
def publish_demand(body: DemandBody, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    """Publish a data need of the caller's organization."""
    demand = demand_service.publish(session, actor, body.spec())
    session.commit()
    return demand_out(demand, actor, session)


@router.get("/demands", dependencies=DEMAND_READ)
def list_demands(
    actor: CurrentActor,
    session: DbSession,
    side: DemandSide = "all",
    state: DemandState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    """Every published need (``side``: all, mine, to_us — addressed to our organization)."""
    items = demand_service.list_demands(session, actor, side=side, state=state, limit=limit)
    return {"items": [demand_out(d, actor) for d in items]}


@router.get("/demands/{demand_id}", dependencies=DEMAND_READ)
def show_demand(demand_id: int, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    return demand_out(demand_service.get_demand(session, actor, demand_id), actor, session)


@router.post("/demands/{demand_id}/answers", dependencies=DEMAND_ANSWER, status_code=201)
def answer_demand(
    demand_id: int, body: DemandAnswerBody, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """Answer with a catalog resource or a plan; 201 with the demand and its answers."""
    demand = demand_service.get_demand(session, actor, demand_id)
    demand_service.answer(session, actor, demand, body.spec())
    session.commit()
    return demand_out(demand, actor, session)


@router.post("/demands/{demand_id}/close", dependencies=PUBLISH)
def close_demand(
    demand_id: int, actor: CurrentActor, session: DbSession, body: CloseDemandBody | None = None
) -> dict[str, Any]:
    """Accept an answer (``answer_id``) and close; without one a reason is required."""
    demand = demand_service.get_demand(session, actor, demand_id)
    body = body or CloseDemandBody()
    demand_service.close(session, actor, demand, answer_id=body.answer_id, reason=body.reason)
    session.commit()
    return demand_out(demand, actor, session)
