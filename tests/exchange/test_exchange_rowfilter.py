"""Row filters of grants: the grammar, errors that name the column or field, canonical text,
SQL for DuckDB and Spark that agrees with a plain-Python three-valued-logic reference, and
fuzzing that nothing but a boolean over the resource's fields ever reaches an engine."""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from zhili.errors import InvalidInput
from zhili.exchange.rowfilter import (
    MAX_CHARS,
    MAX_DEPTH,
    MAX_LIST_VALUES,
    And,
    Between,
    Boolean,
    Compare,
    InList,
    Integer,
    IsNull,
    Like,
    Not,
    Number,
    Or,
    RowFilter,
    Text,
    Value,
    fields_of,
    parse_row_filter,
)
from zhili.exchange.rowfilter_compile import check_row_filter, to_sqlglot, to_text

TABLE_SCHEMA = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "i", "type": "integer"},
        {"name": "n", "type": "number"},
        {"name": "s", "type": "string"},
        {"name": "b", "type": "boolean"},
        {"name": "d", "type": "date"},
    ]
}
KINDS = {f["name"]: f["type"] for f in TABLE_SCHEMA["fields"] if f["name"] != "id"}
ARROW = pa.schema(
    [
        ("id", pa.int64()),
        ("i", pa.int64()),
        ("n", pa.float64()),
        ("s", pa.string()),
        ("b", pa.bool_()),
        ("d", pa.date32()),
    ]
)
STRINGS = ["", "a", "ab", "b%", "a_b", "张三", "张", "A", "o'k", "x\\y", "100%", "a\nb"]
DATES = [dt.date(1950, 1, 1), dt.date(1960, 12, 31), dt.date(2000, 2, 29), dt.date(1955, 6, 1)]
FLOATS = [-1.5, 0.0, 0.1, 2.25, 3.0]
NUMBER_TEXTS = ["-1.5", "0.0", "0.1", "2.25", "3.0", "0.10"]


# --- good and bad inputs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        (
            "district_code in ('120101', '120102') and age >= 60",
            And(
                (
                    InList("district_code", (Text("120101"), Text("120102"))),
                    Compare("age", ">=", Integer(60)),
                )
            ),
        ),
        (
            "status = '在册' and not (death_date is not null)",
            And((Compare("status", "=", Text("在册")), Not(IsNull("death_date", negated=True)))),
        ),
        ("name like '张%'", Like("name", "张%")),
        ("name NOT LIKE 'a\\%b'", Like("name", "a\\%b", negated=True)),
        (
            "birth_date between '1950-01-01' and '1960-12-31'",
            Between("birth_date", Text("1950-01-01"), Text("1960-12-31")),
        ),
        (
            "a = 1 or b = 2 and c = 3",
            Or(
                (
                    Compare("a", "=", Integer(1)),
                    And((Compare("b", "=", Integer(2)), Compare("c", "=", Integer(3)))),
                )
            ),
        ),
        (
            "(a = 1 or b = 2) and c = 3",
            And(
                (
                    Or((Compare("a", "=", Integer(1)), Compare("b", "=", Integer(2)))),
                    Compare("c", "=", Integer(3)),
                )
            ),
        ),
        ("x <> -2.50", Compare("x", "!=", Number(Decimal("-2.50")))),
        ("x != 0", Compare("x", "!=", Integer(0))),
        ("flag = TRUE", Compare("flag", "=", Boolean(True))),
        ("flag=false", Compare("flag", "=", Boolean(False))),
        ("x not in (1, 2,3)", InList("x", (Integer(1), Integer(2), Integer(3)), negated=True)),
        ("x is null", IsNull("x")),
        ("not not x is null", Not(Not(IsNull("x")))),
        ("s = 'it''s'", Compare("s", "=", Text("it's"))),
        ("s = ''", Compare("s", "=", Text(""))),
        ('"and" = 1', Compare("and", "=", Integer(1))),
        ('"we""ird name" = 1', Compare('we"ird name', "=", Integer(1))),
        ("\u3000a\t=\n1 ", Compare("a", "=", Integer(1))),
        ("((a = 1))", Compare("a", "=", Integer(1))),
    ],
)
def test_parses(text: str, tree: RowFilter) -> None:
    assert parse_row_filter(text) == tree
    assert parse_row_filter(to_text(tree)) == tree


def syntax_error(text: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_row_filter(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("age >= ", 8, "expected a value (a 'text', a number, true or false) after '>='"),
        ("", 1, "expected a field name, 'not' or '('"),
        ("a = 1 and", 10, "after 'and'"),
        ("a = 1; drop table t", 6, "'and', 'or' or the end of the filter after '1'"),
        ("a = 1 -- comment", 7, "'and', 'or' or the end"),
        ("a = 1 /* c */", 7, "'and', 'or' or the end"),
        ("x = null", 5, "test for NULL with 'is null'"),
        ("count(x) > 1", 6, "an operator"),
        ("read_csv('x') is null", 9, "an operator"),
        ("a = b", 5, "a value"),
        ("a + 1 = 2", 3, "an operator"),
        ("a = 1 union select 1", 7, "'and', 'or'"),
        ("a in ()", 7, "a value"),
        ("a in (1 2)", 9, "',' or ')'"),
        ("a in 1", 6, "'(' to start the list"),
        ("a not between 1 and 2", 7, "'in' or 'like'"),
        ("a between 1 or 2", 13, "'and' after '1'"),
        ("a is 3", 6, "'null'"),
        ("a like 3", 8, "a pattern in single quotes"),
        ("a like 'x\\'", 8, "after '\\' in the pattern"),
        ("a like 'x\\y'", 8, "after '\\' in the pattern"),
        ("a = 'open", 10, "' to close the text opened at column 5"),
        ('"open = 1', 10, '" to close the field name opened at column 1'),
        ('"" = 1', 1, "a field name"),
        ("a = 1abc", 6, "a number"),
        ("a = 1.", 6, "a number"),
        ("a = 1.2.3", 8, "a number"),
        ("a = .5", 5, "a value"),
        ("a = " + "9" * 39, 5, "a number of at most 38 digits"),
        ("((a = 1)", 9, "')' to close the '(' at column 1"),
        ("a = 1)", 6, "'and', 'or' or the end"),
        ("姓名 = '张三'", 1, "a field name"),
        ("a = 'x\0'", 7, "a value"),
        ("a = 1 and (select 1) = 1", 19, "an operator"),
        ("and = 1", 1, "a field name"),
    ],
)
def test_syntax_errors_name_the_column_and_what_was_expected(
    text: str, column: int, expected: str
) -> None:
    error = syntax_error(text)
    assert error.code == "rowfilter.syntax"
    assert error.params["column"] == column, error.message("en")
    assert expected in error.message("en"), error.message("en")
    assert f"column {column}: expected" in error.message("en")
    assert f"第 {column} 列" in error.message("zh-CN")
    assert "{" not in error.message("zh-CN")


def test_the_example_message() -> None:
    error = syntax_error("age >= 60 and x >=")
    assert error.message("en") == (
        "Row filter, column 19: expected a value (a 'text', a number, true or false) after '>=',"
        " found the end of the filter"
    )
    assert error.message("zh-CN") == (
        "行过滤条件第 19 列：“>=”之后应为一个值（'文本'、数字、true 或 false），实际为条件结束。"
    )


def test_bounds() -> None:
    long = "a = '" + "x" * (MAX_CHARS - 6) + "'"
    assert len(long) == MAX_CHARS
    assert parse_row_filter(long) == Compare("a", "=", Text("x" * (MAX_CHARS - 6)))
    with pytest.raises(InvalidInput) as caught:
        parse_row_filter(long + " ")
    assert caught.value.code == "rowfilter.too_long"
    assert caught.value.params == {"length": MAX_CHARS + 1, "max": MAX_CHARS}

    deep = "(" * MAX_DEPTH + "a = 1" + ")" * MAX_DEPTH
    assert parse_row_filter(deep) == Compare("a", "=", Integer(1))
    assert parse_row_filter("not " * MAX_DEPTH + "a is null") is not None
    for too_deep in ("(" * (MAX_DEPTH + 1) + "a = 1" + ")" * (MAX_DEPTH + 1),
                     "not " * (MAX_DEPTH + 1) + "a is null",
                     "not (" * 17 + "a is null" + ")" * 17):  # fmt: skip
        with pytest.raises(InvalidInput) as caught:
            parse_row_filter(too_deep)
        assert caught.value.code == "rowfilter.too_deep"
        assert caught.value.params["max"] == MAX_DEPTH

    values = ",".join(["7"] * MAX_LIST_VALUES)  # the text limit leaves room for short values
    assert len(parse_row_filter(f"a in ({values})").values) == MAX_LIST_VALUES  # type: ignore[union-attr]
    with pytest.raises(InvalidInput) as caught:
        parse_row_filter(f"a in ({values}, 8)")
    assert caught.value.code == "rowfilter.too_many_values"
    assert caught.value.params["column"] == len(f"a in ({values}, ") + 1

    chain = " and ".join(f"a = {i}" for i in range(300))  # long, flat: no recursion
    assert len(parse_row_filter(chain).items) == 300  # type: ignore[union-attr]


def test_a_thousand_open_parentheses_fail_cleanly() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_row_filter("(" * 1000)
    assert caught.value.code == "rowfilter.too_deep"


def test_fields_of() -> None:
    tree = parse_row_filter(
        "a = 1 and not (b is null or c like 'x') or a in (1) or d between 1 and 2"
    )
    assert fields_of(tree) == {"a", "b", "c", "d"}


# --- checking against the Table Schema ----------------------------------------------------

FULL_SCHEMA = {
    "fields": [
        {"name": "age", "type": "integer"},
        {"name": "height", "type": "number"},
        {"name": "alive", "type": "boolean"},
        {"name": "birth_date", "type": "date"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "opens", "type": "time"},
        {"name": "year", "type": "year"},
        {"name": "name", "type": "string", "x-sensitivity": "personal"},
        {"name": "shape", "type": "geojson"},
        {"name": "untyped"},
    ]
}


def test_check_returns_canonical_values() -> None:
    tree = parse_row_filter(
        "age >= 60 and height < 1.5 and height > 2 and alive = true and name like '张%'"
        " and birth_date between '1950-01-01' and '1960-12-31' and seen_at > '2024-01-01 08:00'"
        " and opens < '08:00' and year = 2024 and shape is not null and untyped = 'x'"
    )
    checked = check_row_filter(tree, FULL_SCHEMA)
    assert to_text(checked) == (
        "age >= 60 and height < 1.5 and height > 2 and alive = true and name like '张%'"
        " and birth_date between '1950-01-01' and '1960-12-31'"
        " and seen_at > '2024-01-01T00:00:00+00:00' and opens < '08:00:00' and year = 2024"
        " and shape is not null and untyped = 'x'"
    )
    assert check_row_filter(checked, FULL_SCHEMA) == checked


@pytest.mark.parametrize(
    ("text", "code", "field", "value"),
    [
        ("nope = 1", "rowfilter.unknown_field", "nope", None),
        ("nope is null", "rowfilter.unknown_field", "nope", None),
        ("not (age = 1 or Age = 2)", "rowfilter.unknown_field", "Age", None),
        ("name like 'x' and nope like 'y'", "rowfilter.unknown_field", "nope", None),
        ("age = '60'", "rowfilter.bad_value", "age", "'60'"),
        ("age = 1.5", "rowfilter.bad_value", "age", "1.5"),
        ("age = true", "rowfilter.bad_value", "age", "true"),
        ("age in (1, 99999999999999999999)", "rowfilter.bad_value", "age", "99999999999999999999"),
        ("year = 3000000000", "rowfilter.bad_value", "year", "3000000000"),
        ("height between 1 and 'x'", "rowfilter.bad_value", "height", "'x'"),
        ("alive = 1", "rowfilter.bad_value", "alive", "1"),
        ("alive = 'true'", "rowfilter.bad_value", "alive", "'true'"),
        ("birth_date = '1950-13-01'", "rowfilter.bad_value", "birth_date", "'1950-13-01'"),
        ("birth_date = 19500101", "rowfilter.bad_value", "birth_date", "19500101"),
        ("seen_at < 'yesterday'", "rowfilter.bad_value", "seen_at", "'yesterday'"),
        ("opens = '25:00'", "rowfilter.bad_value", "opens", "'25:00'"),
        ("name = 3", "rowfilter.bad_value", "name", "3"),
        ("name not in ('a', false)", "rowfilter.bad_value", "name", "false"),
        ("age like '1%'", "rowfilter.like_needs_text", "age", None),
        ("birth_date not like '1950%'", "rowfilter.like_needs_text", "birth_date", None),
    ],
)
def test_check_errors_name_the_field(text: str, code: str, field: str, value: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_row_filter(parse_row_filter(text), FULL_SCHEMA)
    error = caught.value
    assert (error.code, error.params["field"]) == (code, field)
    if value is not None:
        assert error.params["value"] == value
    for locale in ("en", "zh-CN"):
        assert field in error.message(locale) and "{" not in error.message(locale)


# --- canonical text and SQL ---------------------------------------------------------------


def test_canonical_text() -> None:
    tree = parse_row_filter(
        "NOT (A <> 1 OR \"select\" IN (0.0000001, -3)) AND (b = 'x' AND c IS NOT NULL) "
        "or (d = 1 or e = 2) or f between 1 and 2"
    )
    assert to_text(tree) == (
        "not (A != 1 or select in (0.0000001, -3)) and (b = 'x' and c is not null)"
        " or (d = 1 or e = 2) or f between 1 and 2"
    )
    assert to_text(Compare("n", "=", Number(Decimal("5")))) == "n = 5.0"
    assert to_text(Compare("n", "=", Number(Decimal("1E+2")))) == "n = 100.0"
    assert parse_row_filter("n = 5.0") == Compare("n", "=", Number(Decimal("5")))
    assert Compare("x", "=", Integer(1)) != Compare("x", "=", Boolean(True))


def test_sql_for_duckdb_and_spark() -> None:
    tree = parse_row_filter(
        "district_code in ('120101', '120102') and age >= 60 and name like 'o''k\\%%'"
        " or not (x is null) or d between '1950-01-01' and '1960-12-31'"
    )
    node = to_sqlglot(tree)
    assert node.sql(dialect="duckdb") == (
        "((\"district_code\" IN ('120101', '120102') AND \"age\" >= 60"
        " AND \"name\" LIKE 'o''k\\%%' ESCAPE '\\') OR NOT (\"x\" IS NULL)"
        " OR (\"d\" BETWEEN '1950-01-01' AND '1960-12-31'))"
    )
    assert node.sql(dialect="spark") == (
        "((`district_code` IN ('120101', '120102') AND `age` >= 60"
        " AND `name` LIKE 'o\\'k\\\\%%' ESCAPE '\\\\') OR NOT (`x` IS NULL)"
        " OR (`d` BETWEEN '1950-01-01' AND '1960-12-31'))"
    )
    assert to_sqlglot(parse_row_filter('"a""b`c" = 1')).sql(dialect="duckdb") == '"a""b`c" = 1'
    assert to_sqlglot(parse_row_filter('"a""b`c" = 1')).sql(dialect="spark") == '`a"b``c` = 1'


def test_sql_is_self_contained_inside_a_where() -> None:
    con = duckdb.connect()
    con.register("t", pa.table({"a": [1, 2], "b": [1, 2]}))
    for text in ("a = 1 or b = 2", "a between 1 and 2", "not a = 1", "a not in (1)"):
        sql = to_sqlglot(parse_row_filter(text)).sql(dialect="duckdb")
        assert con.execute(f"SELECT count(*) FROM t WHERE false AND {sql}").fetchall() == [(0,)]


def test_null_is_unknown_not_false() -> None:
    """Rows with a NULL ``x`` are excluded by ``x = 1`` and also by ``not (x = 1)``."""
    con = duckdb.connect()
    con.register("t", pa.table({"id": [1, 2, 3], "x": [1, 2, None]}))

    def ids(text: str) -> list[int]:
        sql = to_sqlglot(parse_row_filter(text)).sql(dialect="duckdb")
        return [r[0] for r in con.execute(f"SELECT id FROM t WHERE {sql} ORDER BY id").fetchall()]

    assert ids("x = 1") == [1]
    assert ids("not (x = 1)") == [2]
    assert ids("x != 1") == [2]
    assert ids("x not in (1)") == [2]
    assert ids("x != 1 or x is null") == [2, 3]


# --- a plain-Python reference with SQL's three-valued logic ---------------------------------------


def python_value(field: str, value: Value) -> Any:
    kind = KINDS[field]
    if kind == "date":
        assert isinstance(value, Text)
        return dt.date.fromisoformat(value.value)
    if kind == "number":
        return float(value.value)  # the engines compare a double column in double
    return value.value


def like_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def evaluate(expr: RowFilter, row: dict[str, Any]) -> bool | None:
    """True, False or None (unknown), as SQL decides a WHERE condition."""
    match expr:
        case Compare(field, op, value):
            x = row[field]
            return None if x is None else COMPARE[op](x, python_value(field, value))
        case InList(field, values, negated):
            x = row[field]
            if x is None:
                return None
            found = x in [python_value(field, v) for v in values]
            return found != negated
        case Between(field, low, high):
            x = row[field]
            if x is None:
                return None
            return python_value(field, low) <= x <= python_value(field, high)
        case Like(field, pattern, negated):
            x = row[field]
            return None if x is None else (like_regex(pattern).fullmatch(x) is not None) != negated
        case IsNull(field, negated):
            return (row[field] is None) != negated
        case Not(item):
            inner = evaluate(item, row)
            return None if inner is None else not inner
        case And(items):
            results = [evaluate(i, row) for i in items]
            return False if False in results else None if None in results else True
        case Or(items):
            results = [evaluate(i, row) for i in items]
            return True if True in results else None if None in results else False
    raise AssertionError(expr)


# --- hypothesis strategies ----------------------------------------------------------------

SAFE_TEXT = st.text(st.characters(exclude_characters="\0", exclude_categories=("Cs",)), max_size=4)


def typed_literal(field: str) -> st.SearchStrategy[Value]:
    kind = KINDS[field]
    if kind == "integer":
        return st.integers(-4, 4).map(Integer)
    if kind == "number":
        return st.integers(-3, 3).map(Integer) | st.sampled_from(NUMBER_TEXTS).map(
            lambda t: Number(Decimal(t))
        )
    if kind == "boolean":
        return st.booleans().map(Boolean)
    if kind == "date":
        return st.sampled_from(DATES).map(lambda d: Text(d.isoformat()))
    return st.sampled_from(STRINGS).map(Text) | SAFE_TEXT.map(Text)


LIKE_PIECES = ["a", "b", "张", "'", "%", "_", "\\%", "\\_", "\\\\", "o", "\n"]
patterns = st.lists(st.sampled_from(LIKE_PIECES), max_size=5).map("".join)


@st.composite
def typed_predicate(draw: st.DrawFn) -> RowFilter:
    field = draw(st.sampled_from(sorted(KINDS)))
    lit = typed_literal(field)
    choices = ["compare", "in", "between", "null"] + (["like"] if field == "s" else [])
    shape = draw(st.sampled_from(choices))
    if shape == "compare":
        return Compare(field, draw(st.sampled_from(sorted(COMPARE))), draw(lit))  # type: ignore[arg-type]
    if shape == "in":
        return InList(
            field, tuple(draw(st.lists(lit, min_size=1, max_size=4))), draw(st.booleans())
        )
    if shape == "between":
        return Between(field, draw(lit), draw(lit))
    if shape == "like":
        return Like(field, draw(patterns), draw(st.booleans()))
    return IsNull(field, draw(st.booleans()))


def trees(leaves: st.SearchStrategy[RowFilter]) -> st.SearchStrategy[RowFilter]:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            children.map(Not),
            st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
            st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        ),
        max_leaves=8,
    )


NAMES = ["a", "age", "_x1", "not", "AND", "Null", "x y", 'q"uote', "中文", "select", "a-b", "`"]
any_literal: st.SearchStrategy[Value] = st.one_of(
    SAFE_TEXT.map(Text),
    st.text(st.characters(exclude_characters="\0", exclude_categories=("Cs",))).map(Text),
    st.integers(-(10**37), 10**37).map(Integer),
    st.decimals(places=4, min_value=-(10**12), max_value=10**12).map(Number),
    st.booleans().map(Boolean),
)


@st.composite
def any_predicate(draw: st.DrawFn) -> RowFilter:
    field = draw(st.sampled_from(NAMES))
    shape = draw(st.sampled_from(["compare", "in", "between", "like", "null"]))
    if shape == "compare":
        return Compare(field, draw(st.sampled_from(sorted(COMPARE))), draw(any_literal))  # type: ignore[arg-type]
    if shape == "in":
        values = draw(st.lists(any_literal, min_size=1, max_size=4))
        return InList(field, tuple(values), draw(st.booleans()))
    if shape == "between":
        return Between(field, draw(any_literal), draw(any_literal))
    if shape == "like":
        return Like(field, draw(patterns), draw(st.booleans()))
    return IsNull(field, draw(st.booleans()))


@given(trees(any_predicate()))
@settings(max_examples=400, deadline=None)
def test_round_trip_through_text(tree: RowFilter) -> None:
    text = to_text(tree)
    assert parse_row_filter(text) == tree
    assert to_text(parse_row_filter(text)) == text


# --- the engines agree with the reference -------------------------------------------------


@functools.cache
def connection() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def row_values() -> st.SearchStrategy[dict[str, Any]]:
    def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.none() | values

    return st.fixed_dictionaries(
        {
            "i": maybe(st.integers(-4, 4)),
            "n": maybe(st.sampled_from(FLOATS)),
            "s": maybe(st.sampled_from(STRINGS) | SAFE_TEXT),
            "b": maybe(st.booleans()),
            "d": maybe(st.sampled_from(DATES)),
        }
    )


def duckdb_ids(rows: list[dict[str, Any]], tree: RowFilter) -> list[int]:
    table = pa.Table.from_pylist([{"id": k, **row} for k, row in enumerate(rows)], ARROW)
    con = connection()
    con.register("t", table)
    sql = to_sqlglot(tree).sql(dialect="duckdb")
    return [r[0] for r in con.execute(f"SELECT id FROM t WHERE {sql} ORDER BY id").fetchall()]


@given(st.lists(row_values(), min_size=1, max_size=30), trees(typed_predicate()))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_duckdb_agrees_with_three_valued_logic(rows: list[dict[str, Any]], tree: RowFilter) -> None:
    checked = check_row_filter(tree, TABLE_SCHEMA)
    expected = [k for k, row in enumerate(rows) if evaluate(checked, row) is True]
    assert duckdb_ids(rows, checked) == expected, to_text(tree)


SPARK_FILTERS = [
    "i >= 0 and not (i = 2)",
    "i not in (1, 2) or i is null",
    "n between -1.5 and 0.1",
    "n > 0.1",
    "s like 'a%' or s like '%\\%' or s like '_'",
    "s not like '%''%'",
    "s like 'x\\\\y'",
    "s = 'o''k' or s in ('张三', '')",
    "b = true or b < true",
    "d between '1950-01-01' and '1956-01-01' or d = '2000-02-29'",
    "not (d > '1955-06-01' and s is not null)",
]


def fixed_rows() -> list[dict[str, Any]]:
    rows = []
    for k in range(60):
        rows.append(
            {
                "i": None if k % 7 == 0 else k % 9 - 4,
                "n": None if k % 5 == 0 else FLOATS[k % len(FLOATS)],
                "s": None if k % 11 == 0 else STRINGS[k % len(STRINGS)],
                "b": None if k % 4 == 0 else k % 3 == 0,
                "d": None if k % 6 == 0 else DATES[k % len(DATES)],
            }
        )
    return rows


@pytest.mark.parametrize("text", SPARK_FILTERS)
def test_fixed_filters_on_duckdb(text: str) -> None:
    rows = fixed_rows()
    tree = check_row_filter(parse_row_filter(text), TABLE_SCHEMA)
    expected = [k for k, row in enumerate(rows) if evaluate(tree, row) is True]
    assert expected, "a filter that matches nothing proves little"
    assert duckdb_ids(rows, tree) == expected


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    from zhili.query.spark_engine import SparkEngine

    engine = SparkEngine(master="local[2]", timeout=60)
    yield engine.session
    engine.stop()


@pytest.mark.spark
@pytest.mark.slow
def test_spark_agrees_with_three_valued_logic(spark: Any) -> None:
    rows = fixed_rows()
    frame = spark.createDataFrame(
        [(k, r["i"], r["n"], r["s"], r["b"], r["d"]) for k, r in enumerate(rows)],
        "id long, i long, n double, s string, b boolean, d date",
    )
    frame.createOrReplaceTempView("rowfilter_t")
    for text in SPARK_FILTERS:
        tree = check_row_filter(parse_row_filter(text), TABLE_SCHEMA)
        sql = to_sqlglot(tree).sql(dialect="spark")
        got = [
            r[0] for r in spark.sql(f"SELECT id FROM rowfilter_t WHERE {sql} ORDER BY id").collect()
        ]
        expected = [k for k, row in enumerate(rows) if evaluate(tree, row) is True]
        assert got == expected, (text, sql)


# --- injection fuzz -----------------------------------------------------------------------

ALLOWED_NODES = (
    exp.Paren, exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE,
    exp.In, exp.Between, exp.Like, exp.Escape, exp.Is, exp.Null, exp.Column, exp.Identifier,
    exp.Literal, exp.Boolean, exp.Neg,
)  # fmt: skip
FRAGMENTS = [
    "i", "s", "d", "b", "n", "id", "nope", "=", "!=", "<>", ">=", "<", "(", ")", ",", "'", '"',
    ";", "--", "/*", "*/", "union select", "select * from t", "read_csv('x')", "1=1) or (1=1",
    "' or '1'='1", "and", "or", "not", "in", "like", "between", "is", "null", "true", "1",
    "-1", "2.5", "'a'", "'1950-01-01'", "%", "\\", "$1", "?", ":p", "`", "pg_sleep(10)",
    "'; drop table t; --", "\n", "\0", "s like 'a%'", "i in (1, 2)", "exists", "case when",
]  # fmt: skip
injection = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=12).map(" ".join),
    st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join),
    st.text(max_size=60),
    st.text(alphabet="is'\"();-/*= 1anorltkeunlsbd", max_size=40),
)


def assert_only_a_boolean_over_fields(node: exp.Expression) -> None:
    for part in node.walk():
        assert isinstance(part, ALLOWED_NODES), type(part).__name__
        if isinstance(part, exp.Column):
            assert part.name in KINDS and not part.table, part.sql()


@given(injection)
@settings(max_examples=1500, deadline=None)
def test_injection_is_rejected_or_harmless(text: str) -> None:
    try:
        tree = check_row_filter(parse_row_filter(text), TABLE_SCHEMA)
    except InvalidInput as error:
        assert error.code.startswith("rowfilter."), error.code
        return
    node = to_sqlglot(tree)
    assert_only_a_boolean_over_fields(node)
    for dialect in ("duckdb", "spark"):
        sql = node.sql(dialect=dialect)
        reparsed = sqlglot.parse_one(sql, read=dialect)
        assert_only_a_boolean_over_fields(reparsed)
        assert len(list(reparsed.find_all(exp.Literal))) == len(list(node.find_all(exp.Literal)))
    sql = node.sql(dialect="duckdb")
    empty = pa.Table.from_pylist([], ARROW)
    connection().register("t", empty)
    assert connection().execute(f"SELECT count(*) FROM t WHERE {sql}").fetchall() == [(0,)]


@pytest.mark.parametrize(
    "text",
    [
        "s = 'x' or '1'='1'",
        "s = 'x'; drop table t",
        "s = 'x' -- '",
        "s = 'x' /* */",
        "s = 'x' union select * from t",
        "s = read_csv('x')",
        "i = 1=1) or (1=1",
        "i in (select id from t)",
        "exists (select 1)",
        "s = $1",
        "s = ?",
        "i = 1 + 1",
        "upper(s) = 'A'",
        "t.s = 'a'",
        "s = 'a' collate nocase",
        "cast(s as int) = 1",
    ],
)
def test_known_injections_are_rejected(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_row_filter(parse_row_filter(text), TABLE_SCHEMA)
    assert caught.value.code == "rowfilter.syntax"


def test_quotes_in_values_stay_values() -> None:
    tree = check_row_filter(parse_row_filter("s = ''' or 1=1 --'"), TABLE_SCHEMA)
    assert tree == Compare("s", "=", Text("' or 1=1 --"))
    rows = [
        {"i": 1, "n": 1.0, "s": "' or 1=1 --", "b": True, "d": None},
        {**dict.fromkeys("inbd"), "s": "x"},
    ]
    assert duckdb_ids(rows, tree) == [0]
