"""Tables of grid governance's geography (网格) and its event catalogue (事项目录).

Areas form one tree, city → district → street/town → community/village → grid, each with
its polygon. Every level above the grid is run by a government organization (its command
centre: commanders and handlers are that organization's users), so an area above grid
level points at its organization; grids are where grid workers walk and are assigned
directly. The bounding box is kept in plain columns so that "which grid is this point in"
is an indexed range query followed by one exact polygon test, on SQLite and PostgreSQL
alike.

A category is an Open311 service: its code is the ``service_code``, its form the service
definition's attributes. Who handles an event of a category is the category's department
unless a route names another for the area (or an area above it) the event lies in.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhili.clock import utcnow
from zhili.db import Base, UTCDateTime
from zhili.identity.models import Organization, User


class AreaLevel(StrEnum):
    """The five levels of the grid tree, top down."""

    city = "city"
    district = "district"
    street = "street"
    community = "community"
    grid = "grid"


AREA_LEVELS: tuple[AreaLevel, ...] = tuple(AreaLevel)
AREA_DEPTH = {level: i for i, level in enumerate(AREA_LEVELS)}


class GridArea(Base):
    """One territorial unit of the grid tree, with its polygon (GeoJSON, WGS-84)."""

    __tablename__ = "grid_areas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid_areas.id", ondelete="RESTRICT"), index=True
    )
    #: materialised path of ids ("/1/5/42/"): a subtree is one prefix test
    path: Mapped[str] = mapped_column(String(400), index=True, default="/")
    #: the government organization that commands this area (none for a grid)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    min_lon: Mapped[float] = mapped_column(Float, index=True)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    center_lon: Mapped[float] = mapped_column(Float)
    center_lat: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    parent: Mapped[GridArea | None] = relationship(remote_side=[id])
    org: Mapped[Organization | None] = relationship()


class GridMember(Base):
    """A grid worker (网格员) assigned to a grid; a worker may cover several grids."""

    __tablename__ = "grid_members"
    __table_args__ = (UniqueConstraint("area_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_id: Mapped[int] = mapped_column(
        ForeignKey("grid_areas.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_by: Mapped[str] = mapped_column(String(64))

    area: Mapped[GridArea] = relationship()
    user: Mapped[User] = relationship()


class EventCategory(Base):
    """One kind of event in the catalogue (事项目录): an Open311 service."""

    __tablename__ = "grid_categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the Open311 service_code
    code: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    #: the Open311 group, e.g. 市容环境
    group: Mapped[str] = mapped_column(String(100))
    group_en: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: the service definition's attributes (Open311 GeoReport v2), in order
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: the department that handles it unless a route says otherwise
    department_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    #: the lowest level whose command centre registers and dispatches it
    level: Mapped[str] = mapped_column(String(16), default=AreaLevel.street)
    #: time limit per stage: {"register": {"amount": 2, "unit": "hours"}, ...}
    time_limits: Mapped[dict[str, dict[str, Any]]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    department: Mapped[Organization] = relationship()


class CategoryRoute(Base):
    """A different responsible department for a category inside one area's subtree."""

    __tablename__ = "grid_category_routes"
    __table_args__ = (UniqueConstraint("category_id", "area_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int] = mapped_column(
        ForeignKey("grid_categories.id", ondelete="CASCADE"), index=True
    )
    area_id: Mapped[int] = mapped_column(ForeignKey("grid_areas.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))

    category: Mapped[EventCategory] = relationship()
    area: Mapped[GridArea] = relationship()
    department: Mapped[Organization] = relationship()
