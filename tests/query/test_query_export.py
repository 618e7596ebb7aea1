"""Exports: CSV (optionally with a BOM), JSON Lines and Parquet, streamed in bounded memory."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import WriterProperties, write_deltalake

from zhili.errors import InvalidInput
from zhili.query import Filter, Query, Snapshot, SortKey, export_query, parse_params
from zhili.query.duckdb_engine import DuckDBEngine

ROWS = [
    {
        "id": 1,
        "name": "张三",
        "note": 'says "hi", then leaves',
        "income": decimal.Decimal("12.50"),
        "born": dt.date(1950, 5, 1),
        "seen": dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC),
        "photo": b"\x00\xff",
    },
    {
        "id": 2,
        "name": None,
        "note": "line\nbreak",
        "income": None,
        "born": None,
        "seen": None,
        "photo": None,
    },
]
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("note", pa.string()),
        ("income", pa.decimal128(10, 2)),
        ("born", pa.date32()),
        ("seen", pa.timestamp("us", tz="UTC")),
        ("photo", pa.binary()),
    ]
)


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    e = DuckDBEngine()
    yield e
    e.close()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    path = str(tmp_path_factory.mktemp("export") / "small")
    write_deltalake(path, pa.Table.from_pylist(ROWS, SCHEMA))
    return Snapshot(path)


def test_csv_with_bom_for_excel(engine: DuckDBEngine, small: Snapshot) -> None:
    q = Query(fields=("id", "name", "note", "income", "born", "seen"), sort=(SortKey("id"),))
    data = b"".join(export_query(engine, small, q, "csv", primary_key=["id"], bom=True))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))
    assert rows == [
        ["id", "name", "note", "income", "born", "seen"],
        [
            "1",
            "张三",
            'says "hi", then leaves',
            "12.50",
            "1950-05-01",
            "2024-05-01 08:30:00.000000Z",
        ],
        ["2", "", "line\nbreak", "", "", ""],
    ]
    plain = b"".join(export_query(engine, small, q, "csv", primary_key=["id"]))
    assert plain == data[3:]


def test_jsonl_keeps_types_readable(engine: DuckDBEngine, small: Snapshot) -> None:
    q = Query(sort=(SortKey("id", True),))
    lines = b"".join(export_query(engine, small, q, "jsonl", primary_key=["id"])).splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "id": 2,
            "name": None,
            "note": "line\nbreak",
            "income": None,
            "born": None,
            "seen": None,
            "photo": None,
        },
        {
            "id": 1,
            "name": "张三",
            "note": 'says "hi", then leaves',
            "income": "12.50",
            "born": "1950-05-01",
            "seen": "2024-05-01T08:30:00+00:00",
            "photo": "AP8",
        },
    ]


def test_parquet_round_trip(engine: DuckDBEngine, small: Snapshot) -> None:
    q = parse_params({"filter": "id:ge:1", "sort": "id"})
    data = b"".join(export_query(engine, small, q, "parquet", primary_key=["id"]))
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.equals(SCHEMA)
    assert table.to_pylist() == ROWS


def test_errors_come_before_the_first_byte(engine: DuckDBEngine, small: Snapshot) -> None:
    with pytest.raises(InvalidInput) as err:
        export_query(engine, small, Query(fields=("nope",)), "csv")
    assert err.value.params["field"] == "nope"
    with pytest.raises(InvalidInput) as bad:
        export_query(engine, small, Query(), "xlsx")  # type: ignore[arg-type]
    assert bad.value.code == "query.bad_format"


def test_empty_result_still_has_a_header(engine: DuckDBEngine, small: Snapshot) -> None:
    q = Query(fields=("id", "name"), filters=(Filter("id", "gt", 99),))
    assert b"".join(export_query(engine, small, q, "csv")) == b'"id","name"\n'
    assert b"".join(export_query(engine, small, q, "jsonl")) == b""
    table = pq.read_table(io.BytesIO(b"".join(export_query(engine, small, q, "parquet"))))
    assert table.num_rows == 0 and table.column_names == ["id", "name"]


BIG_ROWS = 2_000_000
GENERATE = """
SELECT i::BIGINT AS id,
       'name-' || lpad((i * 7919 % 1000003)::VARCHAR, 8, '0') AS name,
       (120101 + i % 16)::VARCHAR AS district,
       DATE '1930-01-01' + (i * 37 % 30000)::INT AS born,
       (i * 101 % 10007) / 100.0 AS score,
       'a note about resident number ' || i::VARCHAR || ' of the demo city' AS note
FROM range({n}) r(i)
"""

CHILD = textwrap.dedent(
    """
    import json, sys
    from zhili.query import Filter, Query, Snapshot, export_query
    from zhili.query.duckdb_engine import DuckDBEngine

    def peak_kib():
        # VmHWM, not ru_maxrss: the latter keeps the parent's peak across exec.
        with open("/proc/self/status") as status:
            line = next(l for l in status if l.startswith("VmHWM:"))
        return int(line.split()[1])

    path, fmt = sys.argv[1], sys.argv[2]
    engine = DuckDBEngine(memory_limit="256MB")
    snap = Snapshot(path)
    warm = Query(filters=(Filter("id", "eq", 0),))
    assert b"".join(export_query(engine, snap, warm, fmt))  # imports, registration, caches
    report = {"base_kib": peak_kib()}
    for label, query in (
        ("quarter", Query(filters=(Filter("id", "lt", 500_000),))),
        ("full", Query()),
    ):
        size = sum(len(chunk) for chunk in export_query(engine, snap, query, fmt))
        report[f"{label}_kib"], report[f"{label}_bytes"] = peak_kib(), size
    engine.close()
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """2M rows (~200 MB as Arrow) and the Arrow size the whole result would take.

    DuckDB keeps a few row groups per thread in flight while it streams, so what a stream
    holds is proportional to the row-group size, not to the result: 25k-row groups make
    2M rows many times that.
    """
    path = str(tmp_path_factory.mktemp("export") / "big")
    con = duckdb.connect()
    reader = con.sql(GENERATE.format(n=BIG_ROWS)).to_arrow_reader(200_000)
    write_deltalake(path, reader, writer_properties=WriterProperties(max_row_group_size=25_000))
    sample = con.sql(GENERATE.format(n=10_000)).to_arrow_table()
    con.close()
    return path, sample.nbytes * (BIG_ROWS // 10_000)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_memory_is_bounded(big: tuple[str, int], fmt: str) -> None:
    path, full_bytes = big
    done = subprocess.run(
        [sys.executable, "-c", CHILD, path, fmt],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    quarter = (report["quarter_kib"] - report["base_kib"]) * 1024
    full = (report["full_kib"] - report["base_kib"]) * 1024
    assert full_bytes > 150_000_000
    assert report["full_bytes"] > (full_bytes // 2 if fmt == "csv" else full_bytes // 20)
    assert report["full_bytes"] > 3 * report["quarter_bytes"]
    mib = f"{fmt}: RSS grew {quarter / 2**20:.0f} MiB for 500k rows, {full / 2**20:.0f} MiB for 2M"
    # Four times the rows; holding them would add 3/4 of full_bytes (~145 MiB). Allow a
    # fifth: the Parquet writer's allocator keeps a little more as it goes.
    assert full < quarter + full_bytes / 5, mib
    # And far below the result itself; Parquet's encoders and compressor add ~40 MiB.
    assert full < full_bytes * (0.33 if fmt == "csv" else 0.6), mib
