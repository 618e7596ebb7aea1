"""The event catalogue (事项目录) as a service: import it, read it, and answer the questions
the rest of grid governance asks of a category — which department handles an event here,
by when each stage must be done (时限), whether a report's answers fit its form — and how
it reads as an Open311 GeoReport v2 service.

An import is all or nothing: `zhili.apps.grid.category_spec` checks every category and
route first, then the departments and areas are looked up, and only then anything is
written, with one audit act. Categories are upserted by code and never deleted (set
``active: false`` to retire one: events filed under it keep their category).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor, require
from zhili.apps.grid.answers import answers_from_form, list_codes, validate_answers
from zhili.apps.grid.category_spec import (
    STAGES,
    Catalogue,
    CategorySpec,
    parse_catalogue,
    read_catalogue_text,
)
from zhili.apps.grid.models import CategoryRoute, EventCategory, GridArea
from zhili.audit.acts import record_act
from zhili.calendar.service import WorkCalendar
from zhili.errors import InvalidInput, NotFound
from zhili.identity.models import Organization

if TYPE_CHECKING:
    from zhili.apps.grid.area_tree import AreaNode

__all__ = [
    "STAGES",
    "CategorySpec",
    "ImportReport",
    "answers_from_form",
    "deadline",
    "get_category",
    "import_categories",
    "list_categories",
    "list_codes",
    "load_shipped",
    "open311_definition",
    "open311_service",
    "parse_catalogue",
    "read_catalogue_text",
    "responsible_department",
    "routes_of",
    "validate_answers",
]

SHIPPED = ("catalog", "categories.yaml")
#: Open311 attribute fields, in the order GeoReport v2 lists them.
OPEN311_ATTRIBUTE = ("variable", "code", "datatype", "required", "datatype_description",
                     "order", "description")  # fmt: skip


@dataclass(frozen=True)
class ImportReport:
    """What an import changed."""

    created: int
    updated: int
    routes: int


def load_shipped() -> Any:
    """The shipped catalogue, decoded but not yet checked (``import_categories`` checks)."""
    path = resources.files("zhili.apps.grid").joinpath(*SHIPPED)
    return read_catalogue_text(path.read_text(encoding="utf-8"), name="categories.yaml")


# --- import -------------------------------------------------------------------------------


def _orgs(session: Session, catalogue: Catalogue) -> dict[str, Organization]:
    codes = {c.department for c in catalogue.categories} | {r.department for r in catalogue.routes}
    query = select(Organization).where(Organization.code.in_(codes))
    found = {o.code: o for o in session.scalars(query)}
    for spec in catalogue.categories:
        if spec.department not in found:
            raise _unknown_org(spec.code, "department", spec.department)
    for i, route in enumerate(catalogue.routes):
        if route.department not in found:
            raise _unknown_org(route.category, f"routes[{i}].department", route.department)
    return found


def _unknown_org(category: str, field: str, code: str) -> InvalidInput:
    return InvalidInput(
        "grid.category_unknown_org",
        "Category {category}, {field}: no organization has the code {code}.",
        category=category,
        field=field,
        code=code,
    )


def _route_targets(
    session: Session, catalogue: Catalogue, existing: dict[str, EventCategory]
) -> dict[str, GridArea]:
    codes = {r.area for r in catalogue.routes}
    areas = {a.code: a for a in session.scalars(select(GridArea).where(GridArea.code.in_(codes)))}
    importing = {c.code for c in catalogue.categories}
    for i, route in enumerate(catalogue.routes):
        if route.category not in importing and route.category not in existing:
            raise InvalidInput(
                "grid.route_unknown_category",
                "{field}: there is no category {category}.",
                category=route.category,
                field=f"routes[{i}].category",
            )
        if route.area not in areas:
            raise InvalidInput(
                "grid.route_unknown_area",
                "Category {category}, {field}: there is no grid area {area}.",
                category=route.category,
                field=f"routes[{i}].area",
                area=route.area,
            )
    return areas


def _apply(row: EventCategory, spec: CategorySpec, department: Organization) -> None:
    row.name, row.name_en = spec.name, spec.name_en
    row.group, row.group_en = spec.group, spec.group_en
    row.description = spec.description
    row.keywords = list(spec.keywords)
    row.attributes = [dict(a) for a in spec.attributes]
    row.department_id = department.id
    row.level = spec.level
    row.time_limits = {k: dict(v) for k, v in (spec.time_limits or {}).items()}
    row.active = spec.active


def import_categories(
    session: Session, actor: Actor, data: list[dict[str, Any]] | dict[str, Any], *, by: str
) -> ImportReport:
    """Upsert categories by code and routes by (category, area), all or nothing; ``by``
    says where the catalogue came from (a file's name, ``shipped``), for the audit log."""
    require(actor, "grid.manage")
    catalogue = parse_catalogue(data)
    orgs = _orgs(session, catalogue)
    wanted = {c.code for c in catalogue.categories} | {r.category for r in catalogue.routes}
    existing = {
        c.code: c
        for c in session.scalars(select(EventCategory).where(EventCategory.code.in_(wanted)))
    }
    areas = _route_targets(session, catalogue, existing)
    created = updated = 0
    for spec in catalogue.categories:
        row = existing.get(spec.code)
        if row is None:
            row = EventCategory(code=spec.code)
            session.add(row)
            existing[spec.code] = row
            created += 1
        else:
            updated += 1
        _apply(row, spec, orgs[spec.department])
    session.flush()
    for route in catalogue.routes:
        category, area = existing[route.category], areas[route.area]
        found = session.scalar(
            select(CategoryRoute).where(
                CategoryRoute.category_id == category.id, CategoryRoute.area_id == area.id
            )
        )
        if found is None:
            found = CategoryRoute(category_id=category.id, area_id=area.id)
            session.add(found)
        found.department_id = orgs[route.department].id
    record_act(
        session,
        actor,
        "grid.catalogue_import",
        detail={"source": by[:200], "created": created, "updated": updated,
                "routes": len(catalogue.routes),
                "codes": sorted(c.code for c in catalogue.categories)[:200]},
    )  # fmt: skip
    return ImportReport(created, updated, len(catalogue.routes))


# --- reading ------------------------------------------------------------------------------


def list_categories(
    session: Session, *, group: str | None = None, active: bool | None = True
) -> list[EventCategory]:
    """Categories by group then code (``active=None``: retired ones too)."""
    query = select(EventCategory).order_by(EventCategory.group, EventCategory.code)
    if group is not None:
        query = query.where(EventCategory.group == group)
    if active is not None:
        query = query.where(EventCategory.active.is_(active))
    return list(session.scalars(query))


def get_category(session: Session, code: str) -> EventCategory:
    """One category by its code (retired ones too); 404 ``grid.category_not_found``."""
    found = session.scalar(select(EventCategory).where(EventCategory.code == code))
    if found is None:
        raise NotFound("grid.category_not_found", "No event category {code}.", code=code)
    return found


def routes_of(session: Session, category: EventCategory) -> list[CategoryRoute]:
    """The category's routes, outermost areas first."""
    query = (
        select(CategoryRoute)
        .join(GridArea, GridArea.id == CategoryRoute.area_id)
        .where(CategoryRoute.category_id == category.id)
        .order_by(GridArea.path)
    )
    return list(session.scalars(query))


def responsible_department(
    session: Session, category: EventCategory, area: GridArea | AreaNode
) -> Organization:
    """Who handles an event of ``category`` in ``area``: the route of the deepest area
    containing it (itself or an ancestor, by its path), else the category's department."""
    ids = {int(part) for part in area.path.strip("/").split("/") if part.isdigit()} | {area.id}
    rows = session.execute(
        select(Organization, GridArea.path)
        .join(CategoryRoute, CategoryRoute.department_id == Organization.id)
        .join(GridArea, GridArea.id == CategoryRoute.area_id)
        .where(CategoryRoute.category_id == category.id, CategoryRoute.area_id.in_(ids))
    ).all()
    if not rows:
        return category.department
    department, _ = max(rows, key=lambda row: len(row[1]))
    return department


def deadline(
    category: EventCategory | CategorySpec, stage: str, start: dt.datetime, calendar: WorkCalendar
) -> dt.datetime | None:
    """When ``stage`` of an event that reached it at ``start`` is due: the time limit in
    working hours, or "N 个工作日内" (the end of the Nth working day after, the start's day
    not counting). None when the category sets no limit for the stage."""
    if stage not in STAGES:
        raise InvalidInput(
            "grid.stage_unknown",
            "{stage} is not a stage; the stages are {stages}.",
            stage=stage,
            stages=", ".join(STAGES),
        )
    limit = (category.time_limits or {}).get(stage)
    if not limit:
        return None
    if limit["unit"] == "hours":
        return calendar.add_work_hours(start, float(limit["amount"]))
    return calendar.deadline(start, int(limit["amount"]))


# --- Open311 ------------------------------------------------------------------------------


def open311_service(category: EventCategory, locale: str | None = None) -> dict[str, Any]:
    """The category as one entry of GeoReport v2 ``GET services`` (English names when
    ``locale`` is ``en`` and the category has them)."""
    english = locale == "en"
    return {
        "service_code": category.code,
        "service_name": (english and category.name_en) or category.name,
        "description": category.description or "",
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": ",".join(category.keywords or []),
        "group": (english and category.group_en) or category.group,
    }


def open311_definition(category: EventCategory, locale: str | None = None) -> dict[str, Any]:
    """The category's GeoReport v2 service definition (``GET services/{code}``): its
    attributes with exactly the standard fields; list types with ``values``."""
    english = locale == "en"
    attributes = []
    for attribute in category.attributes or []:
        out = {key: attribute.get(key) for key in OPEN311_ATTRIBUTE}
        out["datatype_description"] = out["datatype_description"] or ""
        if english and attribute.get("description_en"):
            out["description"] = attribute["description_en"]
        if "values" in attribute:
            out["values"] = [
                {"key": v["key"], "name": (english and v.get("name_en")) or v["name"]}
                for v in attribute["values"]
            ]
        attributes.append(out)
    return {"service_code": category.code, "attributes": attributes}
