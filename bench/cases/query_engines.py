"""The query layer on a 10M-row Delta table (sorted by key, row groups of the lake's size,
as the lake writes it): point lookups and keyset pages through DuckDBEngine against the same lookup
written directly in DuckDB over the same Parquet files, and one aggregate on DuckDB and on
Spark local[2]. Goals: lookup p50 ≤ 15 ms, p99 ≤ 50 ms; page of 100 p50 ≤ 30 ms."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from bench.run import Case, Result


def _direct_lookups(path: Path, rows: int) -> dict[str, float]:
    import duckdb
    from deltalake import DeltaTable

    from bench.query_measure import percentiles

    files = DeltaTable(str(path)).file_uris()
    con = duckdb.connect()
    con.execute(f"CREATE VIEW people AS SELECT * FROM read_parquet({files!r})")
    rng = random.Random(7)
    con.execute("SELECT * FROM people WHERE id = ?", [1]).fetchall()
    samples = []
    for _ in range(500):
        start = time.perf_counter()
        con.execute("SELECT * FROM people WHERE id = ?", [rng.randrange(rows)]).fetchall()
        samples.append(time.perf_counter() - start)
    con.close()
    return percentiles(samples)


def run(quick: bool) -> Result:
    from bench.query_measure import build, measure_duckdb, measure_export, measure_spark

    rows = 1_000_000 if quick else 10_000_000
    with tempfile.TemporaryDirectory(prefix="zhili-bench-query-") as tmp:
        path = Path(tmp) / f"people_{rows}"
        build(path, rows)
        ours = measure_duckdb(path, rows)
        direct = _direct_lookups(path, rows)
        export = {fmt: measure_export(path, fmt) for fmt in ("csv", "parquet")}
        spark = measure_spark(path)
    lookup = ours["lookup"]
    metrics: dict[str, object] = {
        "rows": rows,
        "lookup_p50_ms": lookup["p50_ms"],
        "lookup_p99_ms": lookup["p99_ms"],
        "direct_duckdb_lookup_p50_ms": direct["p50_ms"],
        "page_asc_p50_ms": ours["page_asc"]["p50_ms"],
        "page_desc_p50_ms": ours["page_desc"]["p50_ms"],
        "aggregate_duckdb_s": min(ours["aggregate_duckdb_s"]),
    }
    for key, value in spark.items():
        if isinstance(value, int | float):
            metrics[key] = value
        elif isinstance(value, list) and value:
            metrics[key] = min(value)
    for fmt, info in export.items():
        for key, value in info.items():
            metrics[f"export_{fmt}_{key}"] = value
    met = lookup["p50_ms"] <= 15 and lookup["p99_ms"] <= 50 and ours["page_asc"]["p50_ms"] <= 30
    return Result(
        metrics=metrics,
        ratio=direct["p50_ms"] / lookup["p50_ms"],
        ratio_label="direct DuckDB lookup p50 ÷ zhili engine lookup p50",
        goal="lookup p50 ≤ 15 ms and p99 ≤ 50 ms; keyset page of 100 p50 ≤ 30 ms",
        goal_met=met if not quick else None,
        notes=[
            "Engine level (no HTTP yet): the REST route arrives with the exchange's one door.",
            "Spark local[2] numbers include a warm session; its first query also pays start-up.",
        ],
    )


CASE = Case(
    name="query_engines",
    title="Query engines on a 10M-row table: lookups, keyset pages, aggregate, exports",
    baseline="the same lookup as hand-written DuckDB SQL over the same Parquet files",
    run=run,
)
