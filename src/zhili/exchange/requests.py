"""Share requests (共享申请) and their state machine, reviewed on working days.

::

    draft → submitted → under_review → approved → active → suspended ⇄ active
                              │  ↑          (grant)        → expired | revoked
                              │  └── needs_info (补充材料) ← ┘
                              └→ rejected (reason required)
    draft | submitted | under_review | needs_info → withdrawn (by the applicant)

Who decides: conditional resources (有条件共享) — the provider's approvers, within
``review_days`` working days (default 5); overdue requests escalate to the bureau.
Unconditional (无条件共享) — the bureau's compliance check, automatic by default (the
request names a purpose, a legal basis and a consumer system, and asks for nothing
outside the resource), or a bureau reviewer within 2 working days. Not shared (不予共享)
— only a platform admin, and only with a recorded legal basis. "The bureau" acts through
platform admins. Deadlines use the official holiday calendar with 调休 make-up days.
Every transition is a row: who, when, from, to, why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from zhili.access import Actor, Role, can, require, system_actor
from zhili.audit.acts import record_act
from zhili.calendar.service import WorkCalendar
from zhili.catalog.models import Resource, SharingType
from zhili.catalog.service import get_resource
from zhili.clock import CITY_TZ, utcnow
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhili.exchange import deadlines
from zhili.exchange.models import Grant, RequestState, RequestTransition, ShareRequest
from zhili.exchange.rowfilter import parse_row_filter
from zhili.exchange.rowfilter_compile import check_row_filter, to_text
from zhili.jobs.runner import periodic

S = RequestState
COMPLIANCE = "system:compliance"
BUREAU_REVIEW_DAYS = 2
MAX_PERIOD_DAYS = 3 * 366

#: Which states each action may leave from.
OPEN = (S.draft, S.submitted, S.under_review, S.needs_info)


@dataclass(frozen=True)
class RequestSpec:
    """What a consumer asks for. ``fields`` empty means every item of the resource."""

    resource_code: str
    system: str
    purpose: str
    legal_basis: str = ""
    fields: Sequence[str] = ()
    row_filter: str | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None


@dataclass(frozen=True)
class ReviewPolicy:
    """The operator's review settings (``ZHILI_REVIEW_DAYS``, ``ZHILI_AUTO_APPROVE``)."""

    review_days: int = 5
    auto_approve_unconditional: bool = True


@dataclass
class Decision:
    """A reviewer's terms for the grant an approval creates (defaults from the request)."""

    reason: str = ""
    masking: dict[str, object] | None = None
    valid_until: dt.date | None = None
    calls_per_day: int | None = 10_000
    rows_per_day: int | None = 10_000_000
    no_onward_sharing: bool = True
    fields: Sequence[str] | None = None
    row_filter: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


def today() -> dt.date:
    return utcnow().astimezone(CITY_TZ).date()


def _text(value: str | None, name: str, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput("exchange.required", "{field} is required", field=name)
    return text


def _check_fields(resource: Resource, fields: Sequence[str]) -> list[str]:
    names = [f["name"] for f in resource.table_schema["fields"]]
    if not fields:
        return names
    for name in fields:
        if name not in names:
            raise InvalidInput(
                "exchange.unknown_field",
                "{code} has no item {name}",
                field="fields",
                name=name,
                code=resource.code,
            )
    return [n for n in names if n in set(fields)]  # the resource's order, no duplicates


def _check_filter(resource: Resource, text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    return to_text(check_row_filter(parse_row_filter(text), resource.table_schema))


def _check_period(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    start = start or today()
    end = end or start.replace(year=start.year + 1) - dt.timedelta(days=1)
    if end < start:
        raise InvalidInput(
            "exchange.bad_period",
            "the period ends ({end}) before it starts ({start})",
            field="period_end",
            start=start.isoformat(),
            end=end.isoformat(),
        )
    if (end - start).days > MAX_PERIOD_DAYS:
        raise InvalidInput(
            "exchange.period_too_long",
            "a grant lasts at most {max} days",
            field="period_end",
            max=MAX_PERIOD_DAYS,
        )
    return start, end


def _move(
    session: Session,
    request: ShareRequest,
    to: RequestState,
    by: Actor | str,
    reason: str | None,
) -> None:
    """Record the step (who, when, from, to, why) as a transition and in the audit log."""
    who = by if isinstance(by, Actor) else system_actor(by)
    actor = _who(who)
    request_from = request.state
    session.add(
        RequestTransition(
            request_id=request.id,
            from_state=request.state,
            to_state=to,
            actor=actor,
            reason=reason,
        )
    )
    request.state = to
    request.updated_at = utcnow()
    record_act(
        session,
        who,
        f"exchange.request.{to}",
        resource_code=request.resource.code,
        provider_org_id=request.resource.provider_id,
        detail={"request": request.id, "from": request_from, "reason": reason},
    )


def _who(actor: Actor) -> str:
    return actor.username or actor.kind


def create_request(session: Session, actor: Actor, spec: RequestSpec) -> ShareRequest:
    """A draft request of the actor's organization (validated now, submitted later)."""
    if actor.org_id is None:
        raise Forbidden("exchange.no_org", "only members of an organization can apply")
    resource = get_resource(session, spec.resource_code)
    if resource.provider_id == actor.org_id:
        raise InvalidInput(
            "exchange.own_resource",
            "{code} is your own organization's resource",
            field="resource_code",
            code=resource.code,
        )
    start, end = _check_period(spec.period_start, spec.period_end)
    request = ShareRequest(
        resource_id=resource.id,
        consumer_org_id=actor.org_id,
        applicant_id=actor.user_id,
        applicant=actor.username,
        system=_text(spec.system, "system"),
        purpose=_text(spec.purpose, "purpose"),
        legal_basis=_text(spec.legal_basis, "legal_basis", required=False),
        fields=_check_fields(resource, spec.fields),
        row_filter=_check_filter(resource, spec.row_filter),
        period_start=start,
        period_end=end,
        state=S.draft,
    )
    session.add(request)
    session.flush()
    session.refresh(request)
    require(actor, "exchange.apply", request)
    session.add(
        RequestTransition(
            request_id=request.id, from_state=None, to_state=S.draft, actor=_who(actor), reason=None
        )
    )
    record_act(
        session,
        actor,
        "exchange.request.draft",
        resource_code=resource.code,
        provider_org_id=resource.provider_id,
        detail={"request": request.id},
    )
    return request


def get_request(session: Session, actor: Actor, request_id: int) -> ShareRequest:
    """A request the actor may see: the consumer's and the provider's members, the
    bureau (platform admins) and auditors; 404 for anyone else."""
    request = session.get(ShareRequest, request_id)
    if request is None or not _visible(actor, request):
        raise NotFound("exchange.no_request", "no request {id}", id=request_id)
    return request


def _visible(actor: Actor, request: ShareRequest) -> bool:
    if actor.roles & {Role.platform_admin, Role.auditor}:
        return True
    return actor.org_id in (request.consumer_org_id, request.resource.provider_id)


def list_requests(
    session: Session,
    actor: Actor,
    *,
    side: str = "all",
    state: str | None = None,
    limit: int = 200,
) -> list[ShareRequest]:
    """Requests the actor may see: ``side`` consumer (ours), provider (to review), all."""
    stmt = select(ShareRequest).join(Resource).order_by(ShareRequest.id.desc()).limit(limit)
    sees_all = bool(actor.roles & {Role.platform_admin, Role.auditor})
    if side == "consumer" or (side == "all" and not sees_all):
        mine = ShareRequest.consumer_org_id == actor.org_id
        theirs = Resource.provider_id == actor.org_id
        stmt = stmt.where(mine if side == "consumer" else or_(mine, theirs))
    elif side == "provider":
        stmt = stmt.where(Resource.provider_id == actor.org_id)
    elif side == "bureau":
        stmt = stmt.where(
            ShareRequest.reviewer_org_id.is_(None) | ShareRequest.escalated,
            ShareRequest.state == S.under_review,
        )
    if state:
        stmt = stmt.where(ShareRequest.state == state)
    return list(session.scalars(stmt).unique())


def transitions(session: Session, request: ShareRequest) -> list[RequestTransition]:
    return list(
        session.scalars(
            select(RequestTransition)
            .where(RequestTransition.request_id == request.id)
            .order_by(RequestTransition.id)
        )
    )


def _own(actor: Actor, request: ShareRequest) -> None:
    if actor.org_id != request.consumer_org_id or not can(actor, "exchange.apply", request):
        raise Forbidden("exchange.not_applicant", "only the applying organization can do this")


def _expect(request: ShareRequest, *states: RequestState) -> None:
    if request.state not in states:
        raise Conflict(
            "exchange.bad_state",
            "request {id} is {state}; this needs {expected}",
            id=request.id,
            state=request.state,
            expected=" / ".join(states),
        )


def submit(
    session: Session,
    actor: Actor,
    request: ShareRequest,
    calendar: WorkCalendar,
    policy: ReviewPolicy,
) -> ShareRequest:
    """Send a draft (or a request returned for more information) to its reviewer."""
    _own(actor, request)
    _expect(request, S.draft, S.needs_info)
    _move(session, request, S.submitted, actor, None)
    resource = request.resource
    now = utcnow()
    if resource.sharing_type == SharingType.conditional:
        request.reviewer_org_id = resource.provider_id
        request.due_at = calendar.deadline(now, policy.review_days)
    else:  # unconditional and not shared: the bureau
        request.reviewer_org_id = None
        request.due_at = calendar.deadline(now, BUREAU_REVIEW_DAYS)
    _move(session, request, S.under_review, COMPLIANCE, None)
    if resource.sharing_type == SharingType.unconditional and policy.auto_approve_unconditional:
        problems = compliance_problems(request)
        if not problems:
            _approve(session, request, COMPLIANCE, Decision(reason="compliance check passed"))
        else:
            request.decision_reason = "; ".join(problems)
    return request


def compliance_problems(request: ShareRequest) -> list[str]:
    """What the automatic compliance check of an unconditional request finds missing."""
    problems = []
    if not request.legal_basis.strip():
        problems.append("no legal basis")
    if len(request.purpose.strip()) < 4:
        problems.append("purpose too short")
    return problems


def _may_review(actor: Actor, request: ShareRequest) -> bool:
    if Role.platform_admin in actor.roles:
        return True
    if request.reviewer_org_id is None:
        return False  # the bureau's requests: platform admins
    return can(actor, "exchange.review", request.resource)  # escalated: the bureau too


def may_review(actor: Actor, request: ShareRequest) -> bool:
    return request.state == S.under_review and _may_review(actor, request)


def _reviewer(actor: Actor, request: ShareRequest) -> None:
    _expect(request, S.under_review)
    if not _may_review(actor, request):
        raise Forbidden("exchange.not_reviewer", "you cannot decide request {id}", id=request.id)


def approve(session: Session, actor: Actor, request: ShareRequest, decision: Decision) -> Grant:
    """Approve and create the grant (fields, rows, masking, validity, quotas)."""
    _reviewer(actor, request)
    if request.resource.sharing_type == SharingType.none:
        if Role.platform_admin not in actor.roles:
            raise Forbidden(
                "exchange.not_reviewer", "you cannot decide request {id}", id=request.id
            )
        if not (decision.reason.strip() or request.legal_basis.strip()):
            raise InvalidInput(
                "exchange.legal_basis_required",
                "granting a resource that is not shared needs a legal basis",
                field="reason",
            )
    return _approve(session, request, actor, decision)


def _approve(session: Session, request: ShareRequest, by: Actor | str, decision: Decision) -> Grant:
    from zhili.exchange.masking import MaskingRules, default_rules

    resource = request.resource
    fields = _check_fields(resource, decision.fields) if decision.fields else request.fields
    if not set(fields) <= set(request.fields):
        raise InvalidInput(
            "exchange.fields_widened",
            "a grant cannot add fields the request did not ask for",
            field="fields",
        )
    row_filter = request.row_filter
    if decision.row_filter:
        extra = _check_filter(resource, decision.row_filter)
        row_filter = f"({row_filter}) and ({extra})" if row_filter else extra
    if decision.masking is None:
        rules = default_rules(resource.table_schema)
    else:
        rules = MaskingRules.parse(decision.masking, resource.table_schema)
    until = decision.valid_until or request.period_end
    if until > request.period_end:
        raise InvalidInput(
            "exchange.bad_period",
            "the grant cannot outlast the request",
            field="valid_until",
            start=request.period_start.isoformat(),
            end=until.isoformat(),
        )
    _move(session, request, S.approved, by, decision.reason or None)
    request.decision_reason = decision.reason or None
    grant = Grant(
        request=request,
        resource_id=resource.id,
        consumer_org_id=request.consumer_org_id,
        system=request.system,
        purpose=request.purpose,
        fields=list(fields),
        row_filter=row_filter,
        masking={k: v for k, v in rules.to_dict().items() if k in fields},
        valid_from=request.period_start,
        valid_until=until,
        calls_per_day=decision.calls_per_day,
        rows_per_day=decision.rows_per_day,
        no_onward_sharing=decision.no_onward_sharing,
        state=S.active,
        approved_by=_who(by) if isinstance(by, Actor) else by,
    )
    session.add(grant)
    _move(session, request, S.active, by, None)
    session.flush()
    return grant


def reject(session: Session, actor: Actor, request: ShareRequest, reason: str) -> ShareRequest:
    _reviewer(actor, request)
    request.decision_reason = _text(reason, "reason")
    _move(session, request, S.rejected, actor, request.decision_reason)
    return request


def ask_more(session: Session, actor: Actor, request: ShareRequest, reason: str) -> ShareRequest:
    """Return the request to the applicant for more information (补充材料)."""
    _reviewer(actor, request)
    _move(session, request, S.needs_info, actor, _text(reason, "reason"))
    return request


def amend(session: Session, actor: Actor, request: ShareRequest, spec: RequestSpec) -> None:
    """The applicant changes a draft or a returned request before (re)submitting."""
    _own(actor, request)
    _expect(request, S.draft, S.needs_info)
    resource = request.resource
    request.system = _text(spec.system, "system")
    request.purpose = _text(spec.purpose, "purpose")
    request.legal_basis = _text(spec.legal_basis, "legal_basis", required=False)
    request.fields = _check_fields(resource, spec.fields)
    request.row_filter = _check_filter(resource, spec.row_filter)
    request.period_start, request.period_end = _check_period(spec.period_start, spec.period_end)
    request.updated_at = utcnow()


def withdraw(session: Session, actor: Actor, request: ShareRequest) -> None:
    _own(actor, request)
    _expect(request, *OPEN)
    _move(session, request, S.withdrawn, actor, None)


@periodic("exchange.escalate_overdue", every_seconds=60)
def escalate_overdue(session: Session, now: dt.datetime | None = None) -> list[ShareRequest]:
    """Requests past their deadline go to the bureau (marked escalated, once)."""
    return deadlines.escalate(
        session,
        ShareRequest,
        [S.under_review],
        lambda r: RequestTransition(
            request_id=r.id,
            from_state=r.state,
            to_state=r.state,
            actor=COMPLIANCE,
            reason=deadlines.REASON,
        ),
        now,
    )
