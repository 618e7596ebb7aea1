"""The demo city: hierarchy, codes, names, and polygons that tile (checked with shapely)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import numpy as np
import pytest
import shapely
from stdnum.cn import ric

from zhili.synth import idcard
from zhili.synth.city import LEVELS, Area, City, build_city
from zhili.synth.regions import (
    CITY_CODE,
    DISTRICTS,
    MIGRANT_FIRST_BIRTH_YEAR,
    MIGRANT_ORIGINS,
    id_region_code,
)

CODE_LENGTH = {"city": 6, "district": 6, "street": 9, "community": 12, "grid": 15}


@pytest.fixture(scope="module")
def city() -> City:
    return build_city()


@pytest.fixture(scope="module")
def shapes(city: City) -> dict[str, shapely.Polygon]:
    return {a.code: shapely.geometry.shape(a.geometry) for a in city.areas()}


def test_counts(city: City) -> None:
    assert len(city.districts) == 16
    assert len(city.streets) == sum(d.streets for d in DISTRICTS) == 275
    assert 3_500 <= len(city.communities) <= 6_000
    assert 15_000 <= len(city.grids) <= 25_000
    for spec in DISTRICTS:
        assert len(city.children(spec.code)) == spec.streets
    per_street = [len(city.children(s.code)) for s in city.streets]
    assert min(per_street) >= 8 and max(per_street) <= 25
    per_community = [len(city.children(c.code)) for c in city.communities]
    assert min(per_community) >= 1 and max(per_community) <= 8


def test_codes_are_hierarchical_and_unique(city: City) -> None:
    assert city.root.code == CITY_CODE and city.root.parent_code is None
    areas = city.areas()
    assert len({a.code for a in areas}) == len(areas)
    for level in LEVELS:
        codes = [a.code for a in city.areas(level)]
        assert codes == sorted(codes)
        assert all(len(c) == CODE_LENGTH[level] and c.isdigit() for c in codes)
    for area in areas[1:]:
        parent = city.get(area.parent_code or "")
        assert LEVELS.index(parent.level) == LEVELS.index(area.level) - 1
        if parent.level != "city":
            assert area.code.startswith(parent.code)


def test_names_follow_division_conventions(city: City) -> None:
    assert city.root.name == "示例市" and city.root.name_en == "Example City"
    assert [d.name for d in city.districts] == [d.name for d in DISTRICTS]
    assert all(d.name_en for d in city.districts)
    assert len({s.name for s in city.streets}) == len(city.streets)
    for street in city.streets:
        serial = int(street.code[-3:])
        kind = "街道" if serial < 100 else ("镇" if serial < 200 else "乡")
        assert street.name.endswith(kind) and len(street.name) == 2 + len(kind)
    for community in city.communities:
        village = int(community.code[-3:]) >= 200
        assert community.name.endswith("村" if village else "社区")
    by_district = Counter((c.code[:6], c.name) for c in city.communities)
    assert max(by_district.values()) == 1
    assert all(g.name == f"第{int(g.code[-3:])}网格" for g in city.grids)
    assert city.full_name(city.grids[0].code).startswith("示例市和平区")


def test_population_weights_add_up(city: City) -> None:
    assert city.root.population_weight == pytest.approx(1.0)
    for area in city.areas()[: 1 + 16 + 275]:
        kids = city.children(area.code)
        assert sum(k.population_weight for k in kids) == pytest.approx(area.population_weight)
    core = sum(d.population_weight for d in city.districts[:6])
    assert 0.25 < core < 0.45  # the old town holds about a third of the people


def test_geometry_is_rounded_closed_ccw_and_in_frame(city: City) -> None:
    for area in city.areas():
        assert area.geometry["type"] == "Polygon" and len(area.geometry["coordinates"]) == 1
        ring = np.array(area.geometry["coordinates"][0])
        assert (ring[0] == ring[-1]).all() and len(ring) >= 5
        assert np.array_equal(ring, np.round(ring, 6))
        assert ring[:, 0].min() >= 116.7 and ring[:, 0].max() <= 118.0
        assert ring[:, 1].min() >= 38.6 and ring[:, 1].max() <= 40.2
        x, y = ring[:, 0] - ring[0, 0], ring[:, 1] - ring[0, 1]
        assert (x[:-1] * y[1:] - x[1:] * y[:-1]).sum() > 0  # counter-clockwise


def test_polygons_are_valid_and_hold_their_centroids(city: City, shapes) -> None:
    areas = city.areas()
    polys = [shapes[a.code] for a in areas]
    assert shapely.is_valid(polys).all()
    points = shapely.points([a.centroid for a in areas])
    assert shapely.contains(polys, points).all()


@pytest.mark.parametrize("level", ["district", "street", "community", "grid"])
def test_children_tile_their_parent(city: City, shapes, level: str) -> None:
    """Inside the parent, and together exactly its area: so siblings cannot overlap."""
    children = city.areas(level)  # type: ignore[arg-type]
    kids = [shapes[a.code] for a in children]
    parents = [shapes[a.parent_code or ""] for a in children]
    assert shapely.covers(parents, kids).all()
    area_of_kids: dict[str, float] = {}
    for child, poly in zip(children, kids, strict=True):
        key = child.parent_code or ""
        area_of_kids[key] = area_of_kids.get(key, 0.0) + poly.area
    for code, total in area_of_kids.items():
        assert total == pytest.approx(shapes[code].area, rel=1e-9)


@pytest.mark.parametrize("level", ["district", "street", "community", "grid"])
def test_no_two_units_of_a_level_overlap(city: City, shapes, level: str) -> None:
    polys = [shapes[a.code] for a in city.areas(level)]  # type: ignore[arg-type]
    tree = shapely.STRtree(polys)
    left, right = tree.query(polys, predicate="intersects")
    pairs = left < right
    shared = shapely.area(
        shapely.intersection(np.take(polys, left[pairs]), np.take(polys, right[pairs]))
    )
    assert pairs.sum() > len(polys)  # neighbours touch…
    assert shared.max() < 1e-12  # …but share no area


def test_same_seed_same_city_other_seed_other_city(city: City) -> None:
    again = build_city()
    assert again.areas() == city.areas()  # every name, code, weight and coordinate
    assert json.dumps(again.to_geojson("district")) == json.dumps(city.to_geojson("district"))
    other = build_city(7)
    assert len(other.streets) == 275
    assert [s.name for s in other.streets] != [s.name for s in city.streets]
    assert other.grids[0].geometry != city.grids[0].geometry


def test_geojson_feature_collection(city: City) -> None:
    fc = city.to_geojson("street")
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 275
    feature = fc["features"][0]
    street: Area = city.streets[0]
    assert feature["id"] == street.code and feature["geometry"] is street.geometry
    assert {"code", "name", "name_en", "level", "parent_code"} <= feature["properties"].keys()
    assert feature["properties"]["parent_code"] == street.code[:6]
    json.dumps(fc)  # serialisable as is
    with pytest.raises(ValueError):
        city.to_geojson("province")  # type: ignore[arg-type]


def test_every_region_code_passes_stdnum_for_every_birth_year() -> None:
    """Natives carry their district's code of their birth year, which python-stdnum
    accepts only while that code was in force; movers come from counties in force since."""
    for spec in DISTRICTS:
        for year in range(1925, 2027):
            number = idcard.make_id(id_region_code(spec, year), dt.date(year, 6, 1), 1)
            assert ric.is_valid(number), (spec.code, year, number)
    for code, _, first, _ in MIGRANT_ORIGINS:
        assert first < MIGRANT_FIRST_BIRTH_YEAR
        for year in (MIGRANT_FIRST_BIRTH_YEAR, 2026):
            assert ric.is_valid(idcard.make_id(code, dt.date(year, 1, 1), 2))
