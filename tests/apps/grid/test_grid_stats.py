"""Statistics (统计): every figure of a small week of events against a hand count, on
SQLite and PostgreSQL — events reported in the period, open/overdue/warning as of a
moment, on-time rates and minutes of the stages completed in the period, per level,
area, category, day and heat-map cell — and each narrowed to what the viewer may see.

The week (2025-03-10 is a Monday; limits: register 2 h, dispatch 2 h, acknowledge 1 h,
handle 1 working day, verify 4 h):

* e1 grid worker, Mon 09:30 in community A: acknowledged 09:40, handled Thu 09:30
  (late), reopened, handled again 10:00, verified, closed Thu 10:00; rated 4;
* e2 grid worker, Mon 09:30 in community B: escalated to the district at 10:30;
* e3 resident, Mon 09:40 in community A: rejected 10:00 (20 min); rated 2;
* e6 resident, Mon 09:40 in community A: registered 10:40 (60 min), still waiting;
* e4 grid worker, Tue 09:30 in community B: acknowledged 10:00 (30 min);
* e5 grid worker the Monday before: outside the period.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update
from tests.apps.grid.event_city import MONDAY, EventCity, build
from tests.apps.grid.grid_city import piece

from zhili.apps.grid import stats
from zhili.apps.grid.duplicates import distance_m
from zhili.apps.grid.event_models import GridEvent
from zhili.apps.grid.sweep import sweep
from zhili.errors import InvalidInput, NotFound

H, M, D = dt.timedelta(hours=1), dt.timedelta(minutes=1), dt.timedelta(days=1)
SINCE, UNTIL = MONDAY.replace(hour=0, minute=0), MONDAY.replace(hour=0, minute=0) + 4 * D
NOW = MONDAY + 2 * D + dt.timedelta(hours=5, minutes=30)  # Wed 15:00


def _grid_in(community: int) -> int:
    p = piece()
    return next(i for i, g in enumerate(p.grids) if g.parent_code == p.communities[community].code)


@pytest.fixture(scope="module")
def grids() -> tuple[int, int]:
    return _grid_in(0), _grid_in(1)


@pytest.fixture()
def week(db, grids) -> tuple[EventCity, dict[str, int]]:
    city = build(db)
    a, b = grids
    ids: dict[str, int] = {}
    ids["e1"] = city.report("gw", grid=a)[0]
    ids["e2"] = city.report("gw", grid=b, description="另一处")[0]
    ids["e3"] = city.report("resident", grid=a, at=MONDAY + 10 * M, source="public")[0]
    ids["e6"] = city.report("resident", grid=a, at=MONDAY + 10 * M, source="public")[0]
    ids["e4"] = city.report("gw", grid=b, at=MONDAY + D, description="第三处")[0]
    ids["e5"] = city.report("gw", grid=a, at=MONDAY - 7 * D, description="上周")[0]
    thu = MONDAY + 3 * D
    city.act("h1", ids["e1"], "acknowledge", MONDAY + 10 * M)
    city.act("h1", ids["e1"], "start", MONDAY + 10 * M)
    city.act("h1", ids["e1"], "handle", thu, note="已清理")
    city.act("gw", ids["e1"], "reopen", thu, note="未清理干净")
    city.act("h1", ids["e1"], "handle", thu + 30 * M, note="已清理")
    city.act("gw", ids["e1"], "verify", thu + 30 * M)
    city.act("cmd", ids["e1"], "close", thu + 30 * M)
    city.act("cmd", ids["e3"], "reject", MONDAY + 30 * M, note="不属于本事项")
    city.act("cmd", ids["e6"], "register", MONDAY + 70 * M)
    city.act("h1", ids["e4"], "acknowledge", MONDAY + D + 30 * M)
    # e5 is escalated too, but it was reported the week before
    assert sweep(city.db, MONDAY + H).escalated == 2
    with db.session() as s:
        for key, rating in (("e1", 4), ("e3", 2)):
            s.execute(update(GridEvent).where(GridEvent.id == ids[key]).values(rating=rating))
    return city, ids


def figures(city: EventCity, fn, who: str = "cmd", **kw):
    kw.setdefault("since", SINCE)
    kw.setdefault("until", UNTIL)
    with city.db.session() as s:
        return fn(s, city.actor(who), **kw)


def test_overview_counts_by_hand(week) -> None:
    city, _ = week
    got = figures(city, stats.overview, now=NOW)
    assert got == {
        "reported": 5, "open": 3, "closed": 1, "rejected": 1, "merged": 0,
        # e2 (due Mon 10:30) and e6 (registered 10:40, dispatch due 14:10) are late;
        # e4 (handle due Wed 17:30) warns since Wed 14:54
        "overdue": 2, "warning": 1, "escalated": 1, "reopened": 1,
        "rated": 2, "satisfaction": 3.0,
        # stages left in the period: e1 7, e2 2, e3 1, e4 3, e6 1; only e1's first handle late
        "stages_done": 14, "stages_late": 1, "on_time_rate": round(1 - 1 / 14, 4),
    }  # fmt: skip
    everything = figures(city, stats.overview, since=None, until=None, now=NOW)
    assert everything["reported"] == 6 and everything["escalated"] == 2
    assert everything["stages_done"] == 16  # e5's register and dispatch


def test_time_per_stage_by_hand(week) -> None:
    city, _ = week
    got = {r["stage"]: r for r in figures(city, stats.time_per_stage)}
    assert list(got) == ["register", "dispatch", "acknowledge", "handle", "verify"]
    assert got["register"] == {"stage": "register", "done": 5, "late": 0, "on_time_rate": 1.0,
                               "mean_minutes": 16.0, "p50_minutes": 0.0}  # fmt: skip
    assert (got["dispatch"]["done"], got["dispatch"]["mean_minutes"]) == (3, 0.0)
    assert (got["acknowledge"]["done"], got["acknowledge"]["p50_minutes"]) == (2, 20.0)
    # handled late after Mon 09:40–Thu 09:30 (380 + 420 + 420 + 30 min), then in 30 min
    assert got["handle"] == {"stage": "handle", "done": 2, "late": 1, "on_time_rate": 0.5,
                             "mean_minutes": 640.0, "p50_minutes": 640.0}  # fmt: skip
    assert (got["verify"]["done"], got["verify"]["late"]) == (2, 0)


def test_breakdowns_by_level_category_area_and_day(week) -> None:
    city, _ = week
    levels = figures(city, stats.by_level, now=NOW)
    keys = ("level", "reported", "open", "overdue", "escalated")
    assert [tuple(r[k] for k in keys) for r in levels] == [
        ("district", 1, 1, 1, 1), ("street", 4, 2, 1, 0)
    ]  # fmt: skip
    (category,) = figures(city, stats.by_category, now=NOW)
    assert (category["code"], category["reported"], category["closed"]) == ("road-block", 5, 1)
    assert category["satisfaction"] == 3.0 and category["group"] == "市容环境"
    p = piece()
    communities = figures(city, stats.by_area, level="community", now=NOW)
    assert [(r["code"], r["reported"], r["open"], r["rated"], r["satisfaction"])
            for r in communities] == [
        (p.communities[0].code, 3, 1, 2, 3.0), (p.communities[1].code, 2, 2, 0, None)
    ]  # fmt: skip
    (street,) = figures(city, stats.by_area, level="street", now=NOW)
    assert (street["code"], street["reported"], street["level"]) == (p.street.code, 5, "street")
    assert figures(city, stats.by_area, level="district")[0]["reported"] == 5
    assert figures(city, stats.per_day) == [
        {"day": "2025-03-10", "reported": 4, "closed": 0},
        {"day": "2025-03-11", "reported": 1, "closed": 0},
        {"day": "2025-03-13", "reported": 0, "closed": 1},
    ]


def test_heat_map_bins_events_into_200_m_cells(week, grids) -> None:
    city, _ = week
    cells = figures(city, stats.heat)
    assert sorted(c[2] for c in cells) == [2, 3]  # three events at grid A, two at grid B
    for grid, (lon, lat, weight) in zip(grids, sorted(cells, key=lambda c: -c[2]), strict=True):
        spot = city.spot(grid)
        assert distance_m(lon, lat, *spot) < 200 and weight in (2, 3)


def test_each_viewer_counts_only_what_they_may_see(week) -> None:
    city, _ = week
    assert figures(city, stats.overview, "dcmd", now=NOW)["reported"] == 5
    mine = figures(city, stats.overview, "resident", now=NOW)
    assert (mine["reported"], mine["rejected"], mine["stages_done"]) == (2, 1, 2)
    assert figures(city, stats.overview, "hp", now=NOW)["reported"] == 0  # nothing for 公安
    assert figures(city, stats.heat, "hp") == []
    inside = figures(city, stats.overview, area=piece().communities[1].code, now=NOW)
    assert (inside["reported"], inside["escalated"], inside["stages_done"]) == (2, 1, 5)


def test_a_commanders_figures_are_their_areas_narrowed_by_the_asked_area(week) -> None:
    city, _ = week
    community = piece().communities[1].code
    mine = figures(city, stats.overview, "dcmd", area=community, now=NOW)
    everyone = figures(city, stats.overview, area=community, now=NOW)  # the city commander
    assert mine == everyone and mine["reported"] == 2
    by_area = figures(city, stats.by_area, "dcmd", level="community")
    assert sum(r["reported"] for r in by_area) == 5
    assert {r["code"] for r in by_area} <= {c.code for c in piece().communities}


def test_bad_questions_are_refused(week) -> None:
    city, _ = week
    with pytest.raises(NotFound):
        figures(city, stats.overview, area="NOPE")
    with pytest.raises(InvalidInput) as err:
        figures(city, stats.by_area, level="planet")
    assert err.value.code == "grid.stats_bad_level"
    with pytest.raises(InvalidInput) as err:
        figures(city, stats.overview, since=UNTIL, until=SINCE)
    assert err.value.code == "grid.stats_bad_period"


def test_the_stats_api(week, settings, client, login) -> None:
    login("cmd")
    r = client.get("/api/v1/grid/stats", params={"since": "2025-03-10", "until": "2025-03-13"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["group"] == "overview" and body["since"].startswith("2025-03-10T00:00:00+08")
    assert body["until"].startswith("2025-03-14T00:00:00+08")  # the whole last day
    assert body["data"]["reported"] == 5
    for group in ("level", "area", "category", "stage", "day", "heat"):
        r = client.get("/api/v1/grid/stats", params={"group": group, "since": "2025-03-10"})
        assert r.status_code == 200 and r.json()["data"], (group, r.text)
    r = client.get("/api/v1/grid/stats", params={"group": "area", "level": "community"})
    assert len(r.json()["data"]) == 2
    bad = client.get("/api/v1/grid/stats", params={"group": "planets"})
    assert bad.status_code == 422 and bad.json()["code"] == "grid.stats_bad_group"
    bad = client.get("/api/v1/grid/stats", params={"since": "last week"})
    assert bad.status_code == 422 and bad.json()["code"] == "grid.stats_bad_time"
    client.post("/api/v1/auth/logout")
    login("hp")
    assert client.get("/api/v1/grid/stats").json()["data"]["reported"] == 0
