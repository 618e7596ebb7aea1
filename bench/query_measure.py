"""Measure the query engines on a 10M-row table (a script, not a test).

    .venv/bin/python bench/query_measure.py [--rows 10000000] [--dir DIR] [--no-spark]

Builds (once, in DIR) a Delta table sorted by its primary key ``id`` with row groups
of the lake's size (`zhili.lake.commit.ROW_GROUP`), as the lake writes them, then
reports through :class:`DuckDBEngine`:

* point lookup by primary key (``filter=id:eq:N``): p50 / p99 over 500 random keys;
* keyset page of 100 rows (``after=<cursor>``) at random positions, ascending and
  descending: p50 / p99 over 200 pages;
* the same GROUP BY aggregate as guarded SQL on DuckDB and on Spark local[2] (seconds);
* a full CSV and Parquet export: seconds, output size and peak RSS growth.

Targets (from the issue): lookup p50 <= 15 ms, p99 <= 50 ms; page of 100 p50 <= 30 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

AGGREGATE = """
SELECT district_code, count(*) AS people, avg(age) AS mean_age,
       min(birth_date) AS oldest, max(score) AS best
FROM people GROUP BY district_code ORDER BY district_code
"""


def build(path: Path, rows: int) -> None:
    import duckdb
    from deltalake import WriterProperties, write_deltalake

    from zhili.lake.commit import ROW_GROUP

    if (path / "_delta_log").exists():
        return
    con = duckdb.connect()
    reader = con.sql(
        f"""SELECT i::BIGINT AS id,
               'N' || lpad(((i * 7919) % 1000003)::VARCHAR, 7, '0') AS name,
               (120101 + (i % 16))::VARCHAR AS district_code,
               DATE '1930-01-01' + ((i * 37) % 30000)::INT AS birth_date,
               ((i * 13) % 100)::BIGINT AS age,
               ((i * 101) % 10007) / 100.0 AS score
            FROM range({int(rows)}) r(i) ORDER BY i"""
    ).to_arrow_reader(1_000_000)
    write_deltalake(
        str(path),
        reader,
        mode="overwrite",
        writer_properties=WriterProperties(max_row_group_size=ROW_GROUP),
    )
    con.close()


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_duckdb(path: Path, rows: int) -> dict[str, Any]:
    from zhili.query import Cursor, Filter, Query, Snapshot, SortKey
    from zhili.query.cursor import sort_fingerprint
    from zhili.query.duckdb_engine import DuckDBEngine

    engine = DuckDBEngine()
    snap = Snapshot(str(path)).pinned()
    key = ["id"]
    rng = random.Random(7)
    engine.query(snap, Query(filters=(Filter("id", "eq", 1),)), primary_key=key)  # warm
    lookups = []
    for _ in range(500):
        q = Query(filters=(Filter("id", "eq", rng.randrange(rows)),))
        lookups.append(timed(lambda q=q: engine.query(snap, q, primary_key=key)))
    out: dict[str, Any] = {"lookup": percentiles(lookups)}
    for label, desc in (("page_asc", False), ("page_desc", True)):
        fingerprint = sort_fingerprint([("id", desc)])
        pages = []
        for _ in range(200):
            after = Cursor(fingerprint, (rng.randrange(rows),))
            q = Query(sort=(SortKey("id", desc),), limit=100, after=after)
            pages.append(timed(lambda q=q: engine.query(snap, q, primary_key=key)))
        out[label] = percentiles(pages)
    walk = []
    q = Query(limit=100)
    for _ in range(200):
        start = time.perf_counter()
        page = engine.query(snap, q, primary_key=key)
        walk.append(time.perf_counter() - start)
        q = Query(limit=100, after=Cursor.decode(page.next_cursor or ""))
    out["page_walk_from_start"] = percentiles(walk)
    aggregate = [timed(lambda: engine.sql(AGGREGATE, {"people": snap})) for _ in range(3)]
    out["aggregate_duckdb_s"] = [round(s, 3) for s in aggregate]
    engine.close()
    return out


def measure_spark(path: Path) -> dict[str, Any]:
    from zhili.query import Snapshot
    from zhili.query.spark_engine import SparkEngine

    engine = SparkEngine()
    snap = Snapshot(str(path)).pinned()
    start = time.perf_counter()
    _ = engine.session
    startup = time.perf_counter() - start
    aggregate = [timed(lambda: engine.sql(AGGREGATE, {"people": snap})) for _ in range(3)]
    engine.stop()
    return {
        "spark_startup_s": round(startup, 1),
        "aggregate_spark_s": [round(s, 3) for s in aggregate],
    }


EXPORT_CHILD = """
import json, sys, time
from zhili.query import Query, Snapshot, export_query
from zhili.query.duckdb_engine import DuckDBEngine

def hwm():
    with open("/proc/self/status") as status:
        return int(next(l for l in status if l.startswith("VmHWM:")).split()[1]) // 1024

engine = DuckDBEngine(memory_limit="256MB")
snap = Snapshot(sys.argv[1]).pinned()
engine.query(snap, Query(limit=1))
base, start = hwm(), time.perf_counter()
size = sum(len(chunk) for chunk in export_query(engine, snap, Query(), sys.argv[2]))
print(json.dumps({"seconds": round(time.perf_counter() - start, 1), "out_mib": size >> 20,
                  "rss_growth_mib": hwm() - base}))
engine.close()
"""


def measure_export(path: Path, fmt: str) -> dict[str, Any]:
    """Export every row in a fresh process; its peak RSS growth (Linux: VmHWM)."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", EXPORT_CHILD, str(path), fmt],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "zhili-measure")
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()
    path = args.dir / f"people_{args.rows}"
    start = time.perf_counter()
    build(path, args.rows)
    result: dict[str, Any] = {"rows": args.rows, "build_s": round(time.perf_counter() - start, 1)}
    result.update(measure_duckdb(path, args.rows))
    for fmt in ("csv", "parquet"):
        result[f"export_{fmt}"] = measure_export(path, fmt)
    if not args.no_spark:
        result.update(measure_spark(path))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
