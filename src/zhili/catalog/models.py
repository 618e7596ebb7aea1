"""Tables of the catalog: resources, their edit history, and their lake versions."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhili.clock import utcnow
from zhili.db import Base, UTCDateTime
from zhili.identity.models import Organization


class SharingType(StrEnum):
    unconditional = "unconditional"  # 无条件共享
    conditional = "conditional"  # 有条件共享
    none = "none"  # 不予共享


class OpenType(StrEnum):
    open = "open"  # 无条件开放
    conditional = "conditional"  # 有条件开放
    closed = "closed"  # 不予开放


class SharingMethod(StrEnum):
    api = "api"
    file = "file"
    subscription = "subscription"


class UpdateCycle(StrEnum):
    realtime = "realtime"
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"
    irregular = "irregular"


class Classification(StrEnum):
    base = "base"  # 基础信息资源
    theme = "theme"  # 主题信息资源
    department = "department"  # 部门信息资源


class Grade(StrEnum):
    core = "core"  # 核心数据
    important = "important"  # 重要数据
    general = "general"  # 一般数据


class Resource(Base):
    """A catalogued data set (信息资源): metadata per GB/T 21063.3 and the 2017 national
    catalog guide; its items (信息项) live in ``table_schema`` as Table Schema v2."""

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    summary: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(40), default="table")
    classification: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    table_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    sharing_type: Mapped[str] = mapped_column(String(16), index=True)
    sharing_conditions: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    sharing_methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    open_type: Mapped[str] = mapped_column(String(16), index=True)
    open_conditions: Mapped[str | None] = mapped_column(Text)
    update_cycle: Mapped[str] = mapped_column(String(16))
    publish_date: Mapped[dt.date | None] = mapped_column(Date)
    related: Mapped[list[str]] = mapped_column(JSON, default=list)
    grade: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    current_version: Mapped[int | None] = mapped_column(Integer)

    provider: Mapped[Organization] = relationship(lazy="joined")

    @property
    def org_path(self) -> str:
        """The provider's place in the org tree: stewards act on their own org's resources."""
        return self.provider.path


class ResourceTag(Base):
    """One subject tag of a resource, as rows so tag filters and facets work the same on
    SQLite and PostgreSQL (the JSON list on the resource is what people edit)."""

    __tablename__ = "resource_tags"
    __table_args__ = (UniqueConstraint("resource_id", "tag"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(50), index=True)


class ResourceRevision(Base):
    """One saved state of a resource's metadata: who changed it, when, and to what."""

    __tablename__ = "resource_revisions"
    __table_args__ = (UniqueConstraint("resource_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    changed_by: Mapped[str | None] = mapped_column(String(64))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class LakeVersion(Base):
    """A committed version of a resource's Delta table, as the catalog records it."""

    __tablename__ = "lake_versions"
    __table_args__ = (UniqueConstraint("resource_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    rows_written: Mapped[int] = mapped_column(BigInteger)
    total_rows: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str | None] = mapped_column(String(300))
    committed_by: Mapped[str | None] = mapped_column(String(64))
    committed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    quality: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ResourceTerm(Base):
    """A search term of a resource with its weight (name and tags count more than the
    summary). Chinese text is segmented with jieba, English lower-cased, so one plain
    index answers searches in both languages on SQLite and PostgreSQL alike."""

    __tablename__ = "resource_terms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    term: Mapped[str] = mapped_column(String(64), index=True)
    weight: Mapped[int] = mapped_column(Integer)
