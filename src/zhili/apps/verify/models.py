"""Tables of verification jobs (比对核验任务) and their review queue (待复核).

A job keeps everything needed to run it again and get the same answer — the roster, the
references, the rule set's own text (not a path to a file that may change) and the mode —
next to what it produced: the result resource's version, a summary, or the error. Pairs
in the review tier become review items; each reviewer's decision on an item is a row of
its own (one per reviewer), because an action on a person needs two different people.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhili.clock import utcnow
from zhili.db import Base, UTCDateTime
from zhili.identity.models import Organization


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


OPEN_STATES = (JobState.queued, JobState.running)


class Mode(StrEnum):
    link = "link"  # roster × each reference
    dedupe = "dedupe"  # the same person twice in the roster (重复领取)


class ItemState(StrEnum):
    pending = "pending"  # no decision yet
    confirmed = "confirmed"  # the same person (an action may still await a second reviewer)
    rejected = "rejected"  # not the same person (reason given)
    action_approved = "action_approved"  # two reviewers confirmed the same action


class VerificationJob(Base):
    """One verification run of an organization: inputs, rule set, state and outcome."""

    __tablename__ = "verification_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[str | None] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))
    #: jobs of one family (same org, mode, inputs and rule set) write versions of one
    #: result resource
    family: Mapped[str] = mapped_column(String(64), index=True)
    roster_code: Mapped[str | None] = mapped_column(String(40))
    #: an uploaded roster, kept as ZHILI_HOME/verify/<id>/<roster_file>
    roster_file: Mapped[str | None] = mapped_column(String(200))
    reference_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    rules_name: Mapped[str] = mapped_column(String(100), default="")
    #: the rule set as written (YAML or JSON), so a rerun reads the same rules
    rules_text: Mapped[str] = mapped_column(Text)
    money_column: Mapped[str | None] = mapped_column(String(64))
    #: the scenario template (``pension`` …) the job was started from, if any
    scenario: Mapped[str | None] = mapped_column(String(40))
    #: a scenario job's reference slots: reference code → slot name
    slots: Mapped[dict[str, str] | None] = mapped_column(JSON)
    #: the API token's system the job reads for (grants may be per system)
    system: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default=JobState.queued, index=True)
    #: the background job (zhili.jobs) that runs it: progress and heartbeat
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    result_code: Mapped[str | None] = mapped_column(String(40))
    result_version: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: why it failed: code, status, fallback and parameters (rendered in any language)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    org: Mapped[Organization] = relationship(lazy="joined")

    @property
    def org_path(self) -> str:
        """The job organization's place in the tree: its reviewers decide its items."""
        return self.org.path


class ReviewItem(Base):
    """A pair in the review tier: who (roster and reference keys), how sure, why (the
    evidence with both records' compared values), and where the reviewers got to."""

    __tablename__ = "verification_review_items"
    __table_args__ = (UniqueConstraint("job_id", "reference_code", "left_id", "right_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("verification_jobs.id", ondelete="CASCADE"), index=True
    )
    #: the reference the pair was found in (the roster's code in a dedupe)
    reference_code: Mapped[str] = mapped_column(String(40))
    left_id: Mapped[str] = mapped_column(String(200))
    right_id: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(16))
    match_probability: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default=ItemState.pending, index=True)
    #: the approved action (``stop_payment`` …) once two reviewers agreed on it
    action: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    job: Mapped[VerificationJob] = relationship(lazy="joined")

    @property
    def org_path(self) -> str:
        return self.job.org_path


class Decision(Base):
    """One reviewer's word on one item. Never updated; one per reviewer and item."""

    __tablename__ = "verification_decisions"
    __table_args__ = (UniqueConstraint("item_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("verification_review_items.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reviewer: Mapped[str] = mapped_column(String(64))
    reviewer_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    decision: Mapped[str] = mapped_column(String(16))  # confirm | reject
    action: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
