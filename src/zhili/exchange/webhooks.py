"""Sending subscriptions' notices (webhooks): claimed, signed, POSTed, retried, dead-lettered.

The runners' housekeeping (:func:`send_due`, every 2 s, in every server process) claims the
deliveries that are due — a guarded ``UPDATE`` pushes ``next_attempt_at`` past a lease, so
two processes never send one at once — and POSTs, outside any database transaction::

    {"event": "version.created", "delivery": 31, "resource": "3-03-001-000001",
     "version": 7, "previous_version": 6, "grant": 12, "rows_added": 1500,
     "changes_url": "/api/v1/exchange/grants/12/changes?since=6", "sent_at": "…"}

signed ``X-Zhili-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` with the
subscription's secret. A 2xx answer delivers it; anything else (redirects are not followed)
is retried after ``backoff × 2^(attempt-1)`` seconds, at most an hour, until
``ZHILI_WEBHOOK_MAX_ATTEMPTS``; then the delivery is dead (the dead-letter, redelivered by
hand). A delivery whose grant stopped serving, or whose subscription was removed, is
cancelled instead of sent. Every attempt is audited (``exchange.webhook``), with no rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import zhili
from zhili.audit import AuditEvent, append
from zhili.audit.models import Outcome
from zhili.clock import utcnow
from zhili.errors import Forbidden, ZhiliError
from zhili.exchange import grants as grant_rules
from zhili.exchange.subscription_models import OPEN_DELIVERY, Delivery, DeliveryStatus
from zhili.exchange.subscriptions import check_callback_url
from zhili.identity.sealing import unseal
from zhili.jobs.runner import periodic
from zhili.settings import Settings, get_settings

__all__ = ["EVENT", "backoff", "notice", "send_due", "sign"]

EVENT = "version.created"
AUDIT_ACTION = "exchange.webhook"
SENDER_NAME = "system:webhook"
#: Deliveries one housekeeping round sends at most, and in how many threads.
BATCH = 20
SENDERS = 8
#: A claimed delivery is not claimed again (by another process) for this long.
LEASE = dt.timedelta(seconds=120)
#: No retry waits longer than this.
BACKOFF_CAP = 3600.0

D = DeliveryStatus


def sign(secret: str, body: bytes) -> str:
    """The ``X-Zhili-Signature`` header value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: base, 2×base, 4×base … ≤ 1 h."""
    return float(min(settings.webhook_backoff_seconds * 2 ** max(attempts - 1, 0), BACKOFF_CAP))


def changes_url(grant_id: int, since: int | None, code: str, version: int) -> str:
    if since is None:  # the first version: everything is new
        return f"/api/v1/catalog/{code}/rows?version={version}"
    return f"/api/v1/exchange/grants/{grant_id}/changes?since={since}"


def notice(delivery: Delivery, sent_at: dt.datetime) -> dict[str, Any]:
    """The JSON a receiver gets (never any rows)."""
    grant = delivery.subscription.grant
    code = grant.resource.code
    return {
        "event": EVENT,
        "delivery": delivery.id,
        "resource": code,
        "version": delivery.version,
        "previous_version": delivery.previous_version,
        "grant": grant.id,
        "changes_url": changes_url(grant.id, delivery.previous_version, code, delivery.version),
        "rows_added": delivery.rows_added,
        "sent_at": sent_at.isoformat(),
    }


@dataclass
class _Attempt:
    delivery_id: int
    url: str
    body: bytes
    headers: dict[str, str]
    status_code: int | None = None
    error: str | None = None
    error_code: str | None = None
    latency_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _post(attempt: _Attempt, settings: Settings) -> _Attempt:
    started = time.perf_counter()
    try:
        check_callback_url(attempt.url, allow_private=settings.webhook_allow_private)
        with httpx.Client(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False, trust_env=False
        ) as client:
            answer = client.post(attempt.url, content=attempt.body, headers=attempt.headers)
        attempt.status_code = answer.status_code
        if not attempt.ok:
            attempt.error = f"HTTP {answer.status_code}"
            attempt.error_code = f"webhook.http_{answer.status_code}"
    except ZhiliError as exc:  # the URL now resolves somewhere it may not go
        attempt.error, attempt.error_code = exc.message("en")[:500], exc.code
    except httpx.TimeoutException:
        attempt.error = f"no answer within {settings.webhook_timeout_seconds:g} s"
        attempt.error_code = "webhook.timeout"
    except httpx.HTTPError as exc:
        attempt.error = (f"{type(exc).__name__}: {exc}")[:500]
        attempt.error_code = "webhook.unreachable"
    attempt.latency_ms = (time.perf_counter() - started) * 1000
    return attempt


def _claim(session: Session, now: dt.datetime, limit: int) -> list[int]:
    """Due deliveries this process takes: each claim is a guarded UPDATE that pushes
    ``next_attempt_at`` past the lease, so another runner skips it."""
    due = session.scalars(
        select(Delivery.id)
        .where(Delivery.status.in_(list(OPEN_DELIVERY)), Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    ).all()
    claimed = []
    for delivery_id in due:
        moved = session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status.in_(list(OPEN_DELIVERY)),
                Delivery.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + LEASE)
        ).rowcount
        if moved:
            claimed.append(delivery_id)
    session.commit()
    return claimed


def _prepare(session: Session, delivery: Delivery, secret_key: str) -> _Attempt | None:
    """The HTTP request of one claimed delivery, or None when it must not be sent (its
    grant no longer serves, its subscription was removed, its secret cannot be opened any
    more): then it is cancelled, and that is audited."""
    sub = delivery.subscription
    grant = sub.grant
    reason = secret = None
    if not sub.active:
        reason = "subscription removed"
    else:
        try:
            grant_rules.check_grant(session, grant)
        except Forbidden as exc:
            if exc.code not in ("exchange.grant_over_calls", "exchange.grant_over_rows"):
                reason = exc.code  # suspended, revoked, expired, not started
    if reason is None:
        try:
            secret = unseal(secret_key, sub.secret_sealed)
        except ZhiliError as exc:  # ZHILI_SECRET_KEY changed since subscribing
            reason = exc.code
    if reason is not None:
        delivery.status = D.cancelled
        delivery.next_attempt_at = None
        delivery.last_error = reason
        _audit_attempt(session, delivery, None, outcome=Outcome.denied, error_code=reason)
        return None
    sent_at = utcnow().replace(microsecond=0)
    body = json.dumps(notice(delivery, sent_at), ensure_ascii=False, separators=(",", ":"))
    raw = body.encode()
    assert secret is not None
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"zhili-webhook/{zhili.__version__}",
        "X-Zhili-Event": EVENT,
        "X-Zhili-Delivery": str(delivery.id),
        "X-Zhili-Timestamp": str(int(sent_at.timestamp())),
        "X-Zhili-Signature": sign(secret, raw),
    }
    return _Attempt(delivery.id, sub.url, raw, headers)


def _record(session: Session, attempt: _Attempt, settings: Settings, now: dt.datetime) -> None:
    delivery = session.get(Delivery, attempt.delivery_id, populate_existing=True)
    assert delivery is not None
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = attempt.status_code
    delivery.last_error = attempt.error
    if attempt.ok:
        delivery.status = D.delivered
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        sub = delivery.subscription
        sub.last_delivered_at = now
        sub.last_version = max(sub.last_version or -1, delivery.version)
    elif delivery.attempts >= settings.webhook_max_attempts:
        delivery.status = D.dead
        delivery.next_attempt_at = None
    else:
        delivery.status = D.retrying
        delivery.next_attempt_at = now + dt.timedelta(seconds=backoff(settings, delivery.attempts))
    _audit_attempt(
        session,
        delivery,
        attempt,
        outcome=Outcome.ok if attempt.ok else Outcome.error,
        error_code=attempt.error_code,
    )


def _audit_attempt(
    session: Session,
    delivery: Delivery,
    attempt: _Attempt | None,
    *,
    outcome: str,
    error_code: str | None,
) -> None:
    """One audit entry per attempt (or cancellation): who was told what, no rows."""
    sub = delivery.subscription
    grant = sub.grant
    event = AuditEvent(
        action=AUDIT_ACTION,
        actor_username=SENDER_NAME,
        org_id=grant.consumer_org_id,
        system=grant.system,
        grant_id=grant.id,
        purpose=grant.purpose,
        resource_code=grant.resource.code,
        provider_org_id=grant.resource.provider_id,
        version=delivery.version,
        row_count=0,
        outcome=outcome,
        error_code=error_code[:64] if error_code else None,
        latency_ms=round(attempt.latency_ms, 3) if attempt else None,
        detail={
            "delivery": delivery.id,
            "subscription": sub.id,
            "attempt": delivery.attempts,
            "status": delivery.status,
            "status_code": attempt.status_code if attempt else None,
            "host": urlsplit(sub.url).hostname,
        },
    )
    session.flush()  # the delivery's own writes first, then the chain's lock
    append(session, [event])


def send_due(
    session: Session, settings: Settings | None = None, *, limit: int = BATCH
) -> list[int]:
    """Send the deliveries that are due (claimed first, sent outside any transaction,
    results recorded and audited); the ids attempted. Idempotent across processes."""
    settings = settings or get_settings()
    claimed = _claim(session, utcnow(), limit)
    attempts: list[_Attempt] = []
    for delivery_id in claimed:
        delivery = session.get(Delivery, delivery_id, populate_existing=True)
        if delivery is None:
            continue
        prepared = _prepare(session, delivery, settings.secret_key)
        if prepared is not None:
            attempts.append(prepared)
    session.commit()  # cancellations; no transaction stays open while we wait on receivers
    if not attempts:
        return []
    with ThreadPoolExecutor(min(SENDERS, len(attempts)), "zhili-webhook") as pool:
        done = list(pool.map(lambda a: _post(a, settings), attempts))
    now = utcnow()
    for attempt in done:
        _record(session, attempt, settings, now)
    session.commit()
    return [a.delivery_id for a in done]


@periodic("exchange.webhooks", every_seconds=2.0)
def _send_periodically(session: Session) -> None:
    send_due(session)
