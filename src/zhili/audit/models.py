"""The audit log's one table. Rows are only ever inserted: database triggers refuse UPDATE
and DELETE (see :mod:`zhili.audit.guard`), and the hash chain exposes whoever bypasses them.

No foreign keys: the log must outlive the users, organizations, grants and resources it
names, and must never block their deletion or be cascaded away with them.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhili.db import Base, UTCDateTime

# 64-bit on PostgreSQL (billions of calls a year); SQLite's INTEGER PRIMARY KEY is the
# rowid itself, the fastest key it has.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class Kind(StrEnum):
    access = "access"  # somebody read data
    admin = "admin"  # somebody changed who may do or see what


class Outcome(StrEnum):
    ok = "ok"
    denied = "denied"
    error = "error"


class AuditEntry(Base):
    """One data access or administrative act (审计日志), chained to the one before it."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_username: Mapped[str | None] = mapped_column(String(64), index=True)
    org_id: Mapped[int | None] = mapped_column(Integer, index=True)
    system: Mapped[str | None] = mapped_column(String(100))
    grant_id: Mapped[int | None] = mapped_column(Integer, index=True)
    purpose: Mapped[str | None] = mapped_column(Text)
    resource_code: Mapped[str | None] = mapped_column(String(40), index=True)
    # The resource's provider at the time of the act: what "providers see who used their
    # data" filters on, without a join to a catalog that may since have changed.
    provider_org_id: Mapped[int | None] = mapped_column(Integer, index=True)
    version: Mapped[int | None] = mapped_column(Integer)
    fields: Mapped[list[str]] = mapped_column(JSON)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    query_fingerprint: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(8))
    error_code: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
