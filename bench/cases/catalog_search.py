"""Catalog search over 50,000 entries (as the catalog page runs it: ranked matches plus
every facet's counts) against the naive baseline of LIKE '%q%' over name and summary."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, or_, select

from bench.run import Case, Result


def _build(url: str, n: int) -> list[str]:
    from zhili.access import system_actor
    from zhili.catalog import search
    from zhili.catalog.models import Resource, ResourceTag, ResourceTerm
    from zhili.db import Database, migrate
    from zhili.demo import city_org_specs
    from zhili.identity.orgs import bulk_upsert_orgs
    from zhili.synth.catalog import catalog_entries
    from zhili.synth.city import build_city
    from zhili.synth.departments import departments

    migrate(url)
    db = Database(url)
    rng = random.Random(5)
    entries = catalog_entries()
    with db.session() as s:
        bulk_upsert_orgs(s, city_org_specs(build_city()))
    with db.session() as s:
        from zhili.identity.models import Organization

        org_ids = {
            o.code: o.id
            for o in s.scalars(select(Organization).where(Organization.level == "city"))
        }
        providers = [org_ids[d.code] for d in departments()]
        districts = [a.name for a in build_city().districts]
        rows, tags, terms = [], [], []
        words: list[str] = []
        for i in range(n):
            e = entries[i % len(entries)]
            name = f"{rng.choice(districts)}{e.name}（{2000 + i % 27}年）"
            r = Resource(
                id=i + 1, code=f"{e.code[:-6]}{i:06d}", name=name, name_en=e.name_en,
                provider_id=rng.choice(providers), summary=e.summary,
                classification=e.classification, tags=list(e.tags), table_schema=e.schema,
                sharing_type=e.sharing_type, open_type=e.open_type, update_cycle=e.update_cycle,
                grade=e.grade, sharing_methods=["api"], related=[],
            )  # fmt: skip
            rows.append({c.name: getattr(r, c.key) for c in Resource.__table__.columns
                         if getattr(r, c.key) is not None})  # fmt: skip
            tags += [{"resource_id": i + 1, "tag": t} for t in e.tags]
            weights = search.resource_terms(r)
            terms += [{"resource_id": i + 1, "term": t, "weight": w} for t, w in weights.items()]
            if i < 500:  # what people type: words of names and tags
                typed = search.terms(name) + search.terms(e.name_en) + list(e.tags)
                words += [t for t in typed if len(t) > 1 and not t.isdigit()]
        for table, data in ((Resource, rows), (ResourceTag, tags), (ResourceTerm, terms)):
            for start in range(0, len(data), 5000):
                s.execute(insert(table), data[start : start + 5000])
    db.dispose()
    _ = system_actor
    return words


def _timed(fn, queries: list[str]) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1]


def run(quick: bool) -> Result:
    from zhili.access import system_actor
    from zhili.catalog import service
    from zhili.catalog.models import Resource
    from zhili.db import Database

    n = 5_000 if quick else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        words = _build(url, n)
        rng = random.Random(9)
        queries = [rng.choice(words) for _ in range(200)]
        db = Database(url)
        actor = system_actor()
        with db.session() as s:
            service.browse(s, actor, q="养老")  # warm jieba and caches
            ours = _timed(lambda q: service.browse(s, actor, q=q, limit=20), queries)

            def naive(q: str) -> None:
                like = f"%{q}%"
                stmt = (
                    select(Resource)
                    .where(or_(Resource.name.like(like), Resource.summary.like(like)))
                    .limit(20)
                )
                list(s.scalars(stmt))

            base = _timed(naive, queries)
        db.dispose()
    p95 = _pct(ours, 95)
    return Result(
        metrics={
            "entries": n,
            "queries": len(queries),
            "zhili_p50_ms": round(_pct(ours, 50), 1),
            "zhili_p95_ms": round(p95, 1),
            "like_p50_ms": round(_pct(base, 50), 1),
            "like_p95_ms": round(_pct(base, 95), 1),
        },
        ratio=_pct(base, 95) / p95,
        ratio_label="LIKE p95 ÷ zhili p95 (higher is better for zhili)",
        goal="catalog search with facets over 50,000 entries: p95 ≤ 200 ms",
        goal_met=None if quick else p95 <= 200,
        notes=[
            "zhili's timing includes the ranked term match and all seven facet counts; "
            "the LIKE baseline returns unranked matches without facets.",
            "Queries are words of entry names and tags (what people type). A term found in "
            "every entry (e.g. the city's name in all summaries) costs ~0.2–0.3 s at 50,000.",
            "SQLite metadata database, one process, warm.",
        ],
    )


CASE = Case(
    name="catalog_search",
    title="Catalog search over 50,000 entries (ranked, with facets)",
    baseline="SQL LIKE '%q%' on name and summary",
    run=run,
)
