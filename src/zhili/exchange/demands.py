"""Demands (供需对接): a department publishes a data need, providers answer it.

::

    open → answered (the first answer) → closed (the publisher accepts an answer,
                                                 or closes with a reason)

A demand names a title, a description, the wanted items (free text), the purpose, an
optional target provider and the date by which the data is needed. Every signed-in user
sees the list — it is a marketplace of needs. Providers (their data stewards and org
admins; the bureau as matchmaker) answer with either a link to an existing catalog
resource or a plan: what will be provided, by which date. When a demand names a target
provider, only that organization (and the bureau) answers. Every transition is a row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor, Role, can, require
from zhili.clock import utcnow
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhili.exchange.feedback_models import (
    AnswerKind,
    Demand,
    DemandAnswer,
    DemandState,
    DemandTransition,
)
from zhili.exchange.objections import find_resource
from zhili.exchange.requests import _text, _who, today
from zhili.identity.models import Organization

S = DemandState
MAX_TITLE = 200


@dataclass(frozen=True)
class DemandSpec:
    """A published data need; ``target_org`` is an organization code (or empty)."""

    title: str
    description: str
    items: str
    purpose: str
    deadline: dt.date | None
    target_org: str | None = None


@dataclass(frozen=True)
class AnswerSpec:
    """A provider's answer: ``resource_code`` (a link) or ``plan`` with ``planned_date``."""

    resource_code: str | None = None
    plan: str | None = None
    planned_date: dt.date | None = None
    note: str = ""


def _move(
    session: Session, demand: Demand, to: DemandState, actor: str, reason: str | None
) -> None:
    session.add(
        DemandTransition(
            demand_id=demand.id, from_state=demand.state, to_state=to, actor=actor, reason=reason
        )
    )
    demand.state = to
    demand.updated_at = utcnow()


def _not_past(day: dt.date | None, field: str) -> dt.date:
    if day is None:
        raise InvalidInput("exchange.required", "{field} is required", field=field)
    if day < today():
        raise InvalidInput(
            "demand.date_past",
            "{field}: {date} is in the past",
            field=field,
            date=day.isoformat(),
        )
    return day


def _target(session: Session, code: str | None, own: int) -> int | None:
    code = (code or "").strip()
    if not code:
        return None
    org = session.scalar(select(Organization).where(Organization.code == code))
    if org is None:
        raise InvalidInput(
            "demand.unknown_org", "{field}: no organization {code}", field="target_org", code=code
        )
    if org.id == own:
        raise InvalidInput(
            "demand.own_target",
            "{field}: a need is addressed to another organization",
            field="target_org",
        )
    return org.id


def publish(session: Session, actor: Actor, spec: DemandSpec) -> Demand:
    """Publish a data need for the actor's organization."""
    require(actor, "demand.publish")
    if actor.org_id is None:
        raise Forbidden("exchange.no_org", "only members of an organization can apply")
    title = _text(spec.title, "title")
    if len(title) > MAX_TITLE:
        raise InvalidInput(
            "demand.too_long", "{field}: at most {max} characters", field="title", max=MAX_TITLE
        )
    now = utcnow()
    demand = Demand(
        org_id=actor.org_id,
        published_by_id=actor.user_id,
        published_by=actor.username,
        title=title,
        description=_text(spec.description, "description"),
        items=_text(spec.items, "items"),
        purpose=_text(spec.purpose, "purpose"),
        target_org_id=_target(session, spec.target_org, actor.org_id),
        deadline=_not_past(spec.deadline, "deadline"),
        state=S.open,
        created_at=now,
        updated_at=now,
    )
    session.add(demand)
    session.flush()
    session.add(
        DemandTransition(
            demand_id=demand.id, from_state=None, to_state=S.open, actor=_who(actor), reason=None
        )
    )
    session.refresh(demand)
    return demand


def get_demand(session: Session, actor: Actor, demand_id: int) -> Demand:
    """Any signed-in user sees any demand."""
    require(actor, "demand.read")
    demand = session.get(Demand, demand_id)
    if demand is None:
        raise NotFound("demand.not_found", "no demand {id}", id=demand_id)
    return demand


def list_demands(
    session: Session,
    actor: Actor,
    *,
    side: str = "all",
    state: str | None = None,
    limit: int = 200,
) -> list[Demand]:
    """``side``: all, mine (published by our organization), to_us (addressed to us)."""
    require(actor, "demand.read")
    stmt = select(Demand).order_by(Demand.id.desc()).limit(limit)
    if side == "mine":
        stmt = stmt.where(Demand.org_id == actor.org_id)
    elif side == "to_us":
        stmt = stmt.where(Demand.target_org_id == actor.org_id)
    if state:
        stmt = stmt.where(Demand.state == state)
    return list(session.scalars(stmt).unique())


def answers(session: Session, demand: Demand) -> list[DemandAnswer]:
    return list(
        session.scalars(
            select(DemandAnswer)
            .where(DemandAnswer.demand_id == demand.id)
            .order_by(DemandAnswer.id)
        )
    )


def transitions(session: Session, demand: Demand) -> list[DemandTransition]:
    return list(
        session.scalars(
            select(DemandTransition)
            .where(DemandTransition.demand_id == demand.id)
            .order_by(DemandTransition.id)
        )
    )


def is_late(demand: Demand, day: dt.date | None = None) -> bool:
    """Still not closed after the date the data was needed by."""
    return demand.state != S.closed and demand.deadline < (day or today())


def may_answer(actor: Actor, demand: Demand) -> bool:
    """Another organization's stewards or admins (the target's, when one is named); the
    bureau (platform admins) on any open demand."""
    if demand.state == S.closed or not can(actor, "demand.answer"):
        return False
    if Role.platform_admin in actor.roles:
        return True
    if actor.org_id is None or actor.org_id == demand.org_id:
        return False
    return demand.target_org_id is None or demand.target_org_id == actor.org_id


def is_publisher(actor: Actor, demand: Demand) -> bool:
    return actor.org_id == demand.org_id and can(actor, "demand.publish")


def _expect(demand: Demand, *states: DemandState) -> None:
    if demand.state not in states:
        raise Conflict(
            "demand.bad_state",
            "demand {id} is {state}; this needs {expected}",
            id=demand.id,
            state=demand.state,
            expected=" / ".join(states),
        )


def answer(session: Session, actor: Actor, demand: Demand, spec: AnswerSpec) -> DemandAnswer:
    """Answer with a catalog resource (it must exist) or a plan (text and a date)."""
    require(actor, "demand.answer")
    _expect(demand, S.open, S.answered)
    if not may_answer(actor, demand):
        raise Forbidden("demand.not_answerer", "you cannot answer demand {id}", id=demand.id)
    if actor.org_id is None:
        raise Forbidden("exchange.no_org", "only members of an organization can apply")
    code = (spec.resource_code or "").strip()
    plan = (spec.plan or "").strip()
    if code and plan:
        raise InvalidInput(
            "demand.one_answer",
            "{field}: link a resource or state a plan, not both",
            field="plan",
        )
    item = DemandAnswer(
        demand_id=demand.id,
        org_id=actor.org_id,
        answered_by=_who(actor),
        note=(spec.note or "").strip(),
        created_at=utcnow(),
    )
    if code:
        item.kind = AnswerKind.resource
        item.resource_id = find_resource(session, code).id
    elif plan:
        item.kind = AnswerKind.plan
        item.plan = plan
        item.planned_date = _not_past(spec.planned_date, "planned_date")
    else:
        raise InvalidInput(
            "demand.empty_answer",
            "{field}: link a resource or state a plan",
            field="resource_code",
        )
    session.add(item)
    session.flush()
    if demand.state == S.open:
        _move(session, demand, S.answered, _who(actor), f"answer #{item.id}")
    else:
        demand.updated_at = utcnow()
    session.refresh(item)
    return item


def close(
    session: Session,
    actor: Actor,
    demand: Demand,
    *,
    answer_id: int | None = None,
    reason: str = "",
) -> Demand:
    """The publisher accepts one of the answers (``answer_id``) and closes the demand; or
    closes it without one, which needs a reason (the need went away)."""
    if not is_publisher(actor, demand):
        raise Forbidden("demand.not_publisher", "only the publishing organization can do this")
    _expect(demand, S.open, S.answered)
    note = (reason or "").strip()
    if answer_id is not None:
        found = session.get(DemandAnswer, answer_id)
        if found is None or found.demand_id != demand.id:
            raise InvalidInput(
                "demand.unknown_answer",
                "{field}: demand {id} has no answer {answer}",
                field="answer_id",
                id=demand.id,
                answer=answer_id,
            )
        demand.accepted_answer_id = found.id
        why = f"accepted answer #{found.id}" + (f": {note}" if note else "")
    else:
        why = _text(reason, "reason")
    _move(session, demand, S.closed, _who(actor), why)
    return demand
