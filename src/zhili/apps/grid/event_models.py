"""Tables of the event workflow (事件): the event, its steps, its departments, followers,
notifications and attachments.

An event carries its current state and the clock of the stage it is in (started, warn
at 80 %, due at 100 % of the category's time limit in working time). Every transition
is a row in ``grid_event_steps`` numbered per event; the pair (event, seq) is unique, so
two people acting on the same event at once cannot both write step N+1 — the loser's
transaction fails and nothing of it lands (``seq`` is also the row's version counter).
``warned_seq`` names the stage (by the seq of the step that started it) already warned
about. An escalation (督办) moves ``due_at`` one time limit on, so a sweep that is
interrupted and run again finds nothing it already escalated still due.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhili.apps.grid.models import EventCategory, GridArea
from zhili.clock import utcnow
from zhili.db import Base, UTCDateTime
from zhili.identity.models import Organization


class EventState(StrEnum):
    reported = "reported"  # 上报
    registered = "registered"  # 立案
    rejected = "rejected"  # 不予立案
    dispatched = "dispatched"  # 吹哨
    acknowledged = "acknowledged"  # 报到
    in_progress = "in_progress"  # 处置中
    handled = "handled"  # 已处置
    verified = "verified"  # 已核查
    closed = "closed"  # 结案
    merged = "merged"  # 并入另一事件


#: states in which an event still needs someone
OPEN_STATES: tuple[EventState, ...] = (
    EventState.reported,
    EventState.registered,
    EventState.dispatched,
    EventState.acknowledged,
    EventState.in_progress,
    EventState.handled,
    EventState.verified,
)
FINAL_STATES = (EventState.rejected, EventState.closed, EventState.merged)


class Source(StrEnum):
    grid_worker = "grid_worker"  # 网格员巡查
    public = "public"  # 群众上报 (web page)
    api = "api"  # the native API
    hotline = "hotline"  # 12345 政务服务便民热线 (CSV import)
    open311 = "open311"  # an Open311 GeoReport v2 client


#: the columns statistics read of an event (stats.py), carried in its period indexes
FIGURES = [
    "area_id", "category_id", "level", "state", "open", "stage_due_at", "warn_at",
    "escalations", "reopened", "rating", "closed_at", "lon", "lat",
]  # fmt: skip


class GridEvent(Base):
    """One reported problem and where it stands."""

    __tablename__ = "grid_events"
    __table_args__ = (
        Index("ix_grid_events_open_due", "open", "due_at"),
        Index("ix_grid_events_category_open", "category_id", "open"),
        # the sweep's warnings: only the open stages not yet warned about (sweep.py)
        Index(
            "ix_grid_events_unwarned",
            "warn_at",
            postgresql_where=text("open AND warned_seq <> stage_seq"),
            sqlite_where=text("open AND warned_seq <> stage_seq"),
        ),
        # statistics (stats.py): the city's or an area's events of a period, holding every
        # column the figures read (PostgreSQL: an index-only scan, no table row touched);
        # closings per day, per area too
        Index("ix_grid_events_reported_at", "reported_at", postgresql_include=FIGURES),
        Index(
            "ix_grid_events_area_reported",
            "area_id",
            "reported_at",
            postgresql_include=FIGURES,
        ),
        Index("ix_grid_events_closed_at", "closed_at"),
        Index("ix_grid_events_area_closed", "area_id", "closed_at"),
        UniqueConstraint("source", "external_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("grid_categories.id"), index=True)
    #: the deepest area holding the spot (normally a grid)
    area_id: Mapped[int] = mapped_column(ForeignKey("grid_areas.id"), index=True)
    #: the area whose command centre is responsible now (moves up when escalated)
    command_area_id: Mapped[int] = mapped_column(ForeignKey("grid_areas.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(16))
    #: the hotline ticket or client's own id, so a re-import creates nothing twice
    external_id: Mapped[str | None] = mapped_column(String(64))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_contact: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), index=True)
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    #: steps so far; the next step is seq + 1 (and the event row changes with it)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str | None] = mapped_column(String(16))
    stage_seq: Mapped[int] = mapped_column(Integer, default=0)
    stage_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    warn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: the stage's time limit runs out (fixed; on-time rates are measured against it)
    stage_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: the next escalation: the stage's limit, then one more limit after each 督办
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    warned_seq: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)  # 督办
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    lead_department_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("grid_events.id"))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    rated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    #: every change of an event names the seq it started from: a concurrent change loses
    __mapper_args__: ClassVar[dict[str, Any]] = {
        "version_id_col": seq,
        "version_id_generator": False,
    }

    category: Mapped[EventCategory] = relationship()
    area: Mapped[GridArea] = relationship(foreign_keys=[area_id])
    command_area: Mapped[GridArea] = relationship(foreign_keys=[command_area_id])
    lead_department: Mapped[Organization | None] = relationship()


class EventStep(Base):
    """One transition of one event: who did what, when, why, with which attachments."""

    __tablename__ = "grid_event_steps"
    __table_args__ = (
        UniqueConstraint("event_id", "seq"),
        Index("ix_grid_event_steps_at", "at"),
        # statistics (stats.py): the stages completed in a period, by the step's time, with
        # everything the figures read, so no table row (nor JSON) is touched
        Index(
            "ix_grid_event_steps_stage_done",
            "at",
            "stage",
            "late",
            "work_minutes",
            "event_id",
            postgresql_where=text("stage IS NOT NULL"),
            sqlite_where=text("stage IS NOT NULL"),
        ),
        # the same for one area's steps (a commander's statistics), without the events
        Index(
            "ix_grid_event_steps_area_stage_done",
            "area_id",
            "at",
            postgresql_include=["stage", "late", "work_minutes"],
            postgresql_where=text("stage IS NOT NULL"),
            sqlite_where=text("stage IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("grid_events.id", ondelete="CASCADE"))
    #: the event's area (fixed at its report), so an area's steps are found without
    #: joining the events (None on escalation steps, which complete no stage)
    area_id: Mapped[int | None] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(100))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the stage this step completed, whether past its limit, its working minutes — also
    #: in ``data``; typed here so statistics read no JSON (None: no stage completed)
    stage: Mapped[str | None] = mapped_column(String(16))
    late: Mapped[bool | None] = mapped_column(Boolean)
    work_minutes: Mapped[float | None] = mapped_column(Float)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    #: set instead of ``event_id`` while the event is new, so one flush inserts the event
    #: and then its steps (the report writes three before the event has an id)
    event: Mapped[GridEvent] = relationship(foreign_keys=[event_id])


class EventDepartment(Base):
    """A department an event was dispatched to (吹哨); the lead reports in (报到)."""

    __tablename__ = "grid_event_departments"
    __table_args__ = (UniqueConstraint("event_id", "department_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("grid_events.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    lead: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    dispatched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))

    department: Mapped[Organization] = relationship()
    event: Mapped[GridEvent] = relationship(foreign_keys=[event_id])


class EventFollower(Base):
    """Someone told about an event's progress: its reporter, a merged duplicate's
    reporter, or a resident who asked to follow it (by a secret follow link)."""

    __tablename__ = "grid_event_followers"
    __table_args__ = (UniqueConstraint("event_id", "token_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("grid_events.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 of the follow link's secret (anonymous residents), or "" for a user
    token_hash: Mapped[str] = mapped_column(String(64), default="")
    contact: Mapped[str | None] = mapped_column(String(200))
    #: the event this follower reported, when it was merged into this one
    via_event_id: Mapped[int | None] = mapped_column(ForeignKey("grid_events.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[GridEvent] = relationship(foreign_keys=[event_id])


class EventNotice(Base):
    """A message to one follower (closed, merged, rejected …), shown on their follow page
    or in their inbox until read."""

    __tablename__ = "grid_event_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    follower_id: Mapped[int] = mapped_column(
        ForeignKey("grid_event_followers.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("grid_events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Attachment(Base):
    """A photo of an event, stored once by content (SHA-256) under ZHILI_HOME."""

    __tablename__ = "grid_attachments"
    __table_args__ = (UniqueConstraint("event_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("grid_events.id", ondelete="CASCADE"), index=True
    )
    step_seq: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(200), default="")
    #: where the photo says it was taken (EXIF GPS), when it says so
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
