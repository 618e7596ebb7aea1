"""The demo city builds on a small population, shows an exchange in use, and a second
run adds nothing (without the verification registers: tests/demo/test_demo_verify.py)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from zhili.apps.grid.areas import locate
from zhili.apps.grid.categories import list_categories
from zhili.apps.grid.event_models import EventStep, GridEvent
from zhili.bootstrap import initialise
from zhili.demo import build_demo
from zhili.exchange import stats
from zhili.exchange.models import RequestState, ShareRequest
from zhili.synth.city import build_city


def test_demo_builds_and_is_idempotent(db, settings) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    initialise(db)
    first = build_demo(db, settings.home, 3000, verify_people=0)
    assert first.population_version == 0 and first.resources_created >= 60
    assert first.verification is None
    with db.session() as s:
        states = sorted(s.scalars(select(ShareRequest.state)))
        overview = stats.overview(s)
    assert states == sorted([RequestState.active, RequestState.active, RequestState.under_review])
    assert overview.rows_shared > 0 and overview.calls == 3 and overview.requests_pending == 1
    grid = first.grid
    assert grid is not None and grid.areas == 25_423 and grid.categories >= 30
    assert 0 < grid.worker_grids < 20 and grid.events == 600
    with db.session() as s:
        states = Counter(s.scalars(select(GridEvent.state)))
        assert states["closed"] > 500 and sum(states.values()) == 600
        # every event's steps are numbered 1..seq without gaps (seq is the row version)
        numbered = s.execute(
            select(GridEvent.seq, func.count(EventStep.id), func.max(EventStep.seq))
            .join(EventStep, EventStep.event_id == GridEvent.id)
            .group_by(GridEvent.id, GridEvent.seq)
        ).all()
        assert len(numbered) == 600 and all(a == b == c for a, b, c in numbered)
        closed_last = s.scalars(
            select(EventStep.action)
            .join(GridEvent, GridEvent.id == EventStep.event_id)
            .where(GridEvent.state == "closed", EventStep.seq == GridEvent.seq)
        )
        assert set(closed_last) == {"close"}
    with db.session() as s:
        where = locate(s, *build_city().grids[0].centroid)
        assert where is not None and where.code == build_city().grids[0].code
        assert len(list_categories(s)) == grid.categories
    again = build_demo(db, settings.home, 3000, verify_people=0)
    assert again.resources_created == 0 and not again.population_built
    assert again.grid == grid
    with db.session() as s:
        assert s.scalar(select(func.count(ShareRequest.id))) == 3
