"""The review queue (待复核): pairs the model was unsure of, decided by people.

Each item holds both records side by side with the evidence (values compared, level
reached, the weight each field contributed), so a reviewer sees *why* the pair was
scored as it was. A reviewer ``confirm``\\ s (the same person) or ``reject``\\ s (not the
same person; a reason is required). Acting on a person — stopping a payment, cancelling a
card — needs two ``confirm`` decisions naming the same action from two *different* users
of the job's organization (the four-eyes rule); only then is the item
``action_approved``. Every decision is a row of its own and an entry in the audit log
(``verify.decide``), in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhili.access import Actor, can, require
from zhili.apps.verify.models import Decision, ItemState, ReviewItem, VerificationJob
from zhili.audit.acts import record_act
from zhili.clock import utcnow
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhili.query.coerce import to_json_value

__all__ = [
    "ACTIONS",
    "DECISIONS",
    "Row",
    "build_evidence",
    "counts",
    "decide",
    "decide_many",
    "decisions_of",
    "get_item",
    "queue",
    "side_by_side",
]

#: What a confirmed match may lead to, each needing two reviewers.
ACTIONS = ("stop_payment", "cancel_card", "recover_payment")
DECISIONS = ("confirm", "reject")
CLOSED = (ItemState.rejected, ItemState.action_approved)


# --- evidence ---------------------------------------------------------------------------


def _json(record: dict[str, Any] | None) -> dict[str, Any]:
    return {k: to_json_value(v) for k, v in (record or {}).items()}


def build_evidence(
    row: dict[str, Any], left: dict[str, Any] | None, right: dict[str, Any] | None
) -> dict[str, Any]:
    """An item's evidence from one match row (`zhili.apps.verify.evidence`) and the two
    records as read: per comparison the values compared, the level and its Bayes factor."""
    comparisons = []
    for name in row:
        if not name.startswith("gamma_"):
            continue
        field = name.removeprefix("gamma_")
        comparisons.append(
            {
                "field": field,
                "left": to_json_value(row.get(f"{field}_left")),
                "right": to_json_value(row.get(f"{field}_right")),
                "level": row[name],
                "label": row.get(f"label_{field}"),
                "bayes_factor": to_json_value(row.get(f"bf_{field}")),
            }
        )
    return {
        "pass": row.get("pass"),
        "match_weight": to_json_value(row.get("match_weight")),
        "comparisons": comparisons,
        "left": _json(left),
        "right": _json(right),
    }


@dataclass(frozen=True)
class Row:
    """One line of the side-by-side view: a column, its value on each side, and (for the
    compared fields) the level's label and the weight of evidence it gave."""

    name: str
    left: Any
    right: Any
    label: str | None = None
    bayes_factor: float | None = None


def side_by_side(item: ReviewItem) -> list[Row]:
    """The compared fields first, with the values as compared (prepared: 陳偉東 as 陈伟东)
    and their evidence; then the other columns read, as each record has them (the raw
    records are in ``item.evidence["left"]`` and ``["right"]``)."""
    evidence = item.evidence
    rows = [
        Row(c["field"], c["left"], c["right"], c["label"], c["bayes_factor"])
        for c in evidence.get("comparisons", [])
    ]
    shown = {r.name for r in rows}
    left, right = evidence.get("left", {}), evidence.get("right", {})
    rows += [
        Row(name, left.get(name), right.get(name))
        for name in dict.fromkeys([*left, *right])
        if name not in shown
    ]
    return rows


# --- the queue --------------------------------------------------------------------------


def _job(session: Session, actor: Actor, job_id: int) -> VerificationJob:
    from zhili.apps.verify.jobs import get_job

    return get_job(session, actor, job_id)


def queue(
    session: Session,
    actor: Actor,
    job_id: int,
    *,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
    pending_first: bool = False,
) -> list[ReviewItem]:
    """A job's review items, most probable first (``state``: only those;
    ``pending_first``: the undecided ones before the rest, as the review page lists them)."""
    job = _job(session, actor, job_id)
    order = [ReviewItem.match_probability.desc(), ReviewItem.id]
    if pending_first:
        order.insert(0, case((ReviewItem.state == ItemState.pending, 0), else_=1))
    stmt = (
        select(ReviewItem)
        .where(ReviewItem.job_id == job.id)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    if state is not None:
        stmt = stmt.where(ReviewItem.state == state)
    return list(session.scalars(stmt))


def counts(session: Session, actor: Actor, job_id: int) -> dict[str, int]:
    """A job's review items per state (only the states that have any)."""
    job = _job(session, actor, job_id)
    rows = session.execute(
        select(ReviewItem.state, func.count())
        .where(ReviewItem.job_id == job.id)
        .group_by(ReviewItem.state)
    )
    return {state: n for state, n in rows}


def get_item(session: Session, actor: Actor, item_id: int) -> ReviewItem:
    """One item, if ``actor`` may see its job (404 otherwise)."""
    item = session.get(ReviewItem, item_id)
    if item is None or not (can(actor, "verify.read", item) or can(actor, "verify.review", item)):
        raise NotFound("verify.item_not_found", "no review item {id}", id=item_id)
    return item


def decisions_of(session: Session, item: ReviewItem) -> list[Decision]:
    return list(
        session.scalars(select(Decision).where(Decision.item_id == item.id).order_by(Decision.id))
    )


def may_decide(actor: Actor, item: ReviewItem) -> bool:
    return can(actor, "verify.review", item) and item.state not in CLOSED


# --- deciding ---------------------------------------------------------------------------


def _check(decision: str, action: str | None, reason: str) -> None:
    if decision not in DECISIONS:
        raise InvalidInput(
            "verify.bad_decision",
            "decision must be one of {allowed}, got {value}",
            field="decision",
            value=decision,
            allowed=", ".join(DECISIONS),
        )
    if action is not None and action not in ACTIONS:
        raise InvalidInput(
            "verify.unknown_action",
            "unknown action {value}; use one of {allowed}",
            field="action",
            value=action,
            allowed=", ".join(ACTIONS),
        )
    if decision == "reject" and action is not None:
        raise InvalidInput(
            "verify.action_needs_confirm", "an action goes with confirm", field="action"
        )
    if decision == "reject" and not reason.strip():
        raise InvalidInput(
            "verify.reason_required", "say why the records are not the same person",
            field="reason",
        )  # fmt: skip


def _next_state(item: ReviewItem, decisions: list[Decision], latest: Decision) -> str:
    if latest.decision == "reject":
        return ItemState.rejected
    if latest.action is not None:
        agreeing = {
            d.reviewer_id
            for d in decisions
            if d.decision == "confirm"
            and d.action == latest.action
            and d.reviewer_org_id == item.job.org_id
        }
        if len(agreeing) >= 2:
            return ItemState.action_approved
    return ItemState.confirmed


def decide(
    session: Session,
    actor: Actor,
    item_id: int,
    decision: str,
    *,
    action: str | None = None,
    reason: str = "",
) -> ReviewItem:
    """Record ``actor``'s decision on an item and move it on (flushed, not committed).

    Raises:
        NotFound: the item does not exist or its job is not visible to ``actor``.
        Forbidden: ``access.denied`` without ``verify.review`` on the job's organization;
            ``verify.action_outside_org`` for an action by someone outside it.
        Conflict: ``verify.already_decided`` for a second decision of the same reviewer,
            ``verify.item_closed`` once the item is rejected or its action approved.
        InvalidInput: a bad decision or action, or a rejection without a reason.
    """
    item = get_item(session, actor, item_id)
    require(actor, "verify.review", item)
    action = (action or "").strip() or None
    _check(decision, action, reason)
    if item.state in CLOSED:
        raise Conflict(
            "verify.item_closed", "review item {id} is {state}; it takes no more decisions",
            id=item.id, state=item.state,
        )  # fmt: skip
    if action is not None and actor.org_id != item.job.org_id:
        raise Forbidden(
            "verify.action_outside_org",
            "only reviewers of the job's organization may approve an action on a person",
        )
    assert actor.user_id is not None and actor.username is not None
    earlier = decisions_of(session, item)
    if any(d.reviewer_id == actor.user_id for d in earlier):
        raise _already(item)
    latest = Decision(
        item_id=item.id,
        reviewer_id=actor.user_id,
        reviewer=actor.username,
        reviewer_org_id=actor.org_id,
        decision=decision,
        action=action,
        reason=reason.strip(),
        decided_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(latest)
    except IntegrityError:  # the same reviewer, twice at once
        raise _already(item) from None
    before = item.state
    item.state = _next_state(item, [*earlier, latest], latest)
    if item.state == ItemState.action_approved:
        item.action = action
    item.updated_at = utcnow()
    job = item.job
    record_act(
        session,
        actor,
        "verify.decide",
        resource_code=job.result_code,
        provider_org_id=job.org_id,
        version=job.result_version,
        detail={
            "job": job.id,
            "item": item.id,
            "left_id": item.left_id,
            "right_id": item.right_id,
            "reference": item.reference_code,
            "decision": decision,
            "action": action,
            "reason": latest.reason,
            "from": before,
            "to": item.state,
        },
    )
    return item


#: Most items one bulk decision takes (a page of the queue is 50).
MAX_BULK = 500


@dataclass(frozen=True)
class Bulk:
    """What a bulk decision did: the items decided, and those passed over with why (the
    code of the refusal: already decided by this reviewer, closed, not found …)."""

    decided: list[int]
    skipped: dict[int, str]


def decide_many(
    session: Session,
    actor: Actor,
    job_id: int,
    item_ids: list[int],
    decision: str,
    *,
    action: str | None = None,
    reason: str = "",
) -> Bulk:
    """The same decision on many items of one job (a reviewer working through the action
    items of a pension check), each recorded and audited as :func:`decide` records one.
    An item this reviewer may not decide is passed over with the reason, not failing the
    others; a bad decision, action or reason refuses the whole request before any item.
    """
    _check(decision, (action or "").strip() or None, reason)
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        raise InvalidInput("verify.no_items", "choose at least one review item", field="items")
    if len(ids) > MAX_BULK:
        raise InvalidInput(
            "verify.too_many_items", "one decision takes at most {limit} items, got {count}",
            field="items", limit=MAX_BULK, count=len(ids),
        )  # fmt: skip
    job = _job(session, actor, job_id)
    require(actor, "verify.review", job)
    decided, skipped = [], {}
    for item_id in ids:
        item = session.get(ReviewItem, item_id)
        if item is None or item.job_id != job.id:
            skipped[item_id] = "verify.item_not_found"
            continue
        try:
            with session.begin_nested():
                decide(session, actor, item_id, decision, action=action, reason=reason)
        except (Conflict, Forbidden, NotFound) as exc:
            skipped[item_id] = exc.code
            continue
        decided.append(item_id)
    return Bulk(decided, skipped)


def _already(item: ReviewItem) -> Conflict:
    return Conflict(
        "verify.already_decided",
        "you have decided review item {id} already; a second reviewer must decide",
        id=item.id,
    )
