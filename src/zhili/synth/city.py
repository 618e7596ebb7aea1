"""示例市, the demo city: districts, streets, communities and grids with tiling polygons.

The hierarchy mirrors China's statistical division codes — district 6 digits, street/town
9 (001–099 街道, 101– 镇, 201– 乡), community/village 12 (001– 社区, 201– 村) and grid
15 — so codes can be checked, sorted and prefix-matched like real ones. Geometry comes
from `zhili.synth.tiling`: children tile their parent exactly, in WGS-84 lon/lat within
about 116.7–118.0 E, 38.6–40.2 N. Everything is a pure function of the seed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from zhili.synth import placenames
from zhili.synth.regions import CITY_CODE, CITY_NAME, CITY_NAME_EN, DISTRICTS, DistrictSpec
from zhili.synth.rng import stream
from zhili.synth.tiling import Frame, Layout, Rect, bisect, centroids, lay_out, make_lattice

Level = Literal["city", "district", "street", "community", "grid"]
LEVELS: tuple[Level, ...] = ("city", "district", "street", "community", "grid")
DEFAULT_SEED = 20261124

#: Where the districts lie (north at the top): the six old-town districts in the middle,
#: near suburbs around them, former counties outside, 滨海新区 on the coast to the south-east.
_CORE: Layout = (
    "v",
    [("h", ["120106", "120105"]), ("h", ["120104", "120101", "120102"]), "120103"],
)
LAYOUT: Layout = (
    "v",
    [
        ("h", ["120119", "120115"]),
        (
            "h",
            [
                ("v", ["120114", "120111"]),
                ("v", ["120113", _CORE, "120112"]),
                ("v", ["120117", "120110"]),
            ],
        ),
        ("h", ["120118", "120116"]),
    ],
)
FRAME = Frame(lon=117.35, lat=39.40, half_width_km=51.5, half_height_km=83.0)
CELLS_PER_GRID = 8.0  #: lattice cells per grid, on average (index space)
#: Relative lattice cells per grid by zone: the old town starts denser before the fisheye.
_CELL_DENSITY = {"core": 0.4, "inner": 0.8, "outer": 1.0}

#: Share of 街道 among a district's streets (the rest are towns 镇, a few 乡).
_STREET_SHARE = {"core": 1.0, "inner": 0.6, "outer": 0.3}
#: Grids per community (inclusive ranges) and relative residents per grid.
_GRIDS = {"core": (3, 8), "inner": (3, 8), "outer": (3, 7)}
_VILLAGE_GRIDS = (2, 5)
_GRID_PEOPLE = {"core": 1.0, "inner": 1.0, "outer": 0.95}
_VILLAGE_GRID_PEOPLE = 0.6


@dataclass(frozen=True, slots=True)
class Area:
    """One territorial unit of the city, at any level."""

    code: str
    name: str
    name_en: str | None
    level: Level
    parent_code: str | None
    geometry: dict[str, Any]  #: GeoJSON Polygon, WGS-84, counter-clockwise, 6 decimals
    centroid: tuple[float, float]  #: (lon, lat)
    population_weight: float  #: share of the city's residents; children sum to the parent


@dataclass
class City:
    """The whole city; lists are ordered by code."""

    seed: int
    root: Area
    districts: list[Area]
    streets: list[Area]
    communities: list[Area]
    grids: list[Area]
    _by_code: dict[str, Area] = field(default_factory=dict, repr=False, compare=False)
    _children: dict[str, list[Area]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for area in self.areas():
            self._by_code[area.code] = area
            if area.parent_code is not None:
                self._children.setdefault(area.parent_code, []).append(area)

    def areas(self, level: Level | None = None) -> list[Area]:
        """All areas, parents before children, or those of one level."""
        by_level = {
            "city": [self.root],
            "district": self.districts,
            "street": self.streets,
            "community": self.communities,
            "grid": self.grids,
        }
        if level is None:
            return [a for lvl in LEVELS for a in by_level[lvl]]
        if level not in by_level:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
        return by_level[level]

    def get(self, code: str) -> Area:
        """An area by its code (KeyError if none)."""
        return self._by_code[code]

    def children(self, code: str) -> list[Area]:
        """The areas directly below ``code``."""
        return self._children.get(code, [])

    def full_name(self, code: str) -> str:
        """Names from the city down, e.g. 示例市和平区新华街道幸福里社区."""
        parts = []
        area: Area | None = self.get(code)
        while area is not None:
            parts.append(area.name)
            area = self._by_code.get(area.parent_code) if area.parent_code else None
        return "".join(reversed(parts))

    def to_geojson(self, level: Level) -> dict[str, Any]:
        """A FeatureCollection of one level, feature ids being the codes."""
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": a.code,
                    "geometry": a.geometry,
                    "properties": {
                        "code": a.code,
                        "name": a.name,
                        "name_en": a.name_en,
                        "level": a.level,
                        "parent_code": a.parent_code,
                        "population_weight": a.population_weight,
                    },
                }
                for a in self.areas(level)
            ],
        }


@dataclass
class _Unit:
    """A unit while planning: its place in the tree before it has a shape."""

    code: str
    name: str
    level: Level
    parent: _Unit | None
    zone: str
    name_en: str | None = None
    children: list[_Unit] = field(default_factory=list)
    grid_weight: float = 0.0  #: residents weight, only for grids
    rect: Rect | None = None

    @property
    def grids(self) -> int:
        return 1 if self.level == "grid" else sum(c.grids for c in self.children)


def _plan(seed: int) -> _Unit:
    """The tree of units with codes and names (no geometry yet)."""
    rng = stream(seed, "city", "plan")
    root = _Unit(CITY_CODE, CITY_NAME, "city", None, "", CITY_NAME_EN)
    total_streets = sum(d.streets for d in DISTRICTS)
    street_names = iter(placenames.pick(rng, placenames.street_bases(), total_streets))
    estates, villages = placenames.estate_bases(), placenames.village_bases()
    for spec in DISTRICTS:
        district = _Unit(spec.code, spec.name, "district", root, spec.zone, spec.name_en)
        root.children.append(district)
        kinds = _street_kinds(rng, spec)
        counts = rng.integers(8, 26, size=spec.streets)
        n_estates = sum(
            c if k == "街道" else (0 if k == "乡" else 2)
            for k, c in zip(kinds, counts, strict=True)
        )
        estate_names = iter(placenames.pick(rng, estates, n_estates))
        village_names = iter(placenames.pick(rng, villages, int(counts.sum())))
        serial = {"街道": 0, "镇": 100, "乡": 200}
        for kind, n_comm in zip(kinds, counts, strict=True):
            serial[kind] += 1
            street = _Unit(
                f"{spec.code}{serial[kind]:03d}",
                next(street_names) + kind,
                "street",
                district,
                spec.zone,
            )
            district.children.append(street)
            n_estate = (
                n_comm if kind == "街道" else (0 if kind == "乡" else int(rng.integers(1, 3)))
            )
            for k in range(n_comm):
                village = k >= n_estate
                code = f"{street.code}{(201 + k - n_estate) if village else (1 + k):03d}"
                name = next(village_names) + "村" if village else next(estate_names) + "社区"
                community = _Unit(code, name, "community", street, spec.zone)
                street.children.append(community)
                lo, hi = _VILLAGE_GRIDS if village else _GRIDS[spec.zone]
                people = _VILLAGE_GRID_PEOPLE if village else _GRID_PEOPLE[spec.zone]
                for g in range(int(rng.integers(lo, hi + 1))):
                    grid = _Unit(
                        f"{code}{g + 1:03d}", f"第{g + 1}网格", "grid", community, spec.zone
                    )
                    grid.grid_weight = people * float(rng.lognormal(0.0, 0.35))
                    community.children.append(grid)
    return root


def _street_kinds(rng: np.random.Generator, spec: DistrictSpec) -> list[str]:
    """街道 first (the urban part), then towns; a few outer towns are still 乡."""
    n_street = max(1, round(spec.streets * _STREET_SHARE[spec.zone]))
    rest = [
        "乡" if spec.zone == "outer" and rng.random() < 0.1 else "镇"
        for _ in range(n_street, spec.streets)
    ]
    return ["街道"] * n_street + sorted(rest, key=lambda k: k == "乡")


def _place(root: _Unit) -> tuple[int, int]:
    """Assign index-space rectangles to every unit; returns the lattice size."""
    total = root.grids
    cells = CELLS_PER_GRID * total
    aspect = FRAME.half_width_km / FRAME.half_height_km
    ny = round((cells / aspect) ** 0.5)
    nx = round(cells / ny)
    root.rect = (0, 0, nx, ny)
    weights = {d.code: d.grids * _CELL_DENSITY[d.zone] for d in root.children}
    needs = {d.code: 2 * d.grids for d in root.children}
    rects = lay_out(root.rect, LAYOUT, weights, needs)
    for district in root.children:
        district.rect = rects[district.code]
        _split(district)
    return nx, ny


def _split(unit: _Unit) -> None:
    """Partition a placed unit's rectangle among its children, recursively. Above the
    community level every grid below keeps at least two cells, so the next split fits."""
    if unit.rect is None or not unit.children:
        return
    need = 1 if unit.level == "community" else 2
    kids = unit.children
    parts = bisect(unit.rect, [float(k.grids) for k in kids], [need * k.grids for k in kids])
    for kid, rect in zip(kids, parts, strict=True):
        kid.rect = rect
        _split(kid)


def build_city(seed: int = DEFAULT_SEED) -> City:
    """The demo city for ``seed``: same seed, same city, down to the last coordinate."""
    with _gc_paused():  # ~400k coordinate lists: collections would only rescan them
        return _build(seed)


@contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build(seed: int) -> City:
    root = _plan(seed)
    nx, ny = _place(root)
    core = [d.rect for d in root.children if d.zone == "core" and d.rect is not None]
    core_rect = (
        min(r[0] for r in core),
        min(r[1] for r in core),
        max(r[2] for r in core),
        max(r[3] for r in core),
    )
    lattice = make_lattice(nx, ny, stream(seed, "city", "lattice"), core=core_rect, frame=FRAME)
    units = list(_walk(root))
    rects = [u.rect for u in units if u.rect is not None]
    if len(rects) != len(units):
        raise AssertionError("every unit has a rectangle after placement")
    rings = lattice.borders(rects)
    centres = centroids(rings).tolist()
    weights = _population_weights(units)
    by_level: dict[str, list[Area]] = {level: [] for level in LEVELS}
    for unit, ring, centre, weight in zip(units, rings, centres, weights, strict=True):
        by_level[unit.level].append(
            Area(
                code=unit.code,
                name=unit.name,
                name_en=unit.name_en,
                level=unit.level,
                parent_code=unit.parent.code if unit.parent else None,
                geometry={"type": "Polygon", "coordinates": [ring]},
                centroid=(centre[0], centre[1]),
                population_weight=weight,
            )
        )
    for areas in by_level.values():
        areas.sort(key=lambda a: a.code)
    return City(
        seed=seed,
        root=by_level["city"][0],
        districts=by_level["district"],
        streets=by_level["street"],
        communities=by_level["community"],
        grids=by_level["grid"],
    )


def _walk(unit: _Unit) -> Iterator[_Unit]:
    """The unit and everything below it, parents first."""
    yield unit
    for kid in unit.children:
        yield from _walk(kid)


def _population_weights(units: list[_Unit]) -> list[float]:
    """Each unit's share of residents: its grids' weights, normalised to the city."""
    total = sum(u.grid_weight for u in units if u.level == "grid")
    share: dict[int, float] = {}
    for unit in reversed(units):  # children before parents
        own = unit.grid_weight / total if unit.level == "grid" else 0.0
        share[id(unit)] = own + sum(share[id(k)] for k in unit.children)
    return [share[id(u)] for u in units]
