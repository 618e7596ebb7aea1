"""Tables of scheduled verification (定期核验): schedules that rerun a job's inputs and
rule set, and the trained models those reruns reuse.

A schedule keeps a copy of the job it was made from — not a pointer to it — so that the
job it reruns is exactly the one the user saw when scheduling it. A trained model is the
Splink settings a run ended with (m and u), kept per job family and input (the reference,
or the roster in a dedupe) under a fingerprint of the rule set and the inputs' columns; a
later scheduled run with the same fingerprint scores with it instead of training again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhili.apps.verify.models import VerificationJob
from zhili.clock import utcnow
from zhili.db import Base, UTCDateTime
from zhili.identity.models import Organization


class VerificationSchedule(Base):
    """Rerun one organization's verification job every ``every_seconds`` and/or whenever
    its roster or a reference gets a new version (``on_new_version``)."""

    __tablename__ = "verification_schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    #: the runs are made as this user (their organization's grants apply)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    #: the job the spec was copied from
    source_job_id: Mapped[int | None] = mapped_column(ForeignKey("verification_jobs.id"))
    # --- the job spec it reruns (a copy) ---
    mode: Mapped[str] = mapped_column(String(16))
    roster_code: Mapped[str] = mapped_column(String(40))
    reference_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    rules_name: Mapped[str] = mapped_column(String(100), default="")
    rules_text: Mapped[str] = mapped_column(Text)
    money_column: Mapped[str | None] = mapped_column(String(64))
    system: Mapped[str | None] = mapped_column(String(100))
    #: the scenario template and its slot map, when the job came from one
    scenario: Mapped[str | None] = mapped_column(String(40))
    slots: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # --- when ---
    #: seconds between runs (None: only on new versions)
    every_seconds: Mapped[int | None] = mapped_column(Integer)
    on_new_version: Mapped[bool] = mapped_column(Boolean, default=False)
    #: paused schedules start nothing (they still fall due; resuming runs them once)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    #: when the sweep starts the next run (None: waiting for a new version)
    next_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    #: why it is due: ``interval``, or the resource and version that arrived
    due_reason: Mapped[str | None] = mapped_column(String(120))
    # --- what happened ---
    last_job_id: Mapped[int | None] = mapped_column(ForeignKey("verification_jobs.id"))
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: why the last start failed (code, status, fallback, parameters); None after a start
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    org: Mapped[Organization] = relationship(lazy="joined")
    last_job: Mapped[VerificationJob | None] = relationship(
        foreign_keys=[last_job_id], lazy="selectin"
    )

    @property
    def org_path(self) -> str:
        """The schedule organization's place in the tree (who may manage it)."""
        return self.org.path

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every resource the schedule reads: the roster, then the references."""
        return (self.roster_code, *self.reference_codes)


class TrainedModel(Base):
    """The model a run trained for one input of a job family, under the fingerprint of
    what it was trained on (rule set text, the inputs' column names and types, masks)."""

    __tablename__ = "verification_models"
    __table_args__ = (UniqueConstraint("family", "label", "fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    #: the reference's code (the roster's label in a dedupe)
    label: Mapped[str] = mapped_column(String(40))
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: Splink's saved settings: comparisons with their m and u, prior, blocking
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: where m came from when it was trained: ``ids`` or ``em``
    m_source: Mapped[str] = mapped_column(String(8))
    #: the run that trained it
    job_id: Mapped[int] = mapped_column(ForeignKey("verification_jobs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
