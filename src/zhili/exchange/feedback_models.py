"""Tables of the exchange's feedback loops: objections (数据异议) a consumer raises about
data it received, and demands (供需对接) — data needs a department publishes, with the
providers' answers. Every state change of either is a transition row: who, when, why."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhili.catalog.models import Resource
from zhili.clock import utcnow
from zhili.db import Base, UTCDateTime
from zhili.identity.models import Organization


class ObjectionState(StrEnum):
    open = "open"
    answered_corrected = "answered_corrected"  # corrected in version N
    answered_rejected = "answered_rejected"  # not an error; reason given
    reopened = "reopened"  # the consumer disagrees with the answer (once)
    closed = "closed"  # the consumer accepts the answer


class Objection(Base):
    """A consumer's dispute of specific rows and/or items of one version of a resource."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), index=True)
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    raised_by: Mapped[str | None] = mapped_column(String(64))
    #: the lake version the consumer read
    version: Mapped[int] = mapped_column(Integer)
    #: primary-key values of the disputed rows (a list per row for composite keys)
    row_keys: Mapped[list[Any]] = mapped_column(JSON, default=list)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, default="")
    #: an attached file under ZHILI_HOME/objections/<id>/ (name as stored, size in bytes)
    evidence_file: Mapped[str | None] = mapped_column(String(200))
    evidence_size: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20), default=ObjectionState.open, index=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    reopened: Mapped[bool] = mapped_column(Boolean, default=False)
    corrected_version: Mapped[int | None] = mapped_column(Integer)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    resource: Mapped[Resource] = relationship(lazy="joined")
    consumer: Mapped[Organization] = relationship(lazy="joined")

    @property
    def org_path(self) -> str:
        """The provider's place in the org tree: its stewards and approvers answer."""
        return self.resource.provider.path


class ObjectionTransition(Base):
    """One step of an objection's life: from → to, who, when, why. Never updated."""

    __tablename__ = "objection_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    objection_id: Mapped[int] = mapped_column(
        ForeignKey("objections.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DemandState(StrEnum):
    open = "open"
    answered = "answered"  # at least one provider answered
    closed = "closed"  # the publisher accepted an answer (or no longer needs the data)


class AnswerKind(StrEnum):
    resource = "resource"  # an existing catalog resource holds the data
    plan = "plan"  # the data will be provided: how and by when


class Demand(Base):
    """A data need (供需对接) published by a department, open to every signed-in user."""

    __tablename__ = "demands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_by: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    items: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    target_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    deadline: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default=DemandState.open, index=True)
    accepted_answer_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Organization] = relationship(foreign_keys=[org_id], lazy="joined")
    target: Mapped[Organization | None] = relationship(foreign_keys=[target_org_id], lazy="joined")

    @property
    def org_path(self) -> str:
        """The publisher's place in the org tree (it accepts answers and closes)."""
        return self.org.path


class DemandAnswer(Base):
    """A provider's answer to a demand: a link to a catalog resource, or a plan."""

    __tablename__ = "demand_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id"))
    plan: Mapped[str | None] = mapped_column(Text)
    planned_date: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Organization] = relationship(lazy="joined")
    resource: Mapped[Resource | None] = relationship(lazy="joined")


class DemandTransition(Base):
    """One step of a demand's life: from → to, who, when, why. Never updated."""

    __tablename__ = "demand_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
