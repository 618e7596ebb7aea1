"""A year of grid events (事件) for the demo city: where, what, from whom, and the path
each took through the workflow — with the durations of its steps in working hours, so
the loader (`zhili.demo_events`) can lay them on the official calendar.

Realistic shape rather than uniform noise: more reports where more people live, on
working days and in daytime, more in summer (vending, noise, smoke) and in winter
(heating), categories in proportion to how common they are in city hotlines; grid
workers report most, the 12345 hotline next. Most events close within their limits;
some are rejected, merged as duplicates, returned to the command centre and dispatched
again, reopened after a failed check on site, or run late (and are escalated). Pure
function of the seed; no database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from shapely.geometry import Point, shape

from zhili.synth.city import City
from zhili.synth.rng import stream
from zhili.synth.sampling import choice, cumulative

#: source shares: grid workers on patrol, 12345 hotline, residents on the web, 311 apps
SOURCES = (("grid_worker", 0.58), ("hotline", 0.27), ("public", 0.11), ("open311", 0.04))
#: what happens to an event (shares); the rest closes on the plain path
OUTCOMES = (("rejected", 0.03), ("merged", 0.02), ("returned", 0.05), ("reopened", 0.04))
#: share of events in which some stage runs past its limit
LATE = 0.07
PHRASES = (
    "{place}附近{what}，请尽快处理。",
    "{place}发现{what}，影响居民出行。",
    "{place}{what}，已持续多日。",
    "群众反映：{place}{what}。",
    "巡查发现{place}{what}，需相关部门处置。",
)


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """One event of the year: ``path`` is (action, working hours after the previous step)."""

    grid: str
    lon: float
    lat: float
    category: int  #: index into the categories the plan was made for
    source: str
    reported_at: dt.datetime
    description: str
    path: tuple[tuple[str, float], ...]
    late_stage: str | None
    rating: int | None
    merge_with: int | None  #: index of an earlier planned event this one repeats


def _season(day_of_year: np.ndarray) -> np.ndarray:
    """More reports in July and January than in April and October."""
    return 1.0 + 0.25 * np.cos(4 * np.pi * (day_of_year - 196) / 365.25)


def _times(rng: np.random.Generator, n: int, end: dt.datetime) -> list[dt.datetime]:
    """Report times over the year before ``end``: by season, weekday and hour."""
    days = np.arange(365)
    dates = [(end - dt.timedelta(days=int(d))).date() for d in days]
    weight = _season(np.array([d.timetuple().tm_yday for d in dates], dtype=float))
    weight *= np.array([0.55 if d.weekday() >= 5 else 1.0 for d in dates])
    picked = choice(rng, cumulative(weight), n)
    hours = np.clip(rng.normal(13.5, 3.5, n), 6, 22.9)
    out = []
    for d, h in zip(picked, hours, strict=True):
        local = dt.datetime.combine(dates[int(d)], dt.time()) + dt.timedelta(hours=float(h))
        moment = local.replace(tzinfo=dt.timezone(dt.timedelta(hours=8))).astimezone(dt.UTC)
        out.append(min(moment, end - dt.timedelta(minutes=5)))
    return out


def _spot(rng: np.random.Generator, geometry: dict) -> tuple[float, float]:
    poly = shape(geometry)
    x0, y0, x1, y1 = poly.bounds
    for _ in range(50):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if poly.contains(Point(x, y)):
            return round(float(x), 6), round(float(y), 6)
    c = poly.representative_point()
    return round(c.x, 6), round(c.y, 6)


def _hours(rng: np.random.Generator, limit_hours: float, late: bool) -> float:
    """A step's working time: mostly well inside its limit, past it when ``late``."""
    if late:
        return float(limit_hours * rng.uniform(1.1, 2.6))
    return float(limit_hours * min(0.97, rng.beta(2.0, 5.0)))


def _path(
    rng: np.random.Generator,
    source: str,
    outcome: str,
    limits: dict[str, float],
    late_stage: str | None,
) -> tuple[tuple[str, float], ...]:
    auto = source in ("grid_worker", "hotline")

    def h(stage: str) -> float:
        return _hours(rng, limits.get(stage, 8.0), stage == late_stage)

    steps: list[tuple[str, float]] = [("report", 0.0)]
    if outcome == "rejected":
        return (*steps, ("reject", h("register")))
    if outcome == "merged":
        return (*steps, ("merge", h("register")))
    steps += [("register", 0.0), ("dispatch", 0.0)] if auto else [
        ("register", h("register")), ("dispatch", h("dispatch"))
    ]  # fmt: skip
    if outcome == "returned":
        steps += [("return", h("acknowledge")), ("dispatch", h("dispatch"))]
    steps += [("acknowledge", h("acknowledge")), ("start", 0.2), ("handle", h("handle"))]
    if outcome == "reopened":
        steps += [("reopen", h("verify")), ("handle", h("handle"))]
    steps += [("verify", h("verify")), ("close", float(rng.uniform(0.1, 2.0)))]
    return tuple(steps)


def plan_events(
    city: City,
    categories: list[tuple[str, str, dict[str, float]]],
    n: int,
    end: dt.datetime,
    seed: int,
) -> list[PlannedEvent]:
    """``n`` events over the year before ``end``. ``categories``: (code, name, working
    hours per stage limit), in catalogue order (earlier ones are more common)."""
    if n <= 0 or not categories:
        return []
    rng = stream(seed, "grid", "events")
    grids = city.grids
    grid_pick = choice(rng, cumulative([g.population_weight for g in grids]), n)
    cat_weight = 1.0 / (np.arange(len(categories)) + 3.0)
    cat_pick = choice(rng, cumulative(cat_weight), n)
    src_pick = choice(rng, cumulative([w for _, w in SOURCES]), n)
    rest = 1.0 - sum(w for _, w in OUTCOMES)
    out_names = [o for o, _ in OUTCOMES] + ["closed"]
    out_pick = choice(rng, cumulative([w for _, w in OUTCOMES] + [rest]), n)
    times = sorted(_times(rng, n, end))
    stages = ("register", "dispatch", "acknowledge", "handle", "verify")
    last_of: dict[tuple[str, int], int] = {}
    planned = []
    for i in range(n):
        grid = grids[int(grid_pick[i])]
        _, name, limits = categories[int(cat_pick[i])]
        source = SOURCES[int(src_pick[i])][0]
        outcome = out_names[int(out_pick[i])]
        merge_with = last_of.get((grid.code, int(cat_pick[i])))
        if outcome == "merged" and merge_with is None:
            outcome = "closed"
        if outcome == "rejected" and source in ("grid_worker", "hotline"):
            outcome = "closed"  # screened sources are dispatched at once
        late_stage = str(rng.choice(stages[2:])) if rng.random() < LATE else None
        lon, lat = _spot(rng, grid.geometry)
        place = city.full_name(grid.code)[len(city.root.name) :]
        text = PHRASES[int(rng.integers(len(PHRASES)))].format(place=place, what=name)
        path = _path(rng, source, outcome, limits, late_stage)
        rated = outcome != "rejected" and source in ("public", "open311", "hotline")
        rating = int(rng.choice([5, 5, 5, 4, 4, 3, 2, 1])) if rated and rng.random() < 0.6 else None
        planned.append(
            PlannedEvent(
                grid=grid.code, lon=lon, lat=lat, category=int(cat_pick[i]), source=source,
                reported_at=times[i], description=text, path=path, late_stage=late_stage,
                rating=rating, merge_with=merge_with if outcome == "merged" else None,
            )
        )  # fmt: skip
        last_of[(grid.code, int(cat_pick[i]))] = i
    return planned
