"""The review queue of a verification job (待复核) and its items: both records side by
side with the evidence (per compared field the level reached and the weight it gave), the
decisions so far, and the decision form for those who may decide. An action on a person
needs two reviewers (``zhili.apps.verify.review``); the page says when one is waiting.

Thin like the JSON API: the queue, the item and the decision are the services of
``zhili.apps.verify.review``; a refused decision is shown on the item's page with its
message and status (409 for a second decision by the same reviewer)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.apps.verify import jobs as job_service
from zhili.apps.verify import review
from zhili.apps.verify.models import ItemState, ReviewItem
from zhili.errors import ZhiliError
from zhili.web.deps import CurrentActor, DbSession, Locale, authorize
from zhili.web.pages.verify import names_of, page

router = APIRouter(include_in_schema=False)
READ = [Depends(authorize("verify.read"))]
REVIEW = [Depends(authorize("verify.review"))]

PAGE_SIZE = 50
#: The queue's tabs: "" is every item, the undecided first.
TABS = ("", *(s.value for s in ItemState))


# --- the queue ------------------------------------------------------------------------


def headline(item: ReviewItem) -> tuple[Any, Any]:
    """The first compared field's values (the name, with the shipped rule sets)."""
    comparisons = item.evidence.get("comparisons") or [{}]
    return comparisons[0].get("left"), comparisons[0].get("right")


@router.get("/verify/jobs/{verification_id}/review", dependencies=READ)
def queue_page(
    request: Request,
    verification_id: int,
    actor: CurrentActor,
    session: DbSession,
    state: str = "",
) -> Response:
    """The job's review items: every state with the undecided first, or one state."""
    return _queue_page(request, session, actor, verification_id, state)


@router.post("/verify/jobs/{verification_id}/review/bulk", dependencies=REVIEW)
def bulk_decide(
    request: Request,
    verification_id: int,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    items: Annotated[list[int] | None, Form()] = None,
    decision: Annotated[str, Form(max_length=16)] = "",
    action: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """One decision on the ticked items (each recorded and audited as ``verify.decide``);
    the queue again with what was decided and what was passed over."""
    form = {"decision": decision, "action": action, "reason": reason}
    try:
        done = review.decide_many(
            session, actor, verification_id, items or [], decision,
            action=action or None, reason=reason,
        )  # fmt: skip
    except ZhiliError as exc:
        session.rollback()
        return _queue_page(
            request, session, actor, verification_id, "", status_code=exc.status,
            error=exc.message(locale), error_code=exc.code, form=form,
        )  # fmt: skip
    session.commit()
    bulk = {"decided": len(done.decided), "skipped": len(done.skipped)}
    return _queue_page(request, session, actor, verification_id, "", bulk=bulk)


def _queue_page(
    request: Request,
    session: Session,
    actor: Actor,
    verification_id: int,
    state: str,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    job = job_service.get_job(session, actor, verification_id)
    state = state if state in TABS else ""
    counts = review.counts(session, actor, job.id)
    total = counts.get(state, 0) if state else sum(counts.values())
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    current = min(max(_page_param(request), 1), pages)
    items = review.queue(
        session,
        actor,
        job.id,
        state=state or None,
        limit=PAGE_SIZE,
        offset=(current - 1) * PAGE_SIZE,
        pending_first=not state,
    )
    return page(
        request,
        "verify_review.html",
        {
            "job": job,
            "items": items,
            "state": state,
            "tabs": TABS,
            "counts": counts,
            "all_count": sum(counts.values()),
            "page": current,
            "pages": pages,
            "headline": headline,
            "names": names_of(session, sorted({i.reference_code for i in items})),
            "actions": review.ACTIONS,
            **extra,
        },
        status_code=status_code,
    )


def _page_param(request: Request) -> int:
    try:
        return int(request.query_params.get("page", "1"))
    except ValueError:
        return 1


# --- one item -------------------------------------------------------------------------


def verdict(level: int | None, bayes_factor: float | None) -> str:
    """How a compared field spoke: ``for`` the match, ``against`` it, ``missing`` (a
    value was missing), or ``neutral``."""
    if level == -1:
        return "missing"
    if bayes_factor is None:
        return "neutral"
    if bayes_factor > 1:
        return "for"
    if bayes_factor < 1:
        return "against"
    return "neutral"


def rows_of(item: ReviewItem) -> list[dict[str, Any]]:
    """The side-by-side lines with each compared field's level, its weight in bits
    (log2 of the Bayes factor) and its verdict."""
    levels = {c["field"]: c.get("level") for c in item.evidence.get("comparisons", [])}
    out = []
    for row in review.side_by_side(item):
        compared = row.name in levels
        bf = row.bayes_factor
        bits = math.log2(bf) if isinstance(bf, int | float) and bf > 0 else None
        out.append(
            {
                "name": row.name,
                "left": row.left,
                "right": row.right,
                "compared": compared,
                "level": levels.get(row.name),
                "label": row.label,
                "bayes_factor": bf,
                "bits": bits,
                "verdict": verdict(levels.get(row.name), bf) if compared else "",
            }
        )
    return out


def waiting_action(item: ReviewItem, decisions: list[Any]) -> str | None:
    """The action one reviewer asked for that awaits a second reviewer's confirm."""
    if item.state != ItemState.confirmed:
        return None
    asked = [d.action for d in decisions if d.decision == "confirm" and d.action]
    return asked[-1] if asked else None


def _next_pending(session: Session, actor: Actor, item: ReviewItem) -> int | None:
    found = review.queue(session, actor, item.job_id, state=ItemState.pending, limit=2)
    return next((i.id for i in found if i.id != item.id), None)


def _item_page(
    request: Request,
    session: Session,
    actor: Actor,
    item_id: int,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    item = review.get_item(session, actor, item_id)
    decisions = review.decisions_of(session, item)
    mine = any(d.reviewer_id == actor.user_id for d in decisions)
    evidence = item.evidence
    return page(
        request,
        "verify_item.html",
        {
            "item": item,
            "job": item.job,
            "rows": rows_of(item),
            "records": {"left": evidence.get("left") or {}, "right": evidence.get("right") or {}},
            "pass_": evidence.get("pass"),
            "match_weight": evidence.get("match_weight"),
            "decisions": decisions,
            "may_decide": review.may_decide(actor, item) and not mine,
            "mine": mine,
            "waiting": waiting_action(item, decisions),
            "actions": review.ACTIONS,
            "next_id": _next_pending(session, actor, item),
            "names": names_of(session, [item.reference_code]),
            "form": extra.pop("form", None) or {"decision": "confirm", "action": "", "reason": ""},
            "decided": request.query_params.get("decided") == "1",
            **extra,
        },
        status_code=status_code,
    )


@router.get("/verify/items/{item_id}", dependencies=READ)
def item_page(request: Request, item_id: int, actor: CurrentActor, session: DbSession) -> Response:
    """Both records side by side with the evidence, the decisions, the decision form."""
    return _item_page(request, session, actor, item_id)


@router.post("/verify/items/{item_id}/decide", dependencies=REVIEW)
def decide(
    request: Request,
    item_id: int,
    actor: CurrentActor,
    session: DbSession,
    locale: Locale,
    decision: Annotated[str, Form(max_length=16)] = "",
    action: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Record the reviewer's decision (audited as ``verify.decide``), then show the item."""
    form = {"decision": decision, "action": action, "reason": reason}
    try:
        review.decide(session, actor, item_id, decision, action=action or None, reason=reason)
    except ZhiliError as exc:
        session.rollback()
        return _item_page(
            request,
            session,
            actor,
            item_id,
            status_code=exc.status,
            error=exc.message(locale),
            error_code=exc.code,
            error_field=exc.params.get("field"),
            form=form,
        )
    session.commit()
    return RedirectResponse(f"/verify/items/{item_id}?decided=1", status_code=303)
