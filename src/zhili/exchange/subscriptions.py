"""Subscriptions (订阅): when a provider's new version lands, the consumer hears of it.

A consumer organization subscribes a callback URL under one of its active grants; the
signing secret is generated then, shown once and stored sealed. When a version of the
grant's resource is recorded (:mod:`zhili.catalog.events`, in the loading transaction),
:func:`queue_deliveries` queues one :class:`Delivery` per active subscription under an
active grant; :mod:`zhili.exchange.webhooks` sends them (signed, retried with backoff,
dead-lettered) and a dead one can be redelivered here. A notice never carries rows: they
are read through the one door under the grant (:mod:`zhili.exchange.changes`).

Callback URLs are http(s) only, and — against server-side request forgery — may not point
at loopback, link-local, private or otherwise non-public addresses unless
``ZHILI_WEBHOOK_ALLOW_PRIVATE`` is set; the sender repeats the check before every attempt.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from zhili.access import Actor, can
from zhili.audit import AuditEvent, append
from zhili.catalog.events import on_version
from zhili.catalog.models import LakeVersion, Resource
from zhili.clock import utcnow
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhili.exchange import grants as grant_rules
from zhili.exchange.models import Grant, RequestState
from zhili.exchange.subscription_models import (
    OPEN_DELIVERY,
    Delivery,
    DeliveryStatus,
    Subscription,
)
from zhili.identity.sealing import seal
from zhili.settings import Settings

__all__ = [
    "check_callback_url",
    "create_subscription",
    "get_delivery",
    "get_subscription",
    "list_deliveries",
    "list_subscriptions",
    "may_subscribe",
    "queue_deliveries",
    "redeliver",
    "remove_subscription",
]

SCHEMES = ("http", "https")
MAX_URL = 2000
#: Active subscriptions one grant may have.
MAX_PER_GRANT = 10
SECRET_PREFIX = "whsec_"

D = DeliveryStatus


# --- the callback URL -----------------------------------------------------------------


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise InvalidInput(
            "exchange.webhook_unresolvable",
            "callback host {host} does not resolve",
            field="url",
            host=host,
        ) from None
    return sorted({str(info[4][0]) for info in infos})


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_callback_url(url: str, *, allow_private: bool = False) -> str:
    """``url`` (stripped) if a webhook may be sent there; else a 422 naming why.

    Example: ``check_callback_url("ftp://x/")`` raises ``exchange.webhook_scheme``;
    ``check_callback_url("http://127.0.0.1:9000/")`` raises ``exchange.webhook_private``
    unless ``allow_private``.
    """
    text = (url or "").strip()
    if not text or len(text) > MAX_URL or any(c.isspace() for c in text):
        raise InvalidInput(
            "exchange.webhook_bad_url", "not a usable callback URL", field="url", max=MAX_URL
        )
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise InvalidInput(
            "exchange.webhook_bad_url", "not a usable callback URL", field="url", max=MAX_URL
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidInput(
            "exchange.webhook_scheme",
            "a callback URL must use http or https, not {scheme}",
            field="url",
            scheme=scheme or "—",
        )
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = None
    if not hostname or port is None or parts.username or parts.password:
        raise InvalidInput(
            "exchange.webhook_bad_url", "not a usable callback URL", field="url", max=MAX_URL
        )
    if not allow_private:
        for address in _resolve(hostname, port):
            if not _public(address):
                raise InvalidInput(
                    "exchange.webhook_private",
                    "callback host {host} is a private or local address ({address})",
                    field="url",
                    host=hostname,
                    address=address,
                )
    return text


# --- subscriptions --------------------------------------------------------------------


def may_subscribe(actor: Actor, grant: Grant) -> bool:
    """The consumer organization's staff with ``exchange.apply`` manage its subscriptions."""
    return actor.org_id == grant.consumer_org_id and can(actor, "exchange.apply", grant.request)


def _consumer(actor: Actor, grant: Grant) -> None:
    if not may_subscribe(actor, grant):
        raise Forbidden("exchange.not_applicant", "only the applying organization can do this")


def _audit_admin(
    session: Session, actor: Actor, action: str, sub: Subscription, **detail: Any
) -> None:
    grant = sub.grant
    session.flush()  # the act's own writes first, then the chain's lock (see audit.append)
    append(
        session,
        [
            AuditEvent.admin(
                actor,
                action,
                grant_id=grant.id,
                resource_code=grant.resource.code,
                provider_org_id=grant.resource.provider_id,
                detail={"subscription": sub.id, "host": urlsplit(sub.url).hostname, **detail},
            )
        ],
    )


def create_subscription(
    session: Session, actor: Actor, grant: Grant, url: str, settings: Settings
) -> tuple[Subscription, str]:
    """Subscribe ``url`` under ``grant`` (active, the actor's organization's); returns the
    subscription and its signing secret — the only time the secret is shown."""
    _consumer(actor, grant)
    grant_rules._expire_if_due(session, grant)
    if grant.state != RequestState.active:
        raise Conflict(
            "exchange.grant_not_active",
            "grant {id} is {state}; only an active grant can be subscribed to",
            id=grant.id,
            state=grant.state,
        )
    target = check_callback_url(url, allow_private=settings.webhook_allow_private)
    count = session.scalar(
        select(func.count(Subscription.id)).where(
            Subscription.grant_id == grant.id, Subscription.active.is_(True)
        )
    )
    if (count or 0) >= MAX_PER_GRANT:
        raise Conflict(
            "exchange.too_many_subscriptions",
            "a grant can have at most {max} subscriptions",
            max=MAX_PER_GRANT,
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    sub = Subscription(
        grant_id=grant.id,
        url=target,
        secret_sealed=seal(settings.secret_key, secret),
        secret_hint=secret[:10],
        active=True,
        created_by=actor.username or actor.kind,
        last_version=grant.resource.current_version,
    )
    sub.grant = grant
    session.add(sub)
    session.flush()
    _audit_admin(session, actor, "exchange.subscribe", sub)
    return sub, secret


def list_subscriptions(
    session: Session, grant: Grant, *, include_removed: bool = False
) -> list[Subscription]:
    """The grant's subscriptions, newest first (the caller has checked it may see it)."""
    stmt = (
        select(Subscription)
        .where(Subscription.grant_id == grant.id)
        .order_by(Subscription.id.desc())
    )
    if not include_removed:
        stmt = stmt.where(Subscription.active.is_(True))
    return list(session.scalars(stmt).unique())


def get_subscription(session: Session, actor: Actor, subscription_id: int) -> Subscription:
    """A subscription whose grant the actor may see (404 otherwise)."""
    sub = session.get(Subscription, subscription_id)
    if sub is None or not grant_rules._visible(actor, sub.grant):
        raise NotFound("exchange.no_subscription", "no subscription {id}", id=subscription_id)
    return sub


def remove_subscription(session: Session, actor: Actor, sub: Subscription) -> Subscription:
    """Stop the subscription; its deliveries not yet sent are cancelled. Kept as history."""
    _consumer(actor, sub.grant)
    if not sub.active:
        return sub
    sub.active = False
    sub.removed_at = utcnow()
    session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.status.in_(list(OPEN_DELIVERY)))
        .values(status=D.cancelled, next_attempt_at=None, last_error="subscription removed")
    )
    _audit_admin(session, actor, "exchange.unsubscribe", sub)
    return sub


def list_deliveries(session: Session, sub: Subscription, *, limit: int = 50) -> list[Delivery]:
    """The subscription's deliveries, newest first."""
    return list(
        session.scalars(
            select(Delivery)
            .where(Delivery.subscription_id == sub.id)
            .order_by(Delivery.id.desc())
            .limit(limit)
        ).unique()
    )


def get_delivery(session: Session, actor: Actor, delivery_id: int) -> Delivery:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or not grant_rules._visible(actor, delivery.subscription.grant):
        raise NotFound("exchange.no_delivery", "no delivery {id}", id=delivery_id)
    return delivery


def redeliver(session: Session, actor: Actor, delivery: Delivery) -> Delivery:
    """Send a finished delivery (dead-lettered, delivered or cancelled) again, from its
    first attempt, at the next housekeeping round."""
    sub = delivery.subscription
    _consumer(actor, sub.grant)
    if not sub.active:
        raise Conflict("exchange.subscription_removed", "subscription {id} was removed", id=sub.id)
    if delivery.status in OPEN_DELIVERY:
        raise Conflict(
            "exchange.delivery_pending",
            "delivery {id} is still {status}",
            id=delivery.id,
            status=delivery.status,
        )
    delivery.status = D.pending
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    _audit_admin(session, actor, "exchange.redeliver", sub, delivery=delivery.id)
    return delivery


# --- queueing (a catalog event) -------------------------------------------------------


@on_version
def queue_deliveries(
    session: Session, resource: Resource, version: LakeVersion, previous: int | None
) -> int:
    """One pending delivery per active subscription under an active grant of ``resource``
    (runs inside the loading transaction; sending happens later, off it)."""
    subs = session.scalars(
        select(Subscription)
        .join(Grant, Subscription.grant_id == Grant.id)
        .where(
            Grant.resource_id == resource.id,
            Grant.state == RequestState.active,
            Subscription.active.is_(True),
        )
    ).unique()
    now = utcnow()
    queued = 0
    for sub in subs:
        session.add(
            Delivery(
                subscription_id=sub.id,
                version=version.version,
                previous_version=previous,
                rows_added=version.rows_written,
                status=D.pending,
                attempts=0,
                next_attempt_at=now,
            )
        )
        queued += 1
    if queued:
        session.flush()
    return queued


def deliveries_by_subscription(
    session: Session, subs: Sequence[Subscription], *, limit: int = 10
) -> dict[int, list[Delivery]]:
    """The latest deliveries of each subscription (for the grant page)."""
    return {s.id: list_deliveries(session, s, limit=limit) for s in subs}
