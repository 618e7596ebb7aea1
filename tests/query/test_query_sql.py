"""The pure SQL builders and the Spark translation: SQL text and parameters, no database."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from zhili.errors import InvalidInput
from zhili.query import Cursor, Filter, Query, SortKey, count_sql, export_sql, select_sql
from zhili.query.cursor import sort_fingerprint
from zhili.query.dialect import duckdb_to_spark, spark_args, translate
from zhili.query.sql import quote_ident

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64()),
        pa.field("grp", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field('we"ird', pa.float64()),
    ]
)
ALL = '"id", "grp", "name", "we""ird"'


def after(keys: list[tuple[str, bool]], values: list[Any], ties: int = 0) -> Cursor:
    return Cursor(sort_fingerprint(keys), tuple(values), ties)


SELECT_CASES: list[tuple[str, Query, str, list[Any]]] = [
    (
        "default: every field, primary key order, one extra row",
        Query(),
        f'SELECT {ALL}, "id" AS "__zhili_k0" FROM "t" ORDER BY "id" ASC NULLS LAST LIMIT 101',
        [],
    ),
    (
        "filters of every kind become bound parameters",
        Query(
            fields=("name",),
            filters=(
                Filter("grp", "in", (1, 2)),
                Filter("grp", "not_in", (3,)),
                Filter("name", "like", "a%"),
                Filter("id", "between", (1, 9)),
                Filter("name", "is_null"),
                Filter("name", "not_null"),
                Filter('we"ird', "ne", 1.5),
                Filter("id", "eq", 4),
                Filter("id", "lt", 5),
                Filter("id", "le", 6),
                Filter("id", "gt", 0),
                Filter("id", "ge", 1),
            ),
            limit=10,
        ),
        'SELECT "name", "id" AS "__zhili_k0" FROM "t" WHERE "grp" IN ($1, $2) AND '
        '"grp" NOT IN ($3) AND "name" LIKE $4 ESCAPE \'\\\' AND "id" BETWEEN $5 AND $6 AND '
        '"name" IS NULL AND "name" IS NOT NULL AND "we""ird" <> $7 AND "id" = $8 AND '
        '"id" < $9 AND "id" <= $10 AND "id" > $11 AND "id" >= $12 '
        'ORDER BY "id" ASC NULLS LAST LIMIT 11',
        [1, 2, 3, "a%", 1, 9, 1.5, 4, 5, 6, 0, 1],
    ),
    (
        "cursor on the key alone: a plain comparison",
        Query(after=after([("id", False)], [5])),
        f'SELECT {ALL}, "id" AS "__zhili_k0" FROM "t" WHERE "id" > $1 '
        'ORDER BY "id" ASC NULLS LAST LIMIT 101',
        [5],
    ),
    (
        "one direction, non-NULL keys: row value plus a prunable bound",
        Query(sort=(SortKey("grp"),), after=after([("grp", False), ("id", False)], [3, 5])),
        f'SELECT {ALL}, "grp" AS "__zhili_k0", "id" AS "__zhili_k1" FROM "t" '
        'WHERE "grp" >= $1 AND ("grp", "id") > ($1, $2) '
        'ORDER BY "grp" ASC NULLS LAST, "id" ASC NULLS LAST LIMIT 101',
        [3, 5],
    ),
    (
        "all descending: row value with <",
        Query(
            sort=(SortKey("grp", True), SortKey("id", True)),
            after=after([("grp", True), ("id", True)], [3, 5]),
        ),
        f'SELECT {ALL}, "grp" AS "__zhili_k0", "id" AS "__zhili_k1" FROM "t" '
        'WHERE "grp" <= $1 AND ("grp", "id") < ($1, $2) '
        'ORDER BY "grp" DESC NULLS FIRST, "id" DESC NULLS FIRST LIMIT 101',
        [3, 5],
    ),
    (
        "mixed directions: an OR-chain",
        Query(sort=(SortKey("grp", True),), after=after([("grp", True), ("id", False)], [3, 5])),
        f'SELECT {ALL}, "grp" AS "__zhili_k0", "id" AS "__zhili_k1" FROM "t" '
        'WHERE "grp" <= $1 AND (("grp" < $1) OR ("grp" = $1 AND "id" > $2)) '
        'ORDER BY "grp" DESC NULLS FIRST, "id" ASC NULLS LAST LIMIT 101',
        [3, 5],
    ),
    (
        "nullable key ascending: NULLs come after every value",
        Query(sort=(SortKey("name"),), after=after([("name", False), ("id", False)], ["x", 5])),
        f'SELECT {ALL}, "name" AS "__zhili_k0", "id" AS "__zhili_k1" FROM "t" '
        'WHERE ("name" >= $1 OR "name" IS NULL) AND '
        '((("name" > $1 OR "name" IS NULL)) OR ("name" = $1 AND "id" > $2)) '
        'ORDER BY "name" ASC NULLS LAST, "id" ASC NULLS LAST LIMIT 101',
        ["x", 5],
    ),
    (
        "cursor at a NULL, ascending: only later NULLs by key",
        Query(sort=(SortKey("name"),), after=after([("name", False), ("id", False)], [None, 5])),
        f'SELECT {ALL}, "name" AS "__zhili_k0", "id" AS "__zhili_k1" FROM "t" '
        'WHERE (("name" IS NULL AND "id" > $1)) '
        'ORDER BY "name" ASC NULLS LAST, "id" ASC NULLS LAST LIMIT 101',
        [5],
    ),
    (
        "cursor at a NULL, descending: every value comes after",
        Query(
            sort=(SortKey("name", True),), after=after([("name", True), ("id", False)], [None, 5])
        ),
        f'SELECT {ALL}, "name" AS "__zhili_k0", "id" AS "__zhili_k1" FROM "t" '
        'WHERE (("name" IS NOT NULL) OR ("name" IS NULL AND "id" > $1)) '
        'ORDER BY "name" DESC NULLS FIRST, "id" ASC NULLS LAST LIMIT 101',
        [5],
    ),
]


@pytest.mark.parametrize(
    ("query", "sql", "params"),
    [c[1:] for c in SELECT_CASES],
    ids=[c[0] for c in SELECT_CASES],
)
def test_select_sql(query: Query, sql: str, params: list[Any]) -> None:
    built = select_sql("t", query, SCHEMA, ["id"])
    assert built.text == sql
    assert built.params == params
    assert "OFFSET" not in built.text


def test_without_a_key_every_column_breaks_ties_and_the_cursor_skips_them() -> None:
    keys = [("id", False), ("grp", False), ("name", False), ('we"ird', False)]
    text, params = select_sql("t", Query(limit=3, after=after(keys, [1, 2, "a", None], 2)), SCHEMA)
    assert text == (
        f'SELECT {ALL}, "id" AS "__zhili_k0", "grp" AS "__zhili_k1", "name" AS "__zhili_k2", '
        '"we""ird" AS "__zhili_k3" FROM "t" WHERE ("id" >= $1 OR "id" IS NULL) AND '
        '((("id" > $1 OR "id" IS NULL)) OR ("id" = $1 AND "grp" > $2) OR '
        '("id" = $1 AND "grp" = $2 AND ("name" > $3 OR "name" IS NULL)) OR '
        '("id" = $1 AND "grp" = $2 AND "name" = $3 AND "we""ird" IS NULL)) '
        'ORDER BY "id" ASC NULLS LAST, "grp" ASC NULLS LAST, "name" ASC NULLS LAST, '
        '"we""ird" ASC NULLS LAST LIMIT 6'
    )
    assert params == [1, 2, "a"]


@pytest.mark.parametrize(
    "value",
    ["'; DROP TABLE t; --", '" OR 1=1 --', "$1; --", "\\'", "张三' OR '1'='1"],
)
def test_values_never_reach_the_text(value: str) -> None:
    q = Query(filters=(Filter("name", "eq", value), Filter("name", "in", (value, "x"))))
    text, params = select_sql("t", q, SCHEMA, ["id"])
    assert value not in text
    assert params == [value, value, "x"]


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("a", '"a"'), ('a"b', '"a""b"'), ("姓名", '"姓名"'), ("x y", '"x y"'), ('"', '""""')],
)
def test_quote_ident(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted


def test_quote_ident_refuses_nul() -> None:
    with pytest.raises(InvalidInput):
        quote_ident("a\x00b")


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        (after([("grp", False), ("id", False)], [3, 5]), "different sort"),
        (after([("id", True)], [5]), "different sort"),
        (after([("id", False)], [5, 6]), "wrong number"),
        (after([("id", False)], ["five"]), "bad value for id"),
        (after([("id", False)], [None]), "NULL for id"),
    ],
)
def test_cursor_from_another_query_is_refused(cursor: Cursor, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        select_sql("t", Query(after=cursor), SCHEMA, ["id"])
    assert err.value.code == "query.bad_cursor"
    assert reason in err.value.params["reason"]
    assert err.value.params["parameter"] == "after"


def test_unknown_primary_key_is_named() -> None:
    with pytest.raises(InvalidInput) as err:
        select_sql("t", Query(), SCHEMA, ["nope"])
    assert err.value.params == {"field": "nope", "parameter": "primary_key"}


def test_count_and_export() -> None:
    q = Query(fields=("id",), filters=(Filter("grp", "gt", 1),), sort=(SortKey("name"),))
    assert count_sql("t", q) == ('SELECT count(*) AS "count" FROM "t" WHERE "grp" > $1', [1])
    assert export_sql("t", q, SCHEMA, ["id"]) == (
        'SELECT "id" FROM "t" WHERE "grp" > $1 ORDER BY "name" ASC NULLS LAST, "id" ASC NULLS LAST',
        [1],
    )
    # Without a sort an export streams in storage order: no ORDER BY, nothing to hold.
    assert export_sql("t", Query(), SCHEMA, ["id"]) == (f'SELECT {ALL} FROM "t"', [])
    with pytest.raises(InvalidInput) as err:
        export_sql("t", Query(after=after([("id", False)], [1])), SCHEMA, ["id"])
    assert err.value.code == "query.export_after"


SPARK_CASES = [
    (
        'SELECT "a" FROM "t" WHERE "a" = $1 AND "b" LIKE $2 ESCAPE \'\\\'',
        "SELECT `a` FROM `t` WHERE `a` = :p1 AND `b` LIKE :p2 ESCAPE '\\\\'",
    ),
    (
        'SELECT "a" FROM "t" WHERE "a" >= $1 AND ("a", "b") > ($1, $2) '
        'ORDER BY "a" DESC NULLS FIRST',
        "SELECT `a` FROM `t` WHERE `a` >= :p1 AND (`a` > :p1 OR (`a` = :p1 AND `b` > :p2)) "
        "ORDER BY `a` DESC NULLS FIRST",
    ),
    (
        'SELECT 1 FROM "t" WHERE ("a", "b", "c") <= ($1, $2, $3)',
        "SELECT 1 FROM `t` WHERE (`a` < :p1 OR (`a` = :p1 AND (`b` < :p2 OR "
        "(`b` = :p2 AND `c` <= :p3))))",
    ),
    ('SELECT "x""y", "姓名" FROM "t"', 'SELECT `x"y`, `姓名` FROM `t`'),
]


@pytest.mark.parametrize(("duckdb_sql", "spark_sql"), SPARK_CASES)
def test_spark_translation(duckdb_sql: str, spark_sql: str) -> None:
    assert duckdb_to_spark(duckdb_sql) == spark_sql


def test_translate_parameters_per_dialect() -> None:
    assert translate("SELECT $1", [7], "duckdb") == ("SELECT $1", [7])
    assert translate("SELECT $1", [7], "spark") == ("SELECT :p1", {"p1": 7})
    assert spark_args([]) == {}
    with pytest.raises(InvalidInput):
        translate("SELECT 1", [], "oracle")


def test_window_bounds_the_leading_key() -> None:
    desc = Query(sort=(SortKey("id", True),), after=after([("id", True)], [500]))
    assert select_sql("t", desc, SCHEMA, ["id"], window=400) == (
        f'SELECT {ALL}, "id" AS "__zhili_k0" FROM "t" WHERE "id" < $1 AND "id" >= $2 '
        'ORDER BY "id" DESC NULLS FIRST LIMIT 101',
        [500, 400],
    )
    asc = Query(sort=(SortKey("grp"),))
    text, params = select_sql("t", asc, SCHEMA, ["id"], window=3)
    assert 'WHERE "grp" <= $1 ORDER BY "grp" ASC NULLS LAST' in text and params == [3]
