"""DuckDBEngine on real Delta tables: keyset walks, every filter, time travel, limits, timeouts.

Expected results are computed in plain Python from the rows written, so the engine is
checked against an independent reference, not against itself.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import WriterProperties, write_deltalake

from zhili.errors import Forbidden, InvalidInput, NotFound, Unavailable
from zhili.query import (
    Cursor,
    Filter,
    Query,
    Snapshot,
    SortKey,
    parse_params,
    select_sql,
    validate_query,
)
from zhili.query.cursor import sort_fingerprint
from zhili.query.duckdb_engine import DuckDBEngine
from zhili.query.sql import Sql
from zhili.query.window import RowGroup, row_groups, window_bounds

N = 10_000
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("grp", pa.int64()),
        ("name", pa.string()),
        ("score", pa.float64()),
        ("born", pa.date32()),
        ("seen", pa.timestamp("us", tz="UTC")),
        ("flag", pa.bool_()),
    ]
)


def people_rows(n: int = N) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        rows.append(
            {
                "id": i * 3 + 1,
                "grp": i % 7,
                "name": None
                if i % 11 == 0
                else f"{'张' if i % 5 == 0 else 'n'}{(i * 7919) % 500:03d}",
                "score": None if i % 13 == 0 else (i * 37 % 1000) / 10,
                "born": dt.date(1940, 1, 1) + dt.timedelta(days=i * 17 % 25_000),
                "seen": EPOCH + dt.timedelta(minutes=i * 7 % 100_000),
                "flag": None if i % 17 == 0 else i % 2 == 0,
            }
        )
    return rows


ROWS = people_rows()


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    e = DuckDBEngine(timeout=20)
    yield e
    e.close()


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """10k rows written shuffled in two files, so no result can rely on storage order."""
    path = str(tmp_path_factory.mktemp("lake") / "people")
    shuffled = ROWS[:]
    random.Random(1).shuffle(shuffled)
    for part in (shuffled[: N // 2], shuffled[N // 2 :]):
        write_deltalake(path, pa.Table.from_pylist(part, SCHEMA), mode="append")
    return Snapshot(path).pinned()


def order(rows: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Python's reading of the sort contract: NULLs last ascending, first descending."""
    out = rows[:]
    for name, desc in reversed(keys):
        out.sort(
            key=lambda r, n=name: (1, 0) if r[n] is None else (0, r[n]),
            reverse=desc,
        )
    return out


def walk(engine: DuckDBEngine, snap: Snapshot, params: dict[str, Any], key: list[str] | None):
    """Every page of a query, following next_cursor through the REST syntax."""
    rows: list[dict[str, Any]] = []
    after = None
    pages = 0
    while True:
        q = parse_params({**params, **({"after": after} if after else {})})
        page = engine.query(snap, q, primary_key=key)
        rows.extend(page.rows)
        pages += 1
        assert len(page.rows) <= q.limit
        if page.next_cursor is None:
            return rows, pages
        assert len(page.rows) == q.limit
        after = page.next_cursor


WALKS = [
    ("", 1000),
    ("-id", 999),
    ("grp", 997),
    ("-grp,name", 700),
    ("name", 1234),
    ("-score", 800),
    ("grp,-score,name", 650),
    ("-born,flag", 900),
    ("-flag,-seen", 1500),
]


@pytest.mark.parametrize(("sort", "limit"), WALKS)
def test_keyset_walk_sees_every_row_once_in_order(
    engine: DuckDBEngine, people: Snapshot, sort: str, limit: int
) -> None:
    params = {"sort": sort, "limit": str(limit)} if sort else {"limit": str(limit)}
    rows, pages = walk(engine, people, params, ["id"])
    keys = [(s.lstrip("-"), s.startswith("-")) for s in sort.split(",") if s] + [("id", False)]
    expected = order(ROWS, keys)
    assert [r["id"] for r in rows] == [r["id"] for r in expected]
    assert rows == expected  # every value survives the trip, typed
    assert pages == -(-N // limit)


def test_keyset_walk_with_filters_and_fields(engine: DuckDBEngine, people: Snapshot) -> None:
    params = {
        "fields": "name,id",
        "filter": ["grp:in:1,2", "name:not_null"],
        "sort": "-name",
        "limit": "97",
    }
    rows, _ = walk(engine, people, params, ["id"])
    matching = [r for r in ROWS if r["grp"] in (1, 2) and r["name"] is not None]
    expected = order(matching, [("name", True), ("id", False)])
    assert rows == [{"name": r["name"], "id": r["id"]} for r in expected]


def test_walk_without_a_primary_key_keeps_duplicate_rows(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    rows = [
        {"a": i % 5, "b": None if i % 3 == 0 else i % 4, "c": "x" if i % 2 else None}
        for i in range(3000)
    ]
    path = str(tmp_path / "events")
    write_deltalake(path, pa.Table.from_pylist(rows))
    for sort, limit in (("", 41), ("-b", 13), ("c,-a", 250)):
        params = {"sort": sort, "limit": str(limit)} if sort else {"limit": str(limit)}
        got, _ = walk(engine, Snapshot(path), params, None)
        keys = [(s.lstrip("-"), s.startswith("-")) for s in sort.split(",") if s]
        keys += [(c, False) for c in "abc" if c not in {k for k, _ in keys}]
        assert got == order(rows, keys), sort


def test_cursor_from_another_query_is_refused(engine: DuckDBEngine, people: Snapshot) -> None:
    page = engine.query(people, parse_params({"sort": "-score", "limit": "10"}), primary_key=["id"])
    assert page.next_cursor
    with pytest.raises(InvalidInput) as err:
        engine.query(
            people,
            parse_params({"sort": "score", "limit": "10", "after": page.next_cursor}),
            primary_key=["id"],
        )
    assert err.value.code == "query.bad_cursor"
    # The same sort with other filters is the same order: the cursor stays valid.
    q = parse_params({"sort": "-score", "filter": "grp:eq:3", "after": page.next_cursor})
    assert engine.query(people, q, primary_key=["id"]).rows


FILTERS: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("grp:eq:3", lambda r: r["grp"] == 3),
    ("grp:ne:3", lambda r: r["grp"] != 3),
    ("id:lt:100", lambda r: r["id"] < 100),
    ("id:le:100", lambda r: r["id"] <= 100),
    ("score:gt:99.5", lambda r: r["score"] is not None and r["score"] > 99.5),
    ("score:ge:99.5", lambda r: r["score"] is not None and r["score"] >= 99.5),
    ("grp:in:1,4,6", lambda r: r["grp"] in (1, 4, 6)),
    ("grp:not_in:0,1,2,3,4", lambda r: r["grp"] not in (0, 1, 2, 3, 4)),
    (
        "born:between:1950-01-01,1950-12-31",
        lambda r: dt.date(1950, 1, 1) <= r["born"] <= dt.date(1950, 12, 31),
    ),
    ("name:like:张1%", lambda r: r["name"] is not None and r["name"].startswith("张1")),
    (
        "name:like:n_0_",
        lambda r: r["name"] is not None and r["name"][0] == "n" and r["name"][2] == "0",
    ),
    ("name:is_null", lambda r: r["name"] is None),
    ("score:not_null", lambda r: r["score"] is not None),
    ("flag:eq:true", lambda r: r["flag"] is True),
    (
        "seen:ge:2024-01-02T08:00:00+08:00",
        lambda r: r["seen"] >= dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
    ),
    ("seen:lt:2024-01-01 09:00", lambda r: r["seen"] < dt.datetime(2024, 1, 1, 1, tzinfo=dt.UTC)),
]


@pytest.mark.parametrize(("flt", "predicate"), FILTERS, ids=[f for f, _ in FILTERS])
def test_every_filter_operator(
    engine: DuckDBEngine,
    people: Snapshot,
    flt: str,
    predicate: Callable[[dict[str, Any]], bool],
) -> None:
    q = parse_params({"filter": flt, "fields": "id", "limit": "10000", "total": "true"})
    page = engine.query(people, q, primary_key=["id"])
    expected = [r["id"] for r in ROWS if predicate(r)]
    assert expected, "the case should match something"
    assert [r["id"] for r in page.rows] == expected
    assert page.total == len(expected)
    assert page.next_cursor is None


def test_like_escapes(engine: DuckDBEngine, tmp_path: Path) -> None:
    names = ["100%", "100x", "1_0", "1x0", "张三", "张三丰", None, "a\\b"]
    path = str(tmp_path / "names")
    write_deltalake(path, pa.table({"id": range(len(names)), "name": names}))
    cases = {
        r"100\%": ["100%"],
        "100%": ["100%", "100x"],
        r"1\_0": ["1_0"],
        "1_0": ["1_0", "1x0"],
        "张%": ["张三", "张三丰"],
        "_三": ["张三"],
        r"a\\b": ["a\\b"],
    }
    for pattern, expected in cases.items():
        q = Query(filters=(Filter("name", "like", pattern),), fields=("name",))
        assert [r["name"] for r in engine.query(Snapshot(path), q).rows] == expected, pattern


def test_time_travel_and_schema_evolution(engine: DuckDBEngine, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_deltalake(path, pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}))
    write_deltalake(path, pa.table({"id": [4, 5], "v": ["d", "e"]}), mode="append")
    write_deltalake(
        path, pa.table({"id": [6], "v": ["f"], "extra": [1.5]}), mode="append", schema_mode="merge"
    )
    ids = lambda snap: [r["id"] for r in engine.query(snap, Query(), primary_key=["id"]).rows]  # noqa: E731
    assert ids(Snapshot(path, 0)) == [1, 2, 3]
    assert ids(Snapshot(path, 1)) == [1, 2, 3, 4, 5]
    assert ids(Snapshot(path)) == [1, 2, 3, 4, 5, 6]
    latest = engine.query(Snapshot(path, 2), Query(sort=(SortKey("id", True),), limit=2))
    assert latest.rows == [{"id": 6, "v": "f", "extra": 1.5}, {"id": 5, "v": "e", "extra": None}]
    with pytest.raises(InvalidInput) as err:
        engine.query(Snapshot(path, 0), Query(fields=("extra",)))
    assert err.value.params["field"] == "extra"
    with pytest.raises(NotFound) as missing:
        engine.query(Snapshot(path, 9), Query())
    assert missing.value.code == "query.no_version"
    with pytest.raises(NotFound) as nowhere:
        engine.query(Snapshot(str(tmp_path / "nope")), Query())
    assert nowhere.value.code == "query.no_table"


def test_empty_table(engine: DuckDBEngine, tmp_path: Path) -> None:
    path = str(tmp_path / "empty")
    write_deltalake(path, SCHEMA.empty_table())
    page = engine.query(Snapshot(path), Query(with_total=True), primary_key=["id"])
    assert (page.rows, page.next_cursor, page.total) == ([], None, 0)
    assert [c.name for c in page.columns] == SCHEMA.names


def test_page_columns_and_totals(engine: DuckDBEngine, people: Snapshot) -> None:
    page = engine.query(people, parse_params({"fields": "seen,id", "limit": "2", "total": "1"}))
    assert [(c.name, c.type) for c in page.columns] == [
        ("seen", "timestamp[us, tz=UTC]"),
        ("id", "int64"),
    ]
    assert page.total == N
    assert page.rows[0] == {"seen": EPOCH, "id": 1}


def test_many_threads_share_one_engine(engine: DuckDBEngine, people: Snapshot) -> None:
    errors: list[BaseException] = []
    wanted = {i: [r["id"] for r in ROWS if r["grp"] == i % 7][:50] for i in range(16)}

    def work(i: int) -> None:
        try:
            q = parse_params({"filter": f"grp:eq:{i % 7}", "fields": "id", "limit": "50"})
            assert [r["id"] for r in engine.query(people, q, primary_key=["id"]).rows] == wanted[i]
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_evicted_snapshots_are_registered_again(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    for v in range(4):
        write_deltalake(path, pa.table({"id": [v]}), mode="append")
    small = DuckDBEngine(max_relations=2)
    try:
        for _ in range(2):
            for v in range(4):
                page = small.query(Snapshot(path, v), Query(), primary_key=["id"])
                assert [r["id"] for r in page.rows] == list(range(v + 1))
        assert len(small._relations.entries) == 2
    finally:
        small.close()


def test_timeout_interrupts_a_slow_query(engine: DuckDBEngine, people: Snapshot) -> None:
    start = time.monotonic()
    with pytest.raises(Unavailable) as err:
        engine.sql("SELECT count(*) FROM t a, t b, t c", {"t": people}, timeout=0.5)
    assert err.value.code == "query.timeout"
    assert err.value.params["limit"] == 0.5
    assert time.monotonic() - start < 10
    # The engine is still usable afterwards.
    assert engine.sql("SELECT count(*) AS n FROM t", {"t": people}).rows == [{"n": N}]


def test_guarded_sql_results(engine: DuckDBEngine, people: Snapshot) -> None:
    result = engine.sql(
        "WITH g AS (SELECT grp, count(*) AS n, max(score) AS best FROM people GROUP BY grp) "
        "SELECT grp, n, best FROM g WHERE n > 0 ORDER BY grp",
        {"people": people},
    )
    assert [c.name for c in result.columns] == ["grp", "n", "best"]
    assert result.rows == [
        {
            "grp": g,
            "n": sum(1 for r in ROWS if r["grp"] == g),
            "best": max(r["score"] for r in ROWS if r["grp"] == g and r["score"] is not None),
        }
        for g in range(7)
    ]
    assert result.truncated is False
    cut = engine.sql("SELECT id FROM people ORDER BY id DESC", {"people": people}, max_rows=5)
    assert cut.truncated is True
    assert [r["id"] for r in cut.rows] == [r["id"] for r in ROWS[::-1][:5]]
    same = engine.sql("SELECT id, id, id AS id_1 FROM p LIMIT 1", {"p": people})
    assert [c.name for c in same.columns] == ["id", "id_1", "id_1_1"]


@pytest.mark.parametrize(
    ("sql", "error", "code"),
    [
        ("SELECT * FROM people; DROP TABLE x", InvalidInput, "query.sql_not_one_query"),
        ("SELECT * FROM read_parquet('/etc/passwd')", InvalidInput, "query.sql_table_function"),
        ("SELECT * FROM secrets", Forbidden, "query.sql_table"),
        ("SELECT nope FROM people", InvalidInput, "query.sql_unknown_column"),
        ("SELECT 1/'x' FROM people", InvalidInput, "query.sql_error"),
    ],
)
def test_guarded_sql_refusals_through_the_engine(
    engine: DuckDBEngine, people: Snapshot, sql: str, error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as err:
        engine.sql(sql, {"people": people})
    assert err.value.code == code  # type: ignore[attr-defined]


BIG = 300_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """300k rows sorted by key in 20k-row groups, as the lake writes (smaller groups)."""
    path = str(tmp_path_factory.mktemp("lake") / "big")
    write_deltalake(
        path,
        pa.table(
            {
                "id": pa.array([i * 2 for i in range(BIG)], pa.int64()),
                "grp": pa.array([i % 1000 for i in range(BIG)], pa.int64()),
            }
        ),
        writer_properties=WriterProperties(max_row_group_size=20_000),
    )
    return Snapshot(path).pinned()


def scanned(engine: DuckDBEngine, snap: Snapshot, query: Query, window: Any = None) -> str:
    """DuckDB's count of row groups read for the page query (``Row Groups Scanned``)."""
    with engine.relation(snap) as (relation, files):
        text, params = select_sql(relation, query, files.schema, ["id"], window=window)
        plan = engine.run(Sql("EXPLAIN ANALYZE " + text, params)).column(1)[0].as_py()
    found = re.findall(r"Row Groups Scanned: *(\d+ */ *\d+)", plan)
    assert found, plan
    return re.sub(r"\s", "", found[0])


def test_key_lookups_and_windows_read_one_row_group(engine: DuckDBEngine, big: Snapshot) -> None:
    """The SQL shape keeps parquet pruning: a change that wraps the key in a cast fails here."""
    lookup = validate_query(Query(filters=(Filter("id", "eq", 123_456),)), big.files().schema)
    assert scanned(engine, big, lookup) == "1/15"
    fingerprint = sort_fingerprint([("id", True)])
    page = Query(sort=(SortKey("id", True),), limit=100, after=Cursor(fingerprint, (200_000,)))
    bounds = window_bounds(row_groups(big.files(), "id"), page, "id", True, 200_000, 101)
    assert bounds[0] == 160_000  # the group just below the cursor: ids 160000..199998
    assert scanned(engine, big, page, window=bounds[0]) == "1/15"
    assert scanned(engine, big, page) == "5/15"  # without the window: every group below


def test_windows_are_exact_on_a_big_sorted_table(engine: DuckDBEngine, big: Snapshot) -> None:
    """Pages that use row-group windows match the reference, also when filters thin them."""
    n = BIG
    ids = [i * 2 for i in range(n)]
    grp = [i % 1000 for i in range(n)]
    snap = big
    groups = row_groups(snap.files(), "id")
    assert groups is not None and len(groups) == 15  # so windows are in play
    rng = random.Random(3)
    filters = [
        ((), lambda i, g: True),
        ((Filter("grp", "eq", 7),), lambda i, g: g == 7),
        ((Filter("grp", "lt", 2), Filter("id", "ge", 1000)), lambda i, g: g < 2 and i >= 1000),
    ]
    for flt, keep in filters:
        kept = [i for i, g in zip(ids, grp, strict=True) if keep(i, g)]
        for desc in (True, False):
            fingerprint = sort_fingerprint([("id", desc)])
            ordered = sorted(kept, reverse=desc)
            for _ in range(6):
                start = rng.randrange(n) * 2
                q = Query(
                    filters=flt,
                    sort=(SortKey("id", desc),),
                    limit=50,
                    after=Cursor(fingerprint, (start,)),
                )
                got = [r["id"] for r in engine.query(snap, q, primary_key=["id"]).rows]
                expected = [i for i in ordered if (i < start if desc else i > start)][:50]
                assert got == expected, (desc, flt, start)


def test_window_bounds_from_row_group_statistics() -> None:
    groups = [RowGroup(i * 100, i * 100 + 99, 100) for i in range(3000)]  # 300k rows, sorted
    q = Query()
    # Descending from 150_000: the nearest groups below it, widening x16, then no window.
    assert window_bounds(groups, q, "id", True, 150_000, 101) == [149_800, 148_300, 124_100, None]
    assert window_bounds(groups, q, "id", False, None, 101) == [199, 1_699, 25_899, None]
    # An equality filter on the key is already selective: no window.
    eq = Query(filters=(Filter("id", "eq", 5),))
    assert window_bounds(groups, eq, "id", True, None, 2) == [None]
    # Small tables are not worth it.
    assert window_bounds(groups[:10], q, "id", True, None, 101) == [None]
