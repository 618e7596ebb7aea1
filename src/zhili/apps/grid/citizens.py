"""The citizens' side of an event (群众): follow it, read its notices, rate how it was
handled — and keep their name and phone to those who command it.

Two kinds of followers (``EventFollower``): a signed-in user, and an anonymous reporter
holding the secret follow token returned once with their report (only its SHA-256 is
stored). Following grants sight of the event (``visibility``), so a signed-in user may
follow only an event they may already see: following is for being told (notices), never
a way in. A wrong token and a wrong event id are the same 404, so a guess learns nothing.

Rating (满意度评价) is the reporter's alone — the anonymous reporter's token, or the user
who reported — never a merged duplicate's reporter (``via_event_id``) or another
follower, and only once the event is closed. A rating may be changed until
:data:`RATING_CHANGE_DAYS` days after closing, then it is final; each rating is audited.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import ANONYMOUS, Actor
from zhili.apps.grid.event_models import EventFollower, EventNotice, EventState, GridEvent
from zhili.apps.grid.events import get_event, token_hash, user_key
from zhili.audit.acts import record_act
from zhili.clock import utcnow
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound

MAX_COMMENT = 500
RATING_CHANGE_DAYS = 7
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _no_link(event_id: int) -> NotFound:
    return NotFound("grid.follow_not_found", "no event {id} with this follow link", id=event_id)


def follow(session: Session, actor: Actor, event_id: int) -> tuple[EventFollower, bool]:
    """Follow an event one may see (404 otherwise); returns the row and whether it is new."""
    event = get_event(session, actor, event_id)
    row = session.scalar(
        select(EventFollower).where(
            EventFollower.event_id == event.id, EventFollower.user_id == actor.user_id
        )
    )
    if row is not None:
        return row, False
    if actor.user_id is None:
        raise Forbidden("grid.follow_needs_account", "following needs a user account")
    row = EventFollower(
        event_id=event.id, user_id=actor.user_id, token_hash=user_key(actor.user_id)
    )
    session.add(row)
    session.flush()
    return row, True


def following(session: Session, actor: Actor, event_id: int) -> EventFollower:
    """The signed-in actor's own follower row of an event (404 when not following)."""
    row = None
    if actor.user_id is not None:
        row = session.scalar(
            select(EventFollower)
            .where(EventFollower.event_id == event_id, EventFollower.user_id == actor.user_id)
            .order_by(EventFollower.via_event_id.is_not(None), EventFollower.id)
        )
    if row is None:
        raise _no_link(event_id)
    return row


def follow_by_token(session: Session, event_id: int, token: str | None) -> EventFollower:
    """The anonymous follower holding ``token`` for ``event_id``; one 404 for every miss."""
    if not token or not _TOKEN.fullmatch(token):
        raise _no_link(event_id)
    row = session.scalar(
        select(EventFollower).where(
            EventFollower.event_id == event_id, EventFollower.token_hash == token_hash(token)
        )
    )
    if row is None:
        raise _no_link(event_id)
    return row


def notices_for(session: Session, follower: EventFollower) -> list[EventNotice]:
    """The follower's notices, oldest first."""
    query = (
        select(EventNotice)
        .where(EventNotice.follower_id == follower.id)
        .order_by(EventNotice.created_at, EventNotice.id)
    )
    return list(session.scalars(query))


def mark_read(session: Session, follower: EventFollower, *, now: dt.datetime | None = None) -> int:
    """Mark the follower's unread notices read; returns how many were unread."""
    now = now or utcnow()
    unread = [n for n in notices_for(session, follower) if n.read_at is None]
    for notice in unread:
        notice.read_at = now
    session.flush()
    return len(unread)


def is_reporter(event: GridEvent, follower: EventFollower) -> bool:
    """The follower row that reported this very event (not a merged duplicate's)."""
    if follower.event_id != event.id or follower.via_event_id is not None:
        return False
    if follower.user_id is None:
        return bool(follower.token_hash)  # tokens are made only for the anonymous reporter
    return follower.user_id == event.reporter_id


def rate(
    session: Session,
    follower: EventFollower,
    event_id: int,
    rating: object,
    comment: str | None = None,
    *,
    actor: Actor = ANONYMOUS,
    now: dt.datetime | None = None,
) -> GridEvent:
    """Rate a closed event 1–5 with an optional comment (see the module for who, when)."""
    now = now or utcnow()
    if follower.event_id != event_id:
        raise _no_link(event_id)
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput(
            "grid.rating_bad_value", "{field} must be a whole number 1–5, not {value}",
            field="rating", value=str(rating),
        )  # fmt: skip
    text = (comment or "").strip()
    if len(text) > MAX_COMMENT:
        raise InvalidInput(
            "grid.report_too_long", "{field} is longer than {max} characters",
            field="comment", max=MAX_COMMENT,
        )  # fmt: skip
    event = session.get(GridEvent, event_id)
    if event is None:
        raise _no_link(event_id)
    if not is_reporter(event, follower):
        raise Forbidden(
            "grid.rating_not_reporter", "only the reporter rates event {id}", id=event.id
        )
    if event.state != EventState.closed:
        raise Conflict(
            "grid.rating_not_closed", "event {id} is {state}; it can be rated once closed",
            id=event.id, state=event.state,
        )  # fmt: skip
    closed = event.closed_at or now
    if event.rating is not None and now > closed + dt.timedelta(days=RATING_CHANGE_DAYS):
        raise Conflict(
            "grid.rating_final", "the rating of event {id} can no longer be changed ({days} days)",
            id=event.id, days=RATING_CHANGE_DAYS,
        )  # fmt: skip
    before = event.rating
    event.rating, event.rating_comment, event.rated_at = rating, text or None, now
    extra = {} if actor.is_authenticated else {"system": "grid follow link"}
    record_act(
        session,
        actor,
        "grid.event_rate",
        detail={"event": event.id, "rating": rating, "replaced": before},
        **extra,
    )
    return event


def mask_contact(contact: str | None) -> str | None:
    """A phone as ``138****0000``, an e-mail as ``z***@example.cn``, anything else as its
    first character and stars: enough to recognise, not to call."""
    if not contact:
        return contact
    value = contact.strip()
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7 and re.fullmatch(r"[\d\s()+-]+", value):
        return f"{digits[:3]}****{digits[-4:]}"
    if "@" in value:
        user, _, domain = value.partition("@")
        return f"{user[:1]}***@{domain}"
    return value[:1] + "***"
