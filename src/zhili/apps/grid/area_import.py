"""Import the grid tree (网格) from GeoJSON: every feature is checked first and one bad
feature refuses the whole file, so a half-imported tree never exists. The writes are set
based (one insert per level, one update for the known areas, one path update per level)
because the demo city alone has 25,000 areas."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import shape
from sqlalchemy import String, cast, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, aliased

from zhili.access import Actor, require
from zhili.apps.grid.area_tree import forget_area_trees
from zhili.apps.grid.models import AREA_DEPTH, AREA_LEVELS, AreaLevel, GridArea
from zhili.audit.acts import record_act
from zhili.errors import InvalidInput
from zhili.identity.models import Organization

CODE_MAX = 32
NAME_MAX = 200
MAX_ERRORS = 50
POLYGONS = ("Polygon", "MultiPolygon")


@dataclass
class ImportReport:
    """What an import did: areas created and updated per level, organizations linked."""

    created: int = 0
    updated: int = 0
    by_level: dict[str, int] = field(default_factory=dict)
    linked_orgs: int = 0


@dataclass(frozen=True, slots=True)
class AreaSpec:
    """One checked feature, ready to be written."""

    index: int
    code: str
    name: str
    name_en: str | None
    level: str
    parent_code: str | None
    geometry: dict[str, Any]
    bbox: tuple[float, float, float, float]
    center: tuple[float, float]


@dataclass(frozen=True, slots=True)
class _Known:
    """An area already in the database, as far as checking a file needs it."""

    id: int
    level: str


def _bad(code: str, template: str, index: int, area: str, fld: str, **params: Any) -> InvalidInput:
    return InvalidInput(code, template, feature=index, area=area, field=fld, **params)


def _geometry(index: int, code: str, raw: Any) -> tuple[Any, tuple[float, float]]:
    """The polygon and a point inside it (centroid when inside, else a representative
    point), or the reason it is unusable."""
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in POLYGONS:
        raise _bad(
            "grid.feature_not_polygon",
            "feature {feature} ({area}): geometry must be a Polygon or MultiPolygon, not {kind}",
            index,
            code,
            "geometry",
            kind=str(kind),
        )
    try:
        geom = shape(raw)
        bounds = geom.bounds
    except (
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
        shapely.errors.ShapelyError,
    ) as exc:
        raise _bad(
            "grid.feature_bad_geometry",
            "feature {feature} ({area}): geometry is not valid: {reason}",
            index,
            code,
            "geometry",
            reason=str(exc)[:200],
        ) from None
    if geom.is_empty or any(not math.isfinite(v) for v in bounds):
        raise _bad(
            "grid.feature_bad_geometry",
            "feature {feature} ({area}): geometry is not valid: {reason}",
            index,
            code,
            "geometry",
            reason="empty",
        )
    min_lon, min_lat, max_lon, max_lat = bounds
    if min_lon < -180 or max_lon > 180 or min_lat < -90 or max_lat > 90:
        raise _bad(
            "grid.feature_out_of_range",
            "feature {feature} ({area}): coordinates outside lon -180..180 / lat -90..90 "
            "(bounds {bounds})",
            index,
            code,
            "geometry",
            bounds=[round(v, 6) for v in bounds],
        )
    if not geom.is_valid:
        raise _bad(
            "grid.feature_bad_geometry",
            "feature {feature} ({area}): geometry is not valid: {reason}",
            index,
            code,
            "geometry",
            reason=shapely.is_valid_reason(geom),
        )
    center = geom.centroid
    if not geom.contains(center):
        center = geom.representative_point()
    return geom, (round(center.x, 6), round(center.y, 6))


def _spec(index: int, feature: Any) -> AreaSpec:
    """Check one feature's own fields (not its parent)."""
    props = feature.get("properties") if isinstance(feature, dict) else None
    if not isinstance(props, dict):
        raise _bad(
            "grid.feature_not_feature",
            "feature {feature}: not a GeoJSON Feature with properties",
            index,
            "",
            "properties",
        )
    code = props.get("code")
    shown = str(code) if code is not None else ""
    if not isinstance(code, str) or not code or len(code) > CODE_MAX or not code.isalnum():
        raise _bad(
            "grid.feature_bad_code",
            "feature {feature}: code {value!r} must be 1–32 letters or digits",
            index,
            shown,
            "code",
            value=shown,
        )
    name = props.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise _bad(
            "grid.feature_bad_name",
            "feature {feature} ({area}): name is required (at most 200 characters)",
            index,
            code,
            "name",
        )
    level = props.get("level")
    if level not in AreaLevel.__members__:
        raise _bad(
            "grid.feature_bad_level",
            "feature {feature} ({area}): level {value!r} is not one of {valid}",
            index,
            code,
            "level",
            value=str(level),
            valid=", ".join(AREA_LEVELS),
        )
    parent = props.get("parent_code") or None
    if parent is not None and not isinstance(parent, str):
        parent = str(parent)
    name_en = props.get("name_en") or None
    geom, center = _geometry(index, code, feature.get("geometry"))
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    return AreaSpec(
        index=index,
        code=code,
        name=name.strip(),
        name_en=str(name_en)[:NAME_MAX] if name_en else None,
        level=level,
        parent_code=parent,
        geometry=feature["geometry"],
        bbox=(min_lon, min_lat, max_lon, max_lat),
        center=center,
    )


def _check_parent(spec: AreaSpec, parent_level: str | None) -> None:
    """A city has no parent; every other area sits exactly one level below its parent."""
    if spec.level == AreaLevel.city:
        if spec.parent_code is not None:
            raise _bad(
                "grid.feature_city_parent",
                "feature {feature} ({area}): a city has no parent, got {parent}",
                spec.index,
                spec.code,
                "parent_code",
                parent=spec.parent_code,
            )
        return
    if spec.parent_code is None:
        raise _bad(
            "grid.feature_parent_required",
            "feature {feature} ({area}): a {level} needs parent_code",
            spec.index,
            spec.code,
            "parent_code",
            level=spec.level,
        )
    if parent_level is None:
        raise _bad(
            "grid.feature_unknown_parent",
            "feature {feature} ({area}): parent {parent} is neither in the file nor "
            "in the database",
            spec.index,
            spec.code,
            "parent_code",
            parent=spec.parent_code,
        )
    if AREA_DEPTH[AreaLevel(parent_level)] != AREA_DEPTH[AreaLevel(spec.level)] - 1:
        raise _bad(
            "grid.feature_parent_level",
            "feature {feature} ({area}): a {level} cannot sit under {parent}, a "
            "{parent_level}; the parent must be one level up",
            spec.index,
            spec.code,
            "parent_code",
            level=spec.level,
            parent=spec.parent_code,
            parent_level=parent_level,
        )


def _fail(errors: list[InvalidInput]) -> InvalidInput:
    """The first problem (its message localised) with every problem listed."""
    first = errors[0]
    listed = [
        {
            "feature": e.params.get("feature"),
            "area": e.params.get("area"),
            "field": e.params.get("field"),
            "problem": e.code,
            "message": e.message("en"),
        }
        for e in errors
    ]
    return InvalidInput(
        first.code, first.fallback, **first.params, errors=listed, total_errors=len(errors)
    )


def _features(collection: Any) -> list[Any]:
    if (
        not isinstance(collection, dict)
        or collection.get("type") != "FeatureCollection"
        or not isinstance(collection.get("features"), list)
    ):
        raise InvalidInput(
            "grid.not_feature_collection", "the file is not a GeoJSON FeatureCollection"
        )
    if not collection["features"]:
        raise InvalidInput("grid.no_features", "the FeatureCollection has no features")
    return collection["features"]


def check_features(session: Session, collection: Any) -> tuple[list[AreaSpec], dict[str, _Known]]:
    """Every feature checked (own fields, duplicates, parents, levels), parents first.
    Returns the specs in write order and the areas already known by code."""
    features = _features(collection)
    known = {
        code: _Known(id_, level)
        for code, id_, level in session.execute(select(GridArea.code, GridArea.id, GridArea.level))
    }
    specs: dict[str, AreaSpec] = {}
    errors: list[InvalidInput] = []
    for index, feature in enumerate(features):
        try:
            spec = _spec(index, feature)
        except InvalidInput as exc:
            errors.append(exc)
        else:
            if spec.code in specs:
                errors.append(
                    _bad(
                        "grid.feature_duplicate_code",
                        "feature {feature} ({area}): code also used by feature {first}",
                        index,
                        spec.code,
                        "code",
                        first=specs[spec.code].index,
                    )
                )
            else:
                specs[spec.code] = spec
        if len(errors) >= MAX_ERRORS:
            raise _fail(errors)
    for spec in specs.values():
        old = known.get(spec.code)
        if old is not None and old.level != spec.level:
            errors.append(
                _bad(
                    "grid.feature_level_changed",
                    "feature {feature} ({area}): already imported as a {old}, "
                    "cannot become a {level}",
                    spec.index,
                    spec.code,
                    "level",
                    old=old.level,
                    level=spec.level,
                )
            )
            continue
        in_file = specs.get(spec.parent_code) if spec.parent_code else None
        in_db = known.get(spec.parent_code) if spec.parent_code else None
        parent_level = in_file.level if in_file else (in_db.level if in_db else None)
        try:
            _check_parent(spec, parent_level)
        except InvalidInput as exc:
            errors.append(exc)
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise _fail(sorted(errors, key=lambda e: int(e.params.get("feature", 0))))
    ordered = sorted(specs.values(), key=lambda s: (AREA_DEPTH[AreaLevel(s.level)], s.index))
    return ordered, known


def _row(spec: AreaSpec, parent_id: int | None, org_id: int | None) -> dict[str, Any]:
    min_lon, min_lat, max_lon, max_lat = spec.bbox
    return {
        "code": spec.code,
        "name": spec.name,
        "name_en": spec.name_en,
        "level": spec.level,
        "parent_id": parent_id,
        "org_id": org_id,
        "geometry": spec.geometry,
        "min_lon": min_lon,
        "min_lat": min_lat,
        "max_lon": max_lon,
        "max_lat": max_lat,
        "center_lon": spec.center[0],
        "center_lat": spec.center[1],
    }


def _refresh_paths(session: Session) -> None:
    """Materialised paths rebuilt level by level from the parents' (five statements),
    which also moves the subtree of an area that changed parent."""
    parent = aliased(GridArea)
    for level in AREA_LEVELS:
        own = cast(GridArea.id, String) + "/"
        if level == AreaLevel.city:
            value = "/" + own
        else:
            value = (
                select(parent.path).where(parent.id == GridArea.parent_id).scalar_subquery() + own
            )
        session.execute(
            update(GridArea).where(GridArea.level == level).values(path=value),
            execution_options={"synchronize_session": False},
        )


def write_areas(session: Session, specs: list[AreaSpec], known: dict[str, _Known]) -> ImportReport:
    """Insert the new areas level by level (children need their parents' ids), update the
    known ones in one executemany, then rebuild paths. Callers check access."""
    orgs = {c: i for c, i in session.execute(select(Organization.code, Organization.id))}
    ids = {code: k.id for code, k in known.items()}
    report = ImportReport(by_level=dict(Counter(s.level for s in specs)))
    report.linked_orgs = sum(1 for s in specs if s.code in orgs)
    for level in AREA_LEVELS:
        batch = [s for s in specs if s.level == level]
        new = [s for s in batch if s.code not in ids]
        old = [s for s in batch if s.code in ids]
        if new:
            rows = [
                {**_row(s, ids.get(s.parent_code or ""), orgs.get(s.code)), "path": "/"}
                for s in new
            ]
            session.execute(insert(GridArea), rows)
            codes = {s.code for s in new}
            found = session.execute(
                select(GridArea.code, GridArea.id).where(GridArea.level == level)
            )
            ids.update((c, i) for c, i in found if c in codes)
        if old:
            rows = [
                {"id": ids[s.code], **_row(s, ids.get(s.parent_code or ""), orgs.get(s.code))}
                for s in old
            ]
            session.execute(update(GridArea), rows)
        report.created += len(new)
        report.updated += len(old)
    _refresh_paths(session)
    session.expire_all()
    forget_area_trees()  # this process sees the new tree now, and again once committed
    sa_event.listen(session, "after_commit", lambda _s: forget_area_trees(), once=True)
    return report


def import_areas(
    session: Session, actor: Actor, feature_collection: Any, *, by: str
) -> ImportReport:
    """Create or update the grid tree from a GeoJSON FeatureCollection (all or nothing).
    Bureau admins only (``grid.manage``); ``by`` names the source for the audit log."""
    require(actor, "grid.manage")
    specs, known = check_features(session, feature_collection)
    report = write_areas(session, specs, known)
    record_act(
        session,
        actor,
        "grid.areas_import",
        detail={
            "by": by,
            "created": report.created,
            "updated": report.updated,
            "by_level": report.by_level,
            "linked_orgs": report.linked_orgs,
        },
    )
    return report
