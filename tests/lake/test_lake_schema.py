"""Table Schema → typed specs and Arrow storage schema; unusable schemas name the field."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from lake_data import SCHEMA

from zhili.errors import InvalidInput
from zhili.lake import Validator, arrow_schema, parse_table_schema


def test_arrow_schema_maps_every_type() -> None:
    schema = arrow_schema(
        {
            "fields": [
                {"name": "s", "type": "string"},
                {"name": "i", "type": "integer"},
                {"name": "n", "type": "number"},
                {"name": "b", "type": "boolean"},
                {"name": "d", "type": "date"},
                {"name": "dt", "type": "datetime"},
                {"name": "t", "type": "time"},
                {"name": "y", "type": "year"},
                {"name": "o", "type": "object"},
                {"name": "a", "type": "any"},
            ]
        }
    )
    assert [(f.name, f.type) for f in schema] == [
        ("s", pa.string()),
        ("i", pa.int64()),
        ("n", pa.float64()),
        ("b", pa.bool_()),
        ("d", pa.date32()),
        ("dt", pa.timestamp("us", tz="UTC")),
        ("t", pa.string()),  # Delta Lake has no TIME type: stored as normalised text
        ("y", pa.int32()),
        ("o", pa.string()),
        ("a", pa.string()),
    ]


def test_primary_key_implies_required_and_keys_are_listed() -> None:
    spec = parse_table_schema(
        {
            "fields": [
                {"name": "a", "type": "integer"},
                {"name": "b", "type": "string", "constraints": {"unique": True}},
                {"name": "c", "type": "string"},
            ],
            "primaryKey": ["a", "c"],
            "uniqueKeys": [["b", "c"]],
        }
    )
    assert spec.field("a").required and spec.field("c").required
    assert not spec.field("b").required
    assert [(k.fields, k.primary) for k in spec.keys] == [
        (("a", "c"), True),
        (("b",), False),
        (("b", "c"), False),
    ]


def test_example_schema_parses_with_sensitivity() -> None:
    spec = parse_table_schema(SCHEMA)
    assert spec.primary_key == ("id_number",)
    assert spec.field("id_number").sensitivity == "sensitive_personal"
    assert spec.field("sex").enum == ("男", "女")


def _field(**kw: Any) -> dict[str, Any]:
    return {"fields": [{"name": "f", **kw}]}


@pytest.mark.parametrize(
    ("schema", "field", "words"),
    [
        ({"fields": []}, "-", "non-empty fields"),
        ({"fields": [{"name": "a"}, {"name": "a"}]}, "a", "used twice"),
        (_field(type="decimal"), "f", "unknown type"),
        (_field(type="string", format="postcode"), "f", "unsupported string format"),
        (_field(type="integer", constraints={"minLength": 2}), "f", "apply to strings"),
        (_field(type="string", constraints={"minimum": 2}), "f", "cannot apply"),
        (_field(type="integer", constraints={"enum": ["x"]}), "f", "does not fit"),
        (_field(type="integer", constraints={"required": "yes"}), "f", "true or false"),
        (_field(type="string", constraints={"unknownRule": 1}), "f", "unsupported constraint"),
        ({"fields": [{"name": "a"}], "primaryKey": ["b"]}, "b", "does not exist"),
    ],
)
def test_unusable_schema_names_the_field(schema: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_table_schema(schema)
    assert caught.value.code == "lake.bad_schema"
    assert caught.value.params["field"] == field
    assert words in caught.value.params["problem"]


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ({"name": "p", "type": "string", "constraints": {"pattern": "[a-"}}, "missing ]"),
        ({"name": "d", "type": "date", "constraints": {"minimum": "2024-13-01"}}, "date"),
        ({"name": "d", "type": "date", "format": "%Q"}, "%Q"),
    ],
)
def test_duckdb_rejects_bad_sql_pieces_at_construction(field: dict[str, Any], words: str) -> None:
    schema = {"fields": [{"name": "ok", "type": "string"}, field]}
    with pytest.raises(InvalidInput) as caught:
        Validator(schema)
    assert caught.value.code == "lake.bad_schema"
    assert caught.value.params["field"] == field["name"]
    assert words in caught.value.params["problem"]
