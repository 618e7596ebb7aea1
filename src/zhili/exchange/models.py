"""Tables of the exchange: share requests (共享申请) with their transitions, grants (授权)
and per-day usage of each grant (the metering behind quotas and 数据共享应用量)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhili.catalog.models import Resource
from zhili.clock import utcnow
from zhili.db import Base, UTCDateTime
from zhili.identity.models import Organization


class RequestState(StrEnum):
    draft = "draft"
    submitted = "submitted"
    under_review = "under_review"
    needs_info = "needs_info"  # 补充材料
    approved = "approved"
    rejected = "rejected"
    active = "active"
    suspended = "suspended"
    expired = "expired"
    revoked = "revoked"
    withdrawn = "withdrawn"


class ShareRequest(Base):
    """A consumer organization's application for one resource (共享申请)."""

    __tablename__ = "share_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), index=True)
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    applicant_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    applicant: Mapped[str | None] = mapped_column(String(64))
    system: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    row_filter: Mapped[str | None] = mapped_column(Text)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default=RequestState.draft, index=True)
    #: who decides: the provider's approvers, or the bureau (unconditional, escalated, none)
    reviewer_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    resource: Mapped[Resource] = relationship(lazy="joined")
    consumer: Mapped[Organization] = relationship(foreign_keys=[consumer_org_id], lazy="joined")
    grant: Mapped[Grant | None] = relationship(back_populates="request", lazy="selectin")

    @property
    def org_path(self) -> str:
        """The consumer's place in the org tree (the applicant side acts on its own)."""
        return self.consumer.path


class RequestTransition(Base):
    """One step of a request's life: from → to, who, when, why. Never updated."""

    __tablename__ = "request_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("share_requests.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Grant(Base):
    """What an approval creates (授权): the fields, rows, masking, purpose, validity and
    quotas under which one consumer system reads one resource. Checked on every call."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("share_requests.id"), unique=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), index=True)
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    system: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[str]] = mapped_column(JSON)
    row_filter: Mapped[str | None] = mapped_column(Text)
    masking: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    calls_per_day: Mapped[int | None] = mapped_column(Integer)
    rows_per_day: Mapped[int | None] = mapped_column(BigInteger)
    no_onward_sharing: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), default=RequestState.active, index=True)
    state_reason: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[ShareRequest] = relationship(back_populates="grant", lazy="joined")
    resource: Mapped[Resource] = relationship(lazy="joined")
    consumer: Mapped[Organization] = relationship(lazy="joined")


class GrantUsage(Base):
    """Calls and rows delivered under a grant on one day (Asia/Shanghai): quotas are
    checked against it and the sharing statistics are sums of it."""

    __tablename__ = "grant_usage"
    __table_args__ = (UniqueConstraint("grant_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), index=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
