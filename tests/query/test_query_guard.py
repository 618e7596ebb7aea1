"""The SQL guard: a table of SQL strings accepted or refused, and what a query reads.

Pure checks (no database); the accepted strings are also run on DuckDB to prove that the
regenerated SQL still means what the user wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from zhili.errors import Forbidden, InvalidInput
from zhili.query import Snapshot, check_sql, referenced_columns, referenced_tables
from zhili.query.duckdb_engine import DuckDBEngine

TABLES = {"people": "P", "orgs": "O"}
SCHEMAS = {"people": ["id", "name", "age", "org_id"], "orgs": ["id", "code"]}

ACCEPTED = [
    "SELECT * FROM people",
    "select name from PEOPLE where age > 60 order by name limit 5",
    'SELECT "name" FROM "people"',
    "SELECT p.name, o.code FROM people AS p JOIN orgs o ON p.org_id = o.id",
    "SELECT count(*), avg(age), min(name), max(age) FROM people",
    "SELECT org_id, count(*) AS n FROM people GROUP BY org_id HAVING count(*) > 1 ORDER BY n",
    "WITH old AS (SELECT * FROM people WHERE age >= 60) SELECT count(*) FROM old",
    "WITH a AS (SELECT id FROM people), b AS (SELECT id FROM a) SELECT * FROM b",
    "SELECT id FROM people UNION ALL SELECT id FROM orgs",
    "SELECT id FROM people EXCEPT SELECT id FROM orgs",
    "SELECT * FROM people WHERE org_id IN (SELECT id FROM orgs WHERE code LIKE 'D%')",
    "SELECT name, row_number() OVER (PARTITION BY org_id ORDER BY age DESC) AS r FROM people",
    "SELECT upper(name), length(name), substr(name, 1, 1), coalesce(name, '?') FROM people",
    "SELECT CASE WHEN age >= 60 THEN 'old' ELSE 'young' END AS band FROM people",
    "SELECT CAST(age AS VARCHAR), age::DOUBLE / 2, round(age / 3, 1) FROM people",
    "SELECT date_trunc('month', DATE '2024-05-17'), strftime(DATE '2024-05-17', '%Y')",
    "SELECT * FROM people -- a trailing comment",
    "SELECT * FROM people /* ; DROP TABLE x */",
    "SELECT 1 -- */ ; DROP TABLE x; /*",
    "SELECT * FROM (VALUES (1, 'a')) AS v(x, y)",
    "SELECT * EXCLUDE (age) FROM people",
    # A CTE may shadow an allowed name; inside its scope it is the CTE.
    "WITH people AS (SELECT 1 AS id) SELECT id FROM people",
]


@pytest.mark.parametrize("sql", ACCEPTED)
def test_accepted(sql: str) -> None:
    checked = check_sql(sql, TABLES, SCHEMAS)
    bound = checked.bind({"people": "zhili_s_p", "orgs": "zhili_s_o"})
    assert "--" not in bound and "/*" not in bound
    assert "DROP" not in bound.upper()


II, FB = InvalidInput, Forbidden
#: (sql, error, code without "query.", params the error must carry)
REFUSED: list[tuple[str, type[Exception], str, dict[str, object]]] = [
    ("SELECT * FROM people; DROP TABLE x", II, "sql_not_one_query", {"count": 2}),
    ("SELECT 1; SELECT 2", II, "sql_not_one_query", {"count": 2}),
    ("", II, "sql_not_one_query", {"count": 0}),
    ("SELEC * FROM people", II, "sql_syntax", {}),
    ("SELECT * FROM read_csv('/etc/passwd')", II, "sql_table_function", {"function": "read_csv"}),
    (
        "SELECT * FROM read_parquet('x.parquet')",
        II,
        "sql_table_function",
        {"function": "read_parquet"},
    ),
    ("SELECT * FROM read_json('x.json')", II, "sql_table_function", {"function": "read_json"}),
    ("SELECT * FROM glob('/*')", II, "sql_table_function", {"function": "glob"}),
    ("SELECT * FROM duckdb_tables()", II, "sql_table_function", {"function": "duckdb_tables"}),
    ("SELECT * FROM range(10)", II, "sql_table_function", {}),
    ("SELECT * FROM '/etc/passwd'", FB, "sql_table", {"table": "/etc/passwd"}),
    ('SELECT * FROM "/etc/passwd"', FB, "sql_table", {"table": "/etc/passwd"}),
    ("SELECT * FROM secrets", FB, "sql_table", {"table": "secrets"}),
    ("SELECT * FROM main.people", II, "sql_qualified_name", {"table": "main.people"}),
    ("SELECT * FROM information_schema.tables", II, "sql_qualified_name", {}),
    ("SELECT * FROM zhili_s_0123456789abcdef", FB, "sql_table", {}),
    (
        "SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) q, x",
        FB,
        "sql_table",
        {"table": "x"},
    ),
    ("COPY people TO '/tmp/x'", II, "sql_not_read_only", {"statement": "COPY"}),
    ("ATTACH 'other.db' AS o", II, "sql_not_read_only", {"statement": "ATTACH"}),
    ("DETACH o", II, "sql_not_read_only", {}),
    ("PRAGMA version", II, "sql_not_read_only", {"statement": "PRAGMA"}),
    ("SET threads = 1", II, "sql_not_read_only", {"statement": "SET"}),
    ("CALL duckdb_tables()", II, "sql_not_read_only", {"statement": "CALL"}),
    ("INSTALL httpfs", II, "sql_not_read_only", {}),
    ("LOAD httpfs", II, "sql_not_read_only", {"statement": "LOAD"}),
    ("INSERT INTO people VALUES (1)", II, "sql_not_read_only", {}),
    ("UPDATE people SET age = 1", II, "sql_not_read_only", {}),
    ("DELETE FROM people", II, "sql_not_read_only", {}),
    ("CREATE TABLE x AS SELECT * FROM people", II, "sql_not_read_only", {}),
    ("DROP TABLE people", II, "sql_not_read_only", {}),
    ("SELECT * INTO copy FROM people", II, "sql_not_read_only", {}),
    ("EXPORT DATABASE '/tmp/x'", II, "sql_syntax", {}),
    ("DESCRIBE people", II, "sql_not_read_only", {}),
    (
        "WITH x AS (DELETE FROM people RETURNING *) SELECT * FROM x",
        II,
        "sql_not_read_only",
        {},
    ),
    ("SELECT getenv('HOME')", II, "sql_function", {"function": "getenv"}),
    ("SELECT read_text('/etc/passwd')", II, "sql_function", {"function": "read_text"}),
    ("SELECT current_setting('threads')", II, "sql_function", {}),
    ("SELECT name FROM people WHERE random() < 0.5", II, "sql_function", {"function": "random"}),
    ("SELECT COLUMNS('a.*') FROM people", II, "sql_function", {"function": "columns"}),
    ("SELECT list(name) FROM people", II, "sql_function", {"function": "array_agg"}),
    ("SELECT * FROM people WHERE id = ?", II, "sql_parameter", {}),
    ("SELECT * FROM people WHERE id = $1", II, "sql_parameter", {}),
    ("SELECT salary FROM people", II, "sql_unknown_column", {"column": "salary"}),
    ("SELECT p FROM people AS p", II, "sql_row_reference", {"name": "p"}),
    ("SELECT people FROM people", II, "sql_row_reference", {}),
    ("SELECT " + "1 + " * 6000 + "1", II, "sql_too_long", {}),
]


@pytest.mark.parametrize(
    ("sql", "error", "code", "names"), REFUSED, ids=[r[0][:60] for r in REFUSED]
)
def test_refused(sql: str, error: type[Exception], code: str, names: dict[str, object]) -> None:
    with pytest.raises(error) as err:
        check_sql(sql, TABLES, SCHEMAS)
    assert err.value.code == f"query.{code}"  # type: ignore[attr-defined]
    assert names.items() <= err.value.params.items()  # type: ignore[attr-defined]
    assert "{" not in err.value.message("en")  # type: ignore[attr-defined]


def test_table_names_are_case_insensitive_but_must_not_collide() -> None:
    assert check_sql('SELECT * FROM "PEOPLE"', TABLES).tables == {"people": "P"}
    with pytest.raises(InvalidInput):
        check_sql("SELECT 1", {"a": 1, "A": 2})


@pytest.mark.parametrize(
    ("sql", "tables", "columns"),
    [
        ("SELECT name FROM people", {"people"}, {"people": {"name"}}),
        ("SELECT * FROM people", {"people"}, {"people": {"id", "name", "age", "org_id"}}),
        (
            "WITH x AS (SELECT id, age FROM people WHERE name LIKE 'a%') SELECT count(*) FROM x",
            {"people"},
            {"people": {"id", "age", "name"}},
        ),
        (
            "SELECT o.code FROM people p JOIN orgs o ON o.id = p.org_id WHERE p.age > 1",
            {"people", "orgs"},
            {"people": {"org_id", "age"}, "orgs": {"code", "id"}},
        ),
        ("SELECT count(*) FROM people", {"people"}, {}),
        (
            "SELECT id FROM people UNION SELECT id FROM orgs",
            {"people", "orgs"},
            {"people": {"id"}, "orgs": {"id"}},
        ),
        ('SELECT "NAME" FROM People', {"People"}, {"people": {"name"}}),
    ],
)
def test_referenced_tables_and_columns(
    sql: str, tables: set[str], columns: dict[str, set[str]]
) -> None:
    assert referenced_tables(sql) == tables
    assert referenced_columns(sql, SCHEMAS) == {t: frozenset(c) for t, c in columns.items()}
    assert check_sql(sql, TABLES, SCHEMAS).columns == referenced_columns(sql, SCHEMAS)


def test_referenced_columns_keeps_the_schema_spelling() -> None:
    schemas = {"t": pa.schema([("BirthDate", pa.date32()), ("姓名", pa.string())])}
    assert referenced_columns("SELECT birthdate, 姓名 FROM t", schemas) == {
        "t": frozenset({"BirthDate", "姓名"})
    }


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DuckDBEngine, dict]]:
    root: Path = tmp_path_factory.mktemp("guard")
    write_deltalake(
        str(root / "people"),
        pa.table(
            {
                "id": [1, 2, 3],
                "name": ["a", "b", None],
                "age": [70, 30, 61],
                "org_id": [10, 10, 20],
            }
        ),
    )
    write_deltalake(str(root / "orgs"), pa.table({"id": [10, 20], "code": ["D01", "X02"]}))
    engine = DuckDBEngine()
    yield engine, {"people": Snapshot(str(root / "people")), "orgs": Snapshot(str(root / "orgs"))}
    engine.close()


@pytest.mark.parametrize("sql", ACCEPTED)
def test_accepted_sql_runs(duck: tuple[DuckDBEngine, dict], sql: str) -> None:
    engine, tables = duck
    engine.sql(sql, tables)


def test_quoted_identifiers_and_aliases_survive(duck: tuple[DuckDBEngine, dict]) -> None:
    engine, tables = duck
    result = engine.sql(
        'SELECT "P"."name" AS "名字", o.code FROM "People" AS "P" JOIN orgs o ON o.id = "P".org_id '
        "WHERE age > 60 ORDER BY 1",
        tables,
    )
    assert result.rows == [{"名字": "a", "code": "D01"}, {"名字": None, "code": "X02"}]
