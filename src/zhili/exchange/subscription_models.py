"""Tables of subscriptions (订阅): a consumer's webhook under one of its grants, and one
delivery row per (subscription, new version) with its attempts, retries and dead-letter.

A delivery carries a notice only — resource, version, where to read the changes — never
rows: rows are read through the one door under the grant (see
:mod:`zhili.exchange.changes`).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhili.clock import utcnow
from zhili.db import Base, UTCDateTime
from zhili.exchange.models import Grant


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its first attempt (or a redelivery)
    retrying = "retrying"  # failed at least once; the next attempt is scheduled
    delivered = "delivered"  # the receiver answered 2xx
    dead = "dead"  # dead-letter: failed ``webhook_max_attempts`` times; redeliver by hand
    cancelled = "cancelled"  # the subscription was removed or its grant stopped


#: Statuses the sender still works on.
OPEN_DELIVERY = (DeliveryStatus.pending, DeliveryStatus.retrying)


class Subscription(Base):
    """A consumer's webhook under one grant: new versions of the grant's resource are
    announced to ``url``, signed with the subscription's secret (stored sealed)."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    #: the signing secret, sealed with ``ZHILI_SECRET_KEY`` (shown once at creation)
    secret_sealed: Mapped[str] = mapped_column(Text)
    #: the secret's first characters, so people can tell secrets apart
    secret_hint: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: the newest version whose notice the receiver acknowledged
    last_version: Mapped[int | None] = mapped_column(Integer)
    last_delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    grant: Mapped[Grant] = relationship(lazy="joined")


class Delivery(Base):
    """The notice of one new version to one subscription, and how sending it went."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    previous_version: Mapped[int | None] = mapped_column(Integer)
    #: rows the load wrote (the catalog's count, not narrowed by the grant)
    rows_added: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.pending, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    subscription: Mapped[Subscription] = relationship(lazy="joined")
