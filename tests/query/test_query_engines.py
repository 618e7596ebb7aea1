"""The same queries on every engine give the same results (DuckDB and Spark local mode).

Each case is checked against a plain-Python reference over the rows written, on each
engine, so equal-to-reference on both means identical across engines. The Spark session
starts once per test session (marker ``spark``; deselect with ``-m "not spark"``).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from zhili.errors import Forbidden, InvalidInput, Unavailable, ZhiliError
from zhili.query import Engine, Query, Snapshot, SortKey, export_query, parse_params
from zhili.query.duckdb_engine import DuckDBEngine

N = 200
T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("district", pa.string()),
        ("name", pa.string()),
        ("score", pa.float64()),
        ("income", pa.decimal128(12, 2)),
        ("born", pa.date32()),
        ("seen", pa.timestamp("us", tz="UTC")),
        ("flag", pa.bool_()),
    ]
)


def make_rows() -> list[dict[str, Any]]:
    names = ["张三", "李四", "王五", "100%", "1_0", "n-a", None]
    return [
        {
            "id": i * 2 + 1,
            "district": f"12010{i % 4}",
            "name": names[i % len(names)],
            "score": None if i % 9 == 0 else float(i * 37 % 101),
            "income": decimal.Decimal(i * 1234 % 100_000) / 100,
            "born": dt.date(1950, 1, 1) + dt.timedelta(days=i * 97 % 20_000),
            "seen": T0 + dt.timedelta(hours=i * 5 % 300),
            "flag": None if i % 10 == 0 else i % 3 == 0,
        }
        for i in range(N)
    ]


ROWS = make_rows()


@pytest.fixture(scope="session")
def duckdb_engine() -> Iterator[Engine]:
    engine = DuckDBEngine(timeout=30)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Engine]:
    pytest.importorskip("pyspark")
    from zhili.query.spark_engine import SparkEngine

    engine = SparkEngine(master="local[2]", timeout=60)
    yield engine
    engine.stop()


@pytest.fixture(scope="session", params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Snapshot]:
    root: Path = tmp_path_factory.mktemp("engines")
    people = str(root / "people")
    write_deltalake(people, pa.Table.from_pylist(ROWS[: N // 2], SCHEMA))
    write_deltalake(people, pa.Table.from_pylist(ROWS[N // 2 :], SCHEMA), mode="append")
    districts = str(root / "districts")
    write_deltalake(
        districts,
        pa.table(
            {"code": [f"12010{i}" for i in range(4)], "label": ["和平", "河东", "河西", "南开"]}
        ),
    )
    evolving = str(root / "evolving")
    write_deltalake(evolving, pa.table({"id": [1, 2], "v": ["a", "b"]}))
    write_deltalake(
        evolving, pa.table({"id": [3], "v": ["c"], "w": [1.5]}), mode="append", schema_mode="merge"
    )
    return {
        "people": Snapshot(people).pinned(),
        "people_v0": Snapshot(people, 0),
        "districts": Snapshot(districts).pinned(),
        "evolving": Snapshot(evolving).pinned(),
    }


def order(rows: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    out = rows[:]
    for name, desc in reversed(keys):
        out.sort(key=lambda r, n=name: (1, 0) if r[n] is None else (0, r[n]), reverse=desc)
    return out


FILTERS: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("district:eq:120102", lambda r: r["district"] == "120102"),
    ("district:ne:120102", lambda r: r["district"] != "120102"),
    ("id:lt:41", lambda r: r["id"] < 41),
    ("id:le:41", lambda r: r["id"] <= 41),
    ("score:gt:90", lambda r: r["score"] is not None and r["score"] > 90),
    ("score:ge:90", lambda r: r["score"] is not None and r["score"] >= 90),
    ("income:ge:900.5", lambda r: r["income"] >= decimal.Decimal("900.5")),
    ("district:in:120101,120103", lambda r: r["district"] in ("120101", "120103")),
    ("name:not_in:张三,李四", lambda r: r["name"] not in (None, "张三", "李四")),
    (
        "born:between:1960-01-01,1979-12-31",
        lambda r: dt.date(1960, 1, 1) <= r["born"] <= dt.date(1979, 12, 31),
    ),
    ("name:like:张%", lambda r: r["name"] == "张三"),
    (r"name:like:100\%", lambda r: r["name"] == "100%"),
    (r"name:like:1\_0", lambda r: r["name"] == "1_0"),
    ("name:is_null", lambda r: r["name"] is None),
    ("score:not_null", lambda r: r["score"] is not None),
    ("flag:eq:false", lambda r: r["flag"] is False),
    ("seen:ge:2024-03-08T08:00:00+08:00", lambda r: r["seen"] >= T0 + dt.timedelta(days=7)),
]  # fmt: skip


@pytest.mark.parametrize(("flt", "predicate"), FILTERS, ids=[f for f, _ in FILTERS])
def test_filters(
    engine: Engine,
    lake: dict[str, Snapshot],
    flt: str,
    predicate: Callable[[dict[str, Any]], bool],
) -> None:
    page = engine.query(
        lake["people"], parse_params({"filter": flt, "limit": "1000"}), primary_key=["id"]
    )
    expected = [r for r in ROWS if predicate(r)]
    assert expected
    assert page.rows == expected


@pytest.mark.parametrize(
    ("sort", "limit"),
    [("-score", 45), ("name,-born", 60), ("-flag,seen", 70), ("district,-income", 90)],
)
def test_keyset_walk(engine: Engine, lake: dict[str, Snapshot], sort: str, limit: int) -> None:
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"sort": sort, "limit": str(limit), "fields": "id,name"}
    total = None
    while True:
        page = engine.query(lake["people"], parse_params(params), primary_key=["id"])
        rows.extend(page.rows)
        total = page.total if total is None else total
        if page.next_cursor is None:
            break
        params = {**params, "after": page.next_cursor}
    keys = [(s.lstrip("-"), s.startswith("-")) for s in sort.split(",")] + [("id", False)]
    assert rows == [{"id": r["id"], "name": r["name"]} for r in order(ROWS, keys)]


def test_total_and_time_travel(engine: Engine, lake: dict[str, Snapshot]) -> None:
    q = parse_params({"filter": "district:eq:120100", "total": "true", "limit": "5"})
    latest = engine.query(lake["people"], q, primary_key=["id"])
    first = engine.query(lake["people_v0"], q, primary_key=["id"])
    assert latest.total == sum(1 for r in ROWS if r["district"] == "120100")
    assert first.total == sum(1 for r in ROWS[: N // 2] if r["district"] == "120100")
    assert latest.rows == first.rows  # the first five are in version 0 already


def test_schema_evolution(engine: Engine, lake: dict[str, Snapshot]) -> None:
    page = engine.query(lake["evolving"], Query(sort=(SortKey("id", True),)), primary_key=["id"])
    assert page.rows == [
        {"id": 3, "v": "c", "w": 1.5},
        {"id": 2, "v": "b", "w": None},
        {"id": 1, "v": "a", "w": None},
    ]


def test_aggregate_with_group_by(engine: Engine, lake: dict[str, Snapshot]) -> None:
    result = engine.sql(
        "SELECT district, count(*) AS people, count(name) AS named, min(born) AS oldest, "
        "sum(CASE WHEN flag THEN 1 ELSE 0 END) AS flagged, round(avg(score), 6) AS mean "
        "FROM people GROUP BY district ORDER BY district",
        {"people": lake["people"]},
    )
    expected = []
    for d in sorted({r["district"] for r in ROWS}):
        group = [r for r in ROWS if r["district"] == d]
        scores = [r["score"] for r in group if r["score"] is not None]
        expected.append(
            {
                "district": d,
                "people": len(group),
                "named": sum(1 for r in group if r["name"] is not None),
                "oldest": min(r["born"] for r in group),
                "flagged": sum(1 for r in group if r["flag"]),
                "mean": pytest.approx(round(sum(scores) / len(scores), 6)),
            }
        )
    assert result.rows == expected
    assert [c.name for c in result.columns] == list(expected[0])
    assert result.truncated is False


def test_guarded_sql_with_cte_join_and_window(engine: Engine, lake: dict[str, Snapshot]) -> None:
    result = engine.sql(
        "WITH ranked AS ("
        "  SELECT p.id, d.label,"
        "    row_number() OVER (PARTITION BY p.district ORDER BY p.id DESC) AS r"
        "  FROM people p JOIN districts d ON d.code = p.district WHERE p.name LIKE '张%'"
        ") SELECT label, id FROM ranked WHERE r <= 2 ORDER BY label, id",
        {"people": lake["people"], "districts": lake["districts"]},
        max_rows=5,
    )
    labels = {"120100": "和平", "120101": "河东", "120102": "河西", "120103": "南开"}
    expected = []
    for code, label in labels.items():
        ids = sorted(
            (r["id"] for r in ROWS if r["district"] == code and r["name"] == "张三"), reverse=True
        )
        expected += [{"label": label, "id": i} for i in ids[:2]]
    expected.sort(key=lambda r: (r["label"].encode(), r["id"]))
    assert result.rows == expected[:5]
    assert result.truncated is (len(expected) > 5)


def test_guard_refuses_the_same_on_every_engine(engine: Engine, lake: dict[str, Snapshot]) -> None:
    with pytest.raises(Forbidden):
        engine.sql("SELECT * FROM other", {"people": lake["people"]})
    with pytest.raises(InvalidInput) as err:
        engine.sql("SELECT read_text('/etc/passwd')", {"people": lake["people"]})
    assert err.value.code == "query.sql_function"


def test_export_stream(engine: Engine, lake: dict[str, Snapshot]) -> None:
    q = parse_params({"fields": "id,name,seen,income", "sort": "-id", "filter": "id:lt:100"})
    chunks = list(export_query(engine, lake["people"], q, "csv", primary_key=["id"]))
    text = b"".join(chunks).decode()
    got = list(csv.DictReader(io.StringIO(text)))
    expected = order([r for r in ROWS if r["id"] < 100], [("id", True)])
    assert [int(r["id"]) for r in got] == [r["id"] for r in expected]
    assert [r["name"] or None for r in got] == [r["name"] for r in expected]
    assert got[0]["seen"].endswith("Z") and "." in got[0]["income"]
    table = engine.stream(lake["people"], q, primary_key=["id"]).read_all()
    assert table.to_pylist() == [
        {k: r[k] for k in ("id", "name", "seen", "income")} for r in expected
    ]


def test_timeout(engine: Engine, lake: dict[str, Snapshot]) -> None:
    start = time.monotonic()
    with pytest.raises(Unavailable) as err:
        engine.sql(
            # 8M distinct triples, each joined with 40k pairs: never finishes, and the inner
            # loop per outer row is short, so Spark's cancelled tasks stop promptly too (a
            # plain 5-way cross join runs 1.6e9 iterations per row between interrupt checks).
            "SELECT count(*) FROM (SELECT DISTINCT a.id AS x, b.id AS y, c.id AS z"
            " FROM p a, p b, p c) t, p d, p e",
            {"p": lake["people"]},
            timeout=1.5,
        )
    assert err.value.code == "query.timeout"
    assert time.monotonic() - start < 30
    # the cancelled query leaves the engine: the next one is not queued behind its tasks
    after = engine.sql("SELECT count(*) AS n FROM p", {"p": lake["people"]}, timeout=20)
    assert after.rows == [{"n": len(ROWS)}]


def test_engines_by_name_and_a_helpful_message_without_pyspark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from zhili.query import DuckDBEngine, SparkEngine, get_engine

    assert isinstance(get_engine("duckdb"), DuckDBEngine)
    assert get_engine("duckdb") is get_engine("duckdb")  # one shared engine per process
    with pytest.raises(InvalidInput) as err:
        get_engine("oracle")  # type: ignore[arg-type]
    assert err.value.params["engine"] == "oracle"
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if pyspark were not installed
    with pytest.raises(Unavailable) as missing:
        _ = SparkEngine().session
    assert missing.value.code == "query.spark_missing"
    assert "zhili[spark]" in missing.value.message("en")


def test_scoped_snapshot_shows_only_its_fields_rows_and_masks(engine: Engine, lake) -> None:
    """A grant's scope: a subset of fields, a row filter, a masked field — the same on
    both engines, through the query model, exports and SQL alike."""
    import pyarrow.compute as pc

    from zhili.query import Query, Scope
    from zhili.query.masks import register_mask

    mask_id = register_mask("test-upper-ends", lambda a: pc.utf8_replace_slice(a, 1, 3, "**"))
    scope = Scope(("id", "name", "district"), "\"district\" = '120101'", (("name", mask_id),))
    snap = Snapshot(lake["people"].path, lake["people"].version, scope)
    expected = [
        {"id": r["id"], "district": r["district"],
         "name": None if r["name"] is None else r["name"][:1] + "**" + r["name"][3:]}
        for r in ROWS if r["district"] == "120101"
    ]  # fmt: skip
    page = engine.query(snap, Query(limit=10_000), primary_key=["id"])
    assert [c.name for c in page.columns] == ["id", "name", "district"]
    assert sorted(page.rows, key=lambda r: r["id"]) == [
        {"id": r["id"], "name": r["name"], "district": r["district"]} for r in expected
    ]
    with pytest.raises(ZhiliError) as outside:  # score is not in the scope
        engine.sql("SELECT max(score) FROM p", {"p": snap})
    assert outside.value.code == "query.sql_unknown_column"
    result = engine.sql("SELECT count(*) AS n FROM p WHERE name LIKE '%**%'", {"p": snap})
    assert result.rows == [{"n": sum(1 for r in expected if r["name"] and len(r["name"]) > 1)}]
