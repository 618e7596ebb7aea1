"""Ingest with full validation (types, constraints, cn-id check digits, unique primary key,
sorted by key, one atomic Delta commit) against DuckDB's own CSV → Parquet copy of the
same file, which checks nothing. Goal: ≥ 0.5× DuckDB's rows/s.

Each repetition runs DuckDB, the sorted ingest and the unsorted one back to back, and the
best of each is kept, so that a burst of load from other processes on the machine hits
both sides alike. The sorted table is then queried through ``DuckDBEngine`` (point
lookups by primary key), which is what the sort is for."""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from bench.run import Case, Result

ROOT = Path(__file__).resolve().parents[2]
LOOKUPS = 300


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _peak_rss(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and the highest resident memory of this process while it ran (MiB),
    sampled every 20 ms."""
    peak = _rss_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, _rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        value = fn()
    finally:
        done.set()
        sampler.join()
    return value, max(peak, _rss_mb())


def _lookups(path: Path) -> dict[str, float]:
    """Point lookups by primary key through the query engine on the ingested table."""
    import pyarrow.parquet as pq

    from bench.query_measure import percentiles
    from zhili.query import Filter, Query, Snapshot
    from zhili.query.duckdb_engine import DuckDBEngine

    ids = pq.read_table(sorted(path.glob("*.parquet")), columns=["id_number"]).column(0)
    rng = random.Random(7)
    keys = [ids[rng.randrange(len(ids))].as_py() for _ in range(LOOKUPS)]
    engine = DuckDBEngine()
    snap = Snapshot(str(path)).pinned()
    key = ["id_number"]
    try:
        engine.query(snap, Query(filters=(Filter("id_number", "eq", keys[0]),)), primary_key=key)
        samples = []
        for value in keys:
            query = Query(filters=(Filter("id_number", "eq", value),))
            start = time.perf_counter()
            page = engine.query(snap, query, primary_key=key)
            samples.append(time.perf_counter() - start)
            assert len(page.rows) == 1
    finally:
        engine.close()
    return percentiles(samples)


def run(quick: bool) -> Result:
    sys.path.insert(0, str(ROOT / "tests" / "lake"))
    from lake_data import SCHEMA, write_csv  # the lake tests' generator of valid rows

    from zhili.lake import CsvSource, LakeTable, ingest
    from zhili.lake.validate import default_memory_limit

    rows = 1_000_000 if quick else 10_000_000
    reps = 2
    work = Path(tempfile.mkdtemp(prefix="zhili-bench-lake-"))
    try:
        csv = write_csv(work / "people.csv", rows)

        def duck() -> None:
            con = duckdb.connect()
            con.execute(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{work / 'duck.parquet'}'")
            con.close()

        def ours(sort: bool) -> None:
            target = work / ("sorted" if sort else "unsorted")
            shutil.rmtree(target, ignore_errors=True)
            ingest(CsvSource(csv), SCHEMA, LakeTable(str(target)), "replace", sort=sort)

        memory_limit = default_memory_limit()
        runs: dict[str, list[float]] = {"duck": [], "sorted": [], "unsorted": []}
        peaks = []
        for _ in range(reps):
            for name, fn in (
                ("duck", duck),
                ("sorted", lambda: ours(True)),
                ("unsorted", lambda: ours(False)),
            ):
                start = time.perf_counter()
                _, peak = _peak_rss(fn)
                runs[name].append(time.perf_counter() - start)
                if name == "sorted":
                    peaks.append(peak)
        lookup = _lookups(work / "sorted")
        sorted_bytes = sum(f.stat().st_size for f in (work / "sorted").glob("*.parquet"))
        size_mb = csv.stat().st_size / 2**20
    finally:
        shutil.rmtree(work, ignore_errors=True)
    duck_s, sorted_s, unsorted_s = (min(runs[k]) for k in ("duck", "sorted", "unsorted"))
    ratio = duck_s / sorted_s
    return Result(
        metrics={
            "rows": rows,
            "csv_mb": round(size_mb, 1),
            "duckdb_s": round(duck_s, 2),
            "zhili_sorted_s": round(sorted_s, 2),
            "zhili_unsorted_s": round(unsorted_s, 2),
            "duckdb_rows_per_s": round(rows / duck_s),
            "zhili_sorted_rows_per_s": round(rows / sorted_s),
            "zhili_unsorted_rows_per_s": round(rows / unsorted_s),
            "unsorted_ratio": round(duck_s / unsorted_s, 3),
            "all_runs_s": {k: [round(s, 2) for s in v] for k, v in runs.items()},
            "zhili_sorted_peak_rss_mb": round(max(peaks)),
            "duckdb_memory_limit": memory_limit,
            "sorted_table_mb": round(sorted_bytes / 2**20),
            "lookup_p50_ms": lookup["p50_ms"],
            "lookup_p99_ms": lookup["p99_ms"],
        },
        ratio=ratio,
        ratio_label="zhili (validated, sorted) rows/s ÷ DuckDB COPY rows/s",
        goal="≥ 0.5× DuckDB's CSV→Parquet rate with full validation",
        goal_met=ratio >= 0.5,
        notes=[
            "One pass: a thread parses the CSV ahead of DuckDB and another proves in NumPy "
            "the cn-id check (digits, region, birth date, check character), bare integers "
            "and YYYY-MM-DD dates, so SQL casts and type-checks only what was not proven; "
            "DuckDB checks every other rule, sorts by the key (a cn-id sorts as the integer "
            "of its 17 digits) and writes one Parquet file; repeated keys are then found on "
            "neighbouring rows of that sorted file instead of a DISTINCT.",
            "DuckDB's memory limit is a quarter of the available memory (1–8 GB), so a "
            "10M-row sort does not spill (at the former 1 GB it spilled ~0.5 GB).",
            "Lookups: p50/p99 of point lookups by primary key through DuckDBEngine on the "
            "ingested table (one file, row groups of 122,880 rows sorted by key).",
            "Best of the repetitions, run interleaved; 10 columns incl. an 18-digit ID.",
        ],
    )


CASE = Case(
    name="lake_ingest",
    title="Ingest a 10M-row CSV with full validation into a Delta version",
    baseline="DuckDB COPY (SELECT * FROM read_csv(…)) TO parquet",
    run=run,
)
