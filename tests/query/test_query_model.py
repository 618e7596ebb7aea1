"""The query model and its REST syntax: parsing, validation and typed values, no database."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pyarrow as pa
import pytest

from zhili.errors import InvalidInput
from zhili.query import Cursor, Filter, Query, SortKey, parse_params, validate_query
from zhili.query.params import split_list

SCHEMA = pa.schema(
    [
        pa.field("id_number", pa.string()),
        pa.field("age", pa.int64()),
        pa.field("height", pa.float64()),
        pa.field("income", pa.decimal128(12, 2)),
        pa.field("alive", pa.bool_()),
        pa.field("birth_date", pa.date32()),
        pa.field("seen_at", pa.timestamp("us", tz="UTC")),
        pa.field("district_code", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
    ]
)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def test_parse_full_example() -> None:
    cursor = Cursor("abc", (1, "x")).encode()
    q = parse_params(
        [
            ("fields", "id_number,age"),
            ("filter", "age:ge:60"),
            ("filter", "district_code:in:120101,120102"),
            ("filter", "seen_at:lt:2024-05-01T08:00:00+08:00"),
            ("filter", "birth_date:is_null"),
            ("sort", "-birth_date,id_number"),
            ("limit", "100"),
            ("after", cursor),
            ("total", "true"),
        ]
    )
    assert q == Query(
        fields=("id_number", "age"),
        filters=(
            Filter("age", "ge", "60"),
            Filter("district_code", "in", ("120101", "120102")),
            Filter("seen_at", "lt", "2024-05-01T08:00:00+08:00"),
            Filter("birth_date", "is_null"),
        ),
        sort=(SortKey("birth_date", True), SortKey("id_number")),
        limit=100,
        after=Cursor("abc", (1, "x")),
        with_total=True,
    )


def test_parse_defaults_and_mapping_input() -> None:
    assert parse_params({}) == Query()
    q = parse_params({"filter": ["age:gt:1", "age:lt:9"], "sort": "age"})
    assert q.filters == (Filter("age", "gt", "1"), Filter("age", "lt", "9"))
    assert q.limit == 100 and q.after is None and q.with_total is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b", ["a", "b"]),
        (r"a\,b,c", ["a,b", "c"]),
        (r"a\\,b", ["a\\", "b"]),
        ("", [""]),
        (r"x\y", [r"x\y"]),
    ],
)
def test_split_list_escapes(text: str, expected: list[str]) -> None:
    assert split_list(text) == expected


def test_like_and_eq_values_are_taken_as_written() -> None:
    q = parse_params({"filter": [r"id_number:like:12\%_", "district_code:eq:a,b", "t:eq:08:00"]})
    assert q.filters == (
        Filter("id_number", "like", r"12\%_"),
        Filter("district_code", "eq", "a,b"),
        Filter("t", "eq", "08:00"),
    )


@pytest.mark.parametrize(
    ("params", "code", "names"),
    [
        ({"filters": "age:eq:1"}, "query.unknown_parameter", {"parameter": "filters"}),
        ({"filter": "age"}, "query.filter_syntax", {"value": "age"}),
        ({"filter": ":eq:1"}, "query.filter_syntax", {"value": ":eq:1"}),
        ({"filter": "age:equals:1"}, "query.bad_operator", {"op": "equals", "field": "age"}),
        ({"filter": "age:eq"}, "query.bad_filter", {"op": "eq", "field": "age"}),
        ({"limit": "ten"}, "query.bad_limit", {"value": "ten"}),
        ({"limit": ["1", "2"]}, "query.bad_parameter", {"parameter": "limit"}),
        ({"total": "maybe"}, "query.bad_flag", {"parameter": "total", "value": "maybe"}),
        ({"fields": "a,,b"}, "query.empty_name", {"parameter": "fields"}),
        ({"sort": "-"}, "query.empty_name", {"parameter": "sort"}),
        ({"after": "not a cursor!"}, "query.bad_cursor", {"parameter": "after"}),
        ({"after": "W10"}, "query.bad_cursor", {"parameter": "after"}),  # base64 of []
    ],
)
def test_parse_errors_name_the_parameter(
    params: dict[str, Any], code: str, names: dict[str, str]
) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_params(params)
    assert err.value.code == code
    assert names.items() <= err.value.params.items()
    assert "{" not in err.value.message("en")


def test_other_parameters_can_be_allowed() -> None:
    assert parse_params({"format": "csv"}, other={"format"}) == Query()


@pytest.mark.parametrize(
    ("flt", "typed"),
    [
        (Filter("age", "ge", "60"), 60),
        (Filter("age", "eq", 7), 7),
        (Filter("age", "eq", " -3 "), -3),
        (Filter("height", "lt", "1.75"), 1.75),
        (Filter("income", "gt", "1000.50"), decimal.Decimal("1000.50")),
        (Filter("alive", "eq", "false"), False),
        (Filter("birth_date", "ge", "1950-01-01"), dt.date(1950, 1, 1)),
        (
            Filter("seen_at", "lt", "2024-05-01T08:00:00+08:00"),
            dt.datetime(2024, 5, 1, 0, 0, tzinfo=dt.UTC),
        ),
        # No offset: local time in the city (Asia/Shanghai), stored as UTC.
        (Filter("seen_at", "lt", "2024-05-01 08:00"), dt.datetime(2024, 5, 1, 0, 0, tzinfo=dt.UTC)),
        (Filter("seen_at", "lt", "2024-05-01T00:00:00Z"), dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
        (Filter("district_code", "in", ("120101", "120102")), ("120101", "120102")),
        (Filter("district_code", "in", "120101"), ("120101",)),
        (Filter("age", "between", ["60", "70"]), (60, 70)),
        (Filter("id_number", "like", "1201%"), "1201%"),
        (Filter("id_number", "is_null"), None),
        (Filter("id_number", "not_null", ""), None),
    ],
)
def test_validation_types_values(flt: Filter, typed: Any) -> None:
    q = validate_query(Query(filters=(flt,)), SCHEMA)
    assert q.filters[0].value == typed
    assert type(q.filters[0].value) is type(typed)


@pytest.mark.parametrize(
    ("query", "code", "names"),
    [
        (Query(fields=("age", "nope")), "query.unknown_field", {"field": "nope"}),
        (Query(fields=()), "query.no_fields", {}),
        (Query(filters=(Filter("nope", "eq", 1),)), "query.unknown_field", {"field": "nope"}),
        (
            Query(filters=(Filter("age", "eq", "abc"),)),
            "query.bad_value",
            {"field": "age", "value": "'abc'"},
        ),
        (Query(filters=(Filter("age", "eq", True),)), "query.bad_value", {"field": "age"}),
        (
            Query(filters=(Filter("age", "eq", str(2**63)),)),
            "query.bad_value",
            {"field": "age"},
        ),
        (Query(filters=(Filter("height", "eq", "tall"),)), "query.bad_value", {"field": "height"}),
        (Query(filters=(Filter("income", "eq", "1e"),)), "query.bad_value", {"field": "income"}),
        (Query(filters=(Filter("alive", "eq", "ja"),)), "query.bad_value", {"field": "alive"}),
        (
            Query(filters=(Filter("birth_date", "eq", "1950-13-01"),)),
            "query.bad_value",
            {"field": "birth_date", "value": "'1950-13-01'"},
        ),
        (
            Query(filters=(Filter("seen_at", "eq", "noon"),)),
            "query.bad_value",
            {"field": "seen_at"},
        ),
        (Query(filters=(Filter("age", "like", "1%"),)), "query.like_needs_text", {"field": "age"}),
        (Query(filters=(Filter("age", "around", 1),)), "query.bad_operator", {"op": "around"}),  # type: ignore[arg-type]
        (
            Query(filters=(Filter("age", "between", ("1",)),)),
            "query.filter_values",
            {"count": 1, "expected": "2"},
        ),
        (Query(filters=(Filter("age", "in", ()),)), "query.filter_values", {"field": "age"}),
        (
            Query(filters=(Filter("age", "in", tuple(range(1001))),)),
            "query.filter_values",
            {"count": 1001, "expected": "1-1000"},
        ),
        (Query(filters=(Filter("age", "eq", None),)), "query.filter_null", {"op": "eq"}),
        (Query(filters=(Filter("age", "eq", (1, 2)),)), "query.filter_values", {"count": 2}),
        (Query(filters=(Filter("age", "in", (1, None)),)), "query.filter_null", {"op": "in"}),
        (Query(filters=(Filter("age", "is_null", 3),)), "query.filter_values", {"expected": "0"}),
        (Query(filters=(Filter("tags", "eq", "x"),)), "query.unsupported_type", {"field": "tags"}),
        (Query(sort=(SortKey("tags"),)), "query.unsupported_type", {"field": "tags"}),
        (Query(sort=(SortKey("nope"),)), "query.unknown_field", {"field": "nope"}),
        (
            Query(sort=(SortKey("age"), SortKey("age", True))),
            "query.duplicate_sort",
            {"field": "age"},
        ),
        (Query(limit=0), "query.bad_limit", {"value": "0"}),
        (Query(limit=10_001), "query.bad_limit", {"max": 10_000}),
        (
            Query(filters=tuple(Filter("age", "eq", 1) for _ in range(65))),
            "query.too_many_filters",
            {"count": 65},
        ),
    ],
)
def test_validation_errors_name_the_fault(query: Query, code: str, names: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_query(query, SCHEMA)
    assert err.value.code == code
    assert names.items() <= err.value.params.items()
    assert err.value.status == 422
    assert "{" not in err.value.message("en")


def test_validation_keeps_field_order_and_drops_repeats() -> None:
    q = validate_query(Query(fields=["age", "id_number", "age"]), SCHEMA)
    assert q.fields == ("age", "id_number")


def test_cursor_round_trip_and_tampering() -> None:
    cursor = Cursor("f00", ("张三", 1.5, None, "2024-01-01"), ties=2)
    assert Cursor.decode(cursor.encode()) == cursor
    with pytest.raises(InvalidInput) as err:
        Cursor.decode("x" * 9000)
    assert err.value.code == "query.bad_cursor"
    with pytest.raises(InvalidInput):
        cursor.check("other")


def test_local_time_means_what_the_lake_means() -> None:
    """Filters read offset-less timestamps in the same zone the lake stored them in."""
    from zhili.lake.schema import CITY_TIMEZONE as LAKE_ZONE
    from zhili.query.coerce import CITY_TIMEZONE

    assert CITY_TIMEZONE == LAKE_ZONE
