"""Deterministic grid-governance data for the benchmarks, on PostgreSQL (the running
``scripts/pg.sh`` cluster): the demo city's 25,000 areas with a command organization per
district and street, the working calendar, a few categories, and millions of events
generated inside the database (``INSERT … SELECT generate_series``, pseudo-random by a
multiplicative hash of the row number), so 10M events take a minute, not an hour.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: the moment every benchmark looks from: a Wednesday afternoon
NOW = dt.datetime(2025, 11, 19, 15, 0, tzinfo=dt.UTC)
LIMITS = {
    "register": {"amount": 2, "unit": "hours"},
    "dispatch": {"amount": 2, "unit": "hours"},
    "acknowledge": {"amount": 1, "unit": "hours"},
    "handle": {"amount": 3, "unit": "days"},
    "verify": {"amount": 4, "unit": "hours"},
}
CATEGORIES = 12


def pg_url(database: str, *, keep: bool = False) -> str:
    """A fresh, migrated database ``database`` on the benchmark cluster (``keep``: the one
    already there, if any — migrated to the head)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from zhili.db import migrate

    base = subprocess.run(
        ["bash", str(ROOT / "scripts" / "pg.sh"), "url"], capture_output=True, text=True, check=True
    ).stdout.strip()
    url = make_url(base)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        there = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}
        ).first()
        if not (keep and there):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    out = url.set(database=database).render_as_string(hide_password=False)
    migrate(out)
    return out


def seed_city(db: Any) -> None:
    """Calendar, organizations (city, bureau department, districts, streets), the demo
    city's areas and ``CATEGORIES`` categories with the same time limits."""
    from zhili.access import system_actor
    from zhili.apps.grid.areas import import_areas
    from zhili.apps.grid.categories import import_categories
    from zhili.calendar.seed import seed_from_package
    from zhili.identity.orgs import OrgSpec, upsert_org
    from zhili.synth.city import build_city

    city = build_city()
    with db.session() as s:
        seed_from_package(s, loaded_by="bench")
        upsert_org(s, OrgSpec(city.root.code, city.root.name, "city", "government"))
        upsert_org(s, OrgSpec("CGW", "城市管理委员会", "city", "department", city.root.code))
        for d in city.districts:
            upsert_org(s, OrgSpec(d.code, d.name, "district", "government", city.root.code))
        for st in city.streets:
            upsert_org(s, OrgSpec(st.code, st.name, "street", "government", st.parent_code))
    features = [
        {"type": "Feature", "geometry": a.geometry,
         "properties": {"code": a.code, "name": a.name, "level": a.level,
                        "parent_code": a.parent_code}}
        for a in city.areas()
    ]  # fmt: skip
    categories = [
        {"code": f"cat-{i:02d}", "name": f"事项{i}", "group": "市容环境", "department": "CGW",
         "level": "street", "time_limits": LIMITS}
        for i in range(CATEGORIES)
    ]  # fmt: skip
    with db.session() as s:
        import_areas(
            s, system_actor(), {"type": "FeatureCollection", "features": features}, by="bench"
        )
        import_categories(s, system_actor(), categories, by="bench")


#: per generated event ``i``: h1..h4 are independent pseudo-random numbers in [0, 1)
_HASHES = """
  ((i * 2654435761) % 1000003) / 1000003.0 AS h1,
  ((i * 40503 + 7919) % 999983) / 999983.0 AS h2,
  ((i * 9973 + 104729) % 1000033) / 1000033.0 AS h3,
  ((i * 69069 + 12345) % 998989) / 998989.0 AS h4
"""


def fill_events(
    db: Any,
    n: int,
    *,
    days: int,
    open_share: float,
    overdue_share: float,
    warn_share: float = 0.1,
    steps: bool = False,
    chunk: int = 1_000_000,
) -> None:
    """``n`` events reported over the ``days`` before ``NOW`` at the grids' centres (±100 m),
    in the order they were reported (ids and table order follow ``reported_at``, as rows
    appended by a running system do; a shuffled table would make every period a scan of
    all of it):
    ``open_share`` of them open (dispatched, clock running), of those ``overdue_share``
    past their due time and ``warn_share`` past 80 %; the rest closed (a share rated,
    reopened, escalated). With ``steps``, each event gets its report step and one step per
    stage it completed (stage, late, work_minutes), as the workflow writes them."""
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_grids"))
        conn.execute(
            text("""
            CREATE UNLOGGED TABLE bench_grids AS
            SELECT row_number() OVER (ORDER BY g.id) - 1 AS k, g.id AS grid_id,
                   s.id AS street_id, g.center_lon AS lon, g.center_lat AS lat
              FROM grid_areas g
              JOIN grid_areas c ON c.id = g.parent_id
              JOIN grid_areas s ON s.id = c.parent_id
             WHERE g.level = 'grid'""")
        )
        conn.execute(text("CREATE UNIQUE INDEX ON bench_grids (k)"))
        grids = conn.execute(text("SELECT count(*) FROM bench_grids")).scalar_one()
        cats = conn.execute(text("SELECT min(id), count(*) FROM grid_categories")).one()
    for lo in range(1, n + 1, chunk):
        hi = min(n, lo + chunk - 1)
        with db.engine.begin() as conn:
            conn.execute(text(_EVENTS), {
                "lo": lo, "hi": hi, "n": n, "grids": grids, "cat0": cats[0], "cats": cats[1],
                "now": NOW, "span": days * 86400, "open": open_share,
                "overdue": open_share * overdue_share,
                "warn": open_share * (overdue_share + warn_share),
            })  # fmt: skip
    if steps:
        for lo in range(1, n + 1, chunk):
            with db.engine.begin() as conn:
                conn.execute(text(_STEPS), {"lo": lo, "hi": min(n, lo + chunk - 1)})
    with db.engine.begin() as conn:
        conn.execute(text("SELECT setval('grid_events_id_seq', (SELECT max(id) FROM grid_events))"))
        if steps:
            conn.execute(
                text(
                    "SELECT setval('grid_event_steps_id_seq', "
                    "(SELECT max(id) FROM grid_event_steps))"
                )
            )
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE grid_events"))
        if steps:
            conn.execute(text("VACUUM ANALYZE grid_event_steps"))


# Open events: dispatched, in the acknowledge stage (1 h) — due_at before NOW for the
# overdue share, warn_at before NOW for the warned share, both ahead otherwise.
_EVENTS = f"""
WITH r AS (SELECT i, {_HASHES} FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS i),
e AS (
  SELECT r.*, g.grid_id, g.street_id, g.lon + (h2 - 0.5) * 0.002 AS lon,
         g.lat + (h3 - 0.5) * 0.002 AS lat,
         CAST(:now AS timestamptz) - make_interval(secs => (:n - i + h4) * :span / :n) AS at,
         h1 < :open AS is_open,
         CAST(:now AS timestamptz) + CASE
           WHEN h1 < :overdue THEN -make_interval(mins => 1 + floor(h2 * 600)::int)
           WHEN h1 < :warn THEN make_interval(mins => 1 + floor(h3 * 11)::int)
           ELSE make_interval(hours => 1 + floor(h3 * 40)::int) END AS due
    FROM r JOIN bench_grids g ON g.k = floor(r.h2 * :grids)
)
INSERT INTO grid_events (id, category_id, area_id, command_area_id, level, lon, lat, address,
  description, answers, source, state, open, seq, stage, stage_seq, stage_started_at, warn_at,
  stage_due_at, due_at, warned_seq, escalations, supervised, reopened, lead_department_id,
  rating, reported_at, closed_at, updated_at)
SELECT i, :cat0 + (i % :cats), grid_id, street_id, 'street', lon, lat, '', '路面堆物', '{{}}',
       CASE WHEN h3 < 0.7 THEN 'grid_worker' ELSE 'hotline' END,
       CASE WHEN is_open THEN 'dispatched' ELSE 'closed' END, is_open,
       CASE WHEN is_open THEN 3 ELSE 7 END,
       CASE WHEN is_open THEN 'acknowledge' END, 3,
       CASE WHEN is_open THEN due - interval '1 hour' END,
       CASE WHEN is_open THEN due - interval '12 minutes' END,
       CASE WHEN is_open THEN due END, CASE WHEN is_open THEN due END,
       0, CASE WHEN h4 < 0.03 THEN 1 ELSE 0 END, h4 < 0.03, CASE WHEN h3 < 0.02 THEN 1 ELSE 0 END,
       NULL, CASE WHEN NOT is_open AND h2 < 0.4 THEN 1 + floor(h3 * 5)::int END,
       at, CASE WHEN NOT is_open THEN at + make_interval(hours => 2 + floor(h2 * 70)::int) END,
       at
  FROM e
"""

# The report step, then one step per completed stage: open events completed register and
# dispatch, closed ones all five.
_STEPS = """
INSERT INTO grid_event_steps (event_id, area_id, seq, action, from_state, to_state,
  actor_name, note, data, stage, late, work_minutes, at)
SELECT e.id, e.area_id, s.seq, s.action, NULL, 'x', 'bench', '',
       CASE WHEN s.stage IS NULL THEN CAST('{}' AS json) ELSE json_build_object(
         'stage', s.stage, 'late', v.late, 'work_minutes', v.minutes) END,
       s.stage, CASE WHEN s.stage IS NOT NULL THEN v.late END,
       CASE WHEN s.stage IS NOT NULL THEN v.minutes END,
       e.reported_at + make_interval(mins => s.seq * 37)
  FROM grid_events e
  CROSS JOIN LATERAL (VALUES (1, 'report', NULL), (2, 'register', 'register'),
    (3, 'dispatch', 'dispatch'), (4, 'acknowledge', 'acknowledge'), (5, 'handle', 'handle'),
    (6, 'verify', 'verify'), (7, 'close', NULL)) AS s(seq, action, stage)
  CROSS JOIN LATERAL (SELECT ((e.id * 7 + s.seq) % 10) = 0 AS late,
    ((e.id * 13 + s.seq * 31) % 600) / 2.0 AS minutes) AS v
 WHERE e.id BETWEEN :lo AND :hi AND s.seq <= e.seq
"""
