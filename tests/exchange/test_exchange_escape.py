"""No query escapes its grant: hypothesis writes SQL and REST filters against the door.

The oracle for SQL is the grant's view built by hand — only the granted items, only the
rows of the grant's filter, the ID masked — in a separate DuckDB. Whatever SQL a consumer
sends, the door either refuses it or answers exactly what the same SQL answers on that
view: nothing it returns can depend on a hidden item, a filtered-out row or a raw ID.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_exchange_door import CODE, _set, city  # noqa: F401  (fixture)

from zhili.errors import ZhiliError
from zhili.exchange import door

#: The grant's view of the data (test_exchange_door's CAB grant), in the schema's order:
#: id_number (masked), district, death_date; rows of 和平区 only.
GRANTED = [
    ("110105********002X", "和平区", dt.date(2026, 10, 1)),
    ("120101********0019", "和平区", dt.date(2026, 10, 3)),
]
#: Values that exist only outside the grant: the hidden row, the hidden item, raw IDs.
SECRETS = ["河东区", "李四", "张三", "王五", "11010519491231002X", "120101199001010113",
           "120101195001010019", "2026-10-02"]  # fmt: skip

COLUMNS = ["id_number", "death_date", "district", "name"]  # name is not granted
PICK = COLUMNS[:3] * 3 + ["name"]  # mostly granted items, so most queries get an answer
TABLES = [f'"{CODE}"', f'"{CODE}.data"']
FOREIGN = [  # sources no consumer SQL may name
    "read_parquet('/etc/passwd')",
    "read_csv('/etc/hosts')",
    "duckdb_views()",
    "information_schema.tables",
    "sqlite_master",
    '"zhili_s_0000000000000000"',
    "glob('/*')",
]
LITERALS = ["'和平区'", "'河东区'", "'%0019'", "'1101%'", "'张三'", "DATE '2026-10-02'", "1", "0"]


@st.composite
def _predicate(draw: st.DrawFn, depth: int = 0) -> str:
    col = draw(st.sampled_from(PICK))
    lit = draw(st.sampled_from(LITERALS))
    simple = [
        f"{col} = {lit}",
        f"{col} <> {lit}",
        f"{col} LIKE {lit}",
        f"{col} IS NULL",
        f"{col} IS NOT NULL",
        f"CAST({col} AS VARCHAR) >= {lit}",
        f"length(CAST({col} AS VARCHAR)) > {draw(st.integers(0, 20))}",
    ]
    if depth < 2:
        table = draw(st.sampled_from(TABLES * 10 + FOREIGN[:2]))
        inner = draw(_predicate(depth + 1))
        simple += [
            f"{col} IN (SELECT {draw(st.sampled_from(PICK))} FROM {table})",
            f"EXISTS (SELECT 1 FROM {table} WHERE {inner})",
            f"NOT ({inner})",
            f"({inner}) OR ({draw(_predicate(depth + 1))})",
        ]
    return draw(st.sampled_from(simple))


@st.composite
def _select(draw: st.DrawFn, depth: int = 0) -> str:
    col = draw(st.sampled_from(PICK))
    items = draw(
        st.sampled_from(
            [
                "*",
                col,
                f"{col}, district",
                "count(*)",
                f"count(DISTINCT {col})",
                f"min({col}), max({col})",
                f"upper(CAST({col} AS VARCHAR))",
                f"substr(CAST({col} AS VARCHAR), 1, 4)",
                f"string_agg(CAST({col} AS VARCHAR), ',')",
                "district, count(*)",
            ]
        )
    )
    source = draw(st.sampled_from(TABLES * 12 + FOREIGN))
    if depth < 1 and draw(st.booleans()):
        source = f"({draw(_select(depth + 1))}) AS sub"
        items = draw(st.sampled_from(["*", "count(*)"]))
    sql = f"SELECT {items} FROM {source}"
    if draw(st.booleans()):
        sql += f" WHERE {draw(_predicate())}"
    if items.startswith("district, count"):
        sql += " GROUP BY district"
    elif items.startswith(f"{col}, district") and draw(st.booleans()):
        sql += f" GROUP BY {col}, district"
    if depth == 0 and draw(st.booleans()):
        sql = f"{sql} UNION ALL {draw(_select(depth + 1))}"
    return sql


def _oracle() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE granted (id_number VARCHAR, district VARCHAR, death_date DATE)")
    con.executemany("INSERT INTO granted VALUES (?, ?, ?)", GRANTED)
    for name in (CODE, f"{CODE}.data"):
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM granted')
    return con


def _bag(rows: list[Any]) -> list[str]:
    return sorted(repr(tuple(str(v) for v in row)) for row in rows)


@pytest.fixture()
def unmetered(city):  # noqa: F811
    """The grant without quotas, so every generated query is judged on its merits."""
    _set(city, calls_per_day=None, rows_per_day=None)
    return city


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sql=_select())
def test_sql_answers_only_what_the_grant_view_answers(unmetered, sql: str) -> None:
    try:
        with unmetered["db"].session() as s:
            got = door.run_sql(s, unmetered["cab"], home=unmetered["home"], sql=sql)
    except ZhiliError as exc:
        event(f"refused: {exc.code}")
        return  # refused: nothing left the door
    event("answered")
    text = repr(got.rows)
    assert not [secret for secret in SECRETS if secret in text], (sql, got.rows)
    oracle = _oracle()
    try:
        expected = oracle.execute(sql).fetchall()
    except duckdb.Error as exc:  # the door answered what the grant's view cannot
        raise AssertionError(f"{sql} answered {got.rows}; on the grant view: {exc}") from exc
    finally:
        oracle.close()
    assert _bag([list(r.values()) for r in got.rows]) == _bag(expected), sql


OPS = ["eq", "ne", "lt", "le", "gt", "ge", "like", "in", "is_null", "not_null"]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    filters=st.lists(
        st.tuples(
            st.sampled_from(PICK),
            st.sampled_from(OPS),
            st.sampled_from(["和平区", "河东区", "1101%", "%0019", "张三", "2026-10-02", "X"]),
        ),
        max_size=3,
    ),
    fields=st.lists(st.sampled_from(PICK), max_size=3, unique=True),
    sort=st.sampled_from(["", "district", "-id_number", "name", "-death_date"]),
)
def test_rest_filters_stay_inside_the_grant(
    unmetered, filters: list[tuple[str, str, str]], fields: list[str], sort: str
) -> None:
    params = [("filter", f"{c}:{op}" if op.endswith("_null") else f"{c}:{op}:{v}")
              for c, op, v in filters]  # fmt: skip
    if fields:
        params.append(("fields", ",".join(fields)))
    if sort:
        params.append(("sort", sort))
    try:
        with unmetered["db"].session() as s:
            page, _, _ = door.read_rows(
                s, unmetered["cab"], home=unmetered["home"], code=CODE, params=params
            )
    except ZhiliError as exc:
        event(f"refused: {exc.code}")
        named = {c for c, _, _ in filters} | set(fields) | {sort.lstrip("-")}
        if exc.code == "exchange.field_not_granted":
            assert exc.params["field"] == "name" and "name" in named
        return
    event("answered")
    allowed = {(r[0], r[2].isoformat(), r[1]) for r in GRANTED}
    for row in page.rows:
        assert set(row) <= {"id_number", "death_date", "district"}, row
        assert not [secret for secret in SECRETS if secret in repr(row)], (params, row)
        full = (row.get("id_number"), row.get("death_date"), row.get("district"))
        assert any(
            all(v is None or str(v) == a for v, a in zip(full, ok, strict=True)) for ok in allowed
        ), (params, row)
