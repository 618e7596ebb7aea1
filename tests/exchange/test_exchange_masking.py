"""Masking rules of grants: parsing and defaults from the Table Schema, every rule on typical,
short, empty, NULL and non-ASCII values, keyed hashing that joins within one key only, and a
million-row batch masked without a Python loop over the rows."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import hmac
import sys
from types import FrameType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from zhili.errors import InvalidInput
from zhili.exchange.masking import (
    MAX_KEEP,
    MaskingRules,
    Rule,
    apply_masking,
    default_rules,
    hash_key,
    mask_array,
    mask_rows,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
SCHEMA = {
    "fields": [
        {"name": "id_number", "format": "cn-id", "x-sensitivity": "sensitive_personal"},
        {"name": "phone", "x-sensitivity": "personal"},
        {"name": "name", "x-sensitivity": "personal"},
        {"name": "addr", "x-sensitivity": "personal"},
        {"name": "card", "x-sensitivity": "sensitive_personal"},
        {"name": "x"},
        {"name": "id2"},
        {"name": "y"},
        {"name": "age", "type": "integer"},
    ]
}
GRANT = {
    "id_number": {"rule": "id_number"},
    "phone": {"rule": "phone"},
    "name": {"rule": "name"},
    "addr": {"rule": "address"},
    "card": {"rule": "bank_card"},
    "x": {"rule": "pattern", "keep_start": 2, "keep_end": 2, "char": "*"},
    "id2": {"rule": "hash"},
    "y": {"rule": "redact"},
}


def hmac_hex(value: str, key: bytes = KEY) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


# --- rules as data ------------------------------------------------------------------------


def test_parse_and_store() -> None:
    rules = MaskingRules.parse(GRANT, SCHEMA)
    assert rules.rules["phone"] == Rule("phone")
    assert rules.rules["x"] == Rule("pattern", 2, 2, "*")
    assert rules.to_dict() == GRANT
    assert MaskingRules.parse(rules.to_dict(), SCHEMA) == rules
    assert MaskingRules.parse({"x": {"rule": "pattern"}}, SCHEMA).rules["x"] == Rule("pattern")
    assert MaskingRules.parse({}, SCHEMA).rules == {}


@pytest.mark.parametrize(
    ("data", "code", "params"),
    [
        ([], "masking.not_an_object", {}),
        ({"nope": {"rule": "name"}}, "masking.unknown_field", {"field": "nope"}),
        ({"name": "name"}, "masking.bad_rule", {"field": "name"}),
        ({"name": {}}, "masking.bad_rule", {"field": "name"}),
        ({"name": {"rule": 3}}, "masking.bad_rule", {"field": "name"}),
        ({"name": {"rule": "blur"}}, "masking.unknown_rule", {"field": "name", "rule": "blur"}),
        (
            {"phone": {"rule": "phone", "keep_start": 2}},
            "masking.unknown_param",
            {"field": "phone", "param": "keep_start"},
        ),
        (
            {"x": {"rule": "pattern", "keep": 2}},
            "masking.unknown_param",
            {"field": "x", "param": "keep"},
        ),
        (
            {"x": {"rule": "pattern", "keep_start": -1}},
            "masking.bad_keep",
            {"field": "x", "param": "keep_start", "value": "-1"},
        ),
        (
            {"x": {"rule": "pattern", "keep_end": MAX_KEEP + 1}},
            "masking.bad_keep",
            {"field": "x", "param": "keep_end", "value": str(MAX_KEEP + 1)},
        ),
        (
            {"x": {"rule": "pattern", "keep_end": True}},
            "masking.bad_keep",
            {"field": "x", "value": "True"},
        ),
        (
            {"x": {"rule": "pattern", "keep_start": "2"}},
            "masking.bad_keep",
            {"field": "x", "value": "'2'"},
        ),
        ({"x": {"rule": "pattern", "char": ""}}, "masking.bad_char", {"field": "x"}),
        ({"x": {"rule": "pattern", "char": "**"}}, "masking.bad_char", {"field": "x"}),
        ({"x": {"rule": "pattern", "char": "\n"}}, "masking.bad_char", {"field": "x"}),
        ({"x": {"rule": "pattern", "char": 0}}, "masking.bad_char", {"field": "x"}),
    ],
)
def test_parse_errors_name_the_field(data: Any, code: str, params: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        MaskingRules.parse(data, SCHEMA)
    error = caught.value
    assert error.code == code
    assert params.items() <= error.params.items()
    for locale in ("en", "zh-CN"):
        message = error.message(locale)
        assert "{" not in message and params.get("field", "") in message


def test_default_rules_follow_the_items() -> None:
    schema = {
        "fields": [
            {"name": "sfzh", "format": "cn-id", "x-sensitivity": "sensitive_personal"},
            {"name": "mobile_phone", "x-sensitivity": "personal"},
            {"name": "contact_tel", "x-sensitivity": "personal"},
            {"name": "full_name", "x-sensitivity": "personal"},
            {"name": "home_address", "x-sensitivity": "personal"},
            {"name": "bank_card_no", "x-sensitivity": "sensitive_personal"},
            {"name": "Account", "x-sensitivity": "sensitive_personal"},
            {"name": "health_note", "x-sensitivity": "sensitive_personal"},
            {"name": "district_name"},
            {"name": "age", "type": "integer", "x-sensitivity": "none"},
        ]
    }
    assert default_rules(schema).rules == {
        "sfzh": Rule("id_number"),
        "mobile_phone": Rule("phone"),
        "contact_tel": Rule("phone"),
        "full_name": Rule("name"),
        "home_address": Rule("address"),
        "bank_card_no": Rule("bank_card"),
        "Account": Rule("bank_card"),
        "health_note": Rule("pattern", 1, 1),
    }
    assert MaskingRules.parse(default_rules(schema).to_dict(), schema) == default_rules(schema)


# --- each rule ----------------------------------------------------------------------------

CASES: list[tuple[Rule, str | None, str | None]] = [
    # id_number: keep 6 + 4
    (Rule("id_number"), "11010519491231002X", "110105********002X"),
    (Rule("id_number"), "110105491231002", "110105*****1002"),
    (Rule("id_number"), "12345678901", "123456*8901"),
    (Rule("id_number"), "1234567890", "**********"),
    (Rule("id_number"), "123", "***"),
    (Rule("id_number"), "", ""),
    (Rule("id_number"), None, None),
    (Rule("id_number"), "１１０１０５１９４９１２３１００２Ｘ", "１１０１０５********００２Ｘ"),
    # phone: keep 3 + 4
    (Rule("phone"), "13812341234", "138****1234"),
    (Rule("phone"), "+8613812341234", "+86*******1234"),
    (Rule("phone"), "12345678", "123*5678"),
    (Rule("phone"), "1234567", "*******"),
    (Rule("phone"), "", ""),
    (Rule("phone"), None, None),
    (Rule("phone"), "１３８１２３４１２３４", "１３８****１２３４"),
    # name: keep the first character
    (Rule("name"), "张三", "张*"),
    (Rule("name"), "欧阳娜娜", "欧***"),
    (Rule("name"), "张", "*"),
    (Rule("name"), "Li Lei", "L*****"),
    (Rule("name"), "", ""),
    (Rule("name"), None, None),
    # bank_card: keep 6 + 4
    (Rule("bank_card"), "6222021234567890123", "622202*********0123"),
    (Rule("bank_card"), "6222 0212 3456 7890", "6222 0*********7890"),
    (Rule("bank_card"), "1234567890", "**********"),
    (Rule("bank_card"), "", ""),
    (Rule("bank_card"), None, None),
    # pattern
    (Rule("pattern", 2, 2, "#"), "ABCDEFYZ", "AB####YZ"),
    (Rule("pattern", 2, 2, "#"), "ABCDE", "AB#DE"),
    (Rule("pattern", 2, 2, "#"), "ABCD", "####"),
    (Rule("pattern", 2, 2, "＊"), "数据共享平台", "数据＊＊平台"),
    (Rule("pattern", 2, 2), "", ""),
    (Rule("pattern", 2, 2), None, None),
    (Rule("pattern"), "abc", "***"),
    (Rule("pattern", 3, 0), "abcdef", "abc***"),
    (Rule("pattern", 0, 3), "abcdef", "***def"),
    (Rule("pattern", 1, 1), "ab", "**"),
    # address: up to the district or county, then ****
    (Rule("address"), "北京市朝阳区建国路88号", "北京市朝阳区****"),
    (Rule("address"), "示例市东城区和平街道幸福社区3号楼", "示例市东城区****"),
    (Rule("address"), "河北省石家庄市长安区中山路1号", "河北省石家庄市长安区****"),
    (Rule("address"), "上海市浦东新区张江镇", "上海市浦东新区****"),
    (Rule("address"), "河北省正定县城关镇", "河北省正定县****"),
    (Rule("address"), "广东省东莞市南城街道", "广东省东莞市****"),
    (Rule("address"), "浙江省义乌市稠城街道", "浙江省义乌市****"),
    (Rule("address"), "某某市某镇幸福小区3号楼", "某某市****"),
    (Rule("address"), "新疆维吾尔自治区乌鲁木齐市天山区", "新疆维吾尔自治区****"),
    (Rule("address"), "幸福路小区12栋", "幸福路小区1****"),
    (Rule("address"), "Room 5, 123 Some Rd", "Room 5****"),
    (Rule("address"), "天津市和平区", "****"),
    (Rule("address"), "示例市", "****"),
    (Rule("address"), "", ""),
    (Rule("address"), None, None),
    # redact
    (Rule("redact"), "anything", None),
    (Rule("redact"), "", None),
    (Rule("redact"), None, None),
    # hash
    (Rule("hash"), "11010519491231002X", hmac_hex("11010519491231002X")),
    (Rule("hash"), "张三", hmac_hex("张三")),
    (Rule("hash"), "", hmac_hex("")),
    (Rule("hash"), None, None),
]


@pytest.mark.parametrize(("rule", "value", "expected"), CASES)
def test_each_rule(rule: Rule, value: str | None, expected: str | None) -> None:
    masked = mask_array(pa.array([value, "x" * 30, None], pa.string()), rule, KEY)
    assert masked.type == pa.string()
    assert masked[0].as_py() == expected
    assert masked[2].as_py() is None
    if expected is not None and value and rule.kind not in ("hash", "redact"):
        assert expected != value
        assert len(expected) == len(value) or rule.kind == "address"


def test_other_types_are_masked_as_text() -> None:
    assert mask_array(
        pa.array([6222021234567890123, None]), Rule("bank_card"), KEY
    ).to_pylist() == [
        "622202*********0123",
        None,
    ]
    dates = pa.array([dt.date(1950, 1, 1)], pa.date32())
    assert mask_array(dates, Rule("pattern", 4, 0), KEY).to_pylist() == ["1950******"]
    assert mask_array(dates, Rule("hash"), KEY).to_pylist() == [hmac_hex("1950-01-01")]
    assert mask_array(pa.array(["张三"], pa.large_string()), Rule("name"), KEY).to_pylist() == [
        "张*"
    ]
    dictionary = pa.array(["张三", "李四", "张三"]).dictionary_encode()
    assert mask_array(dictionary, Rule("name"), KEY).to_pylist() == ["张*", "李*", "张*"]
    assert mask_array(pa.array([1, None]), Rule("redact"), KEY).type == pa.string()


# --- keyed hashing ------------------------------------------------------------------------


def test_hash_is_keyed() -> None:
    values = pa.array(["11010519491231002X", "110105194912310037", None])
    first = mask_array(values, Rule("hash"), KEY).to_pylist()
    assert first == mask_array(values, Rule("hash"), KEY).to_pylist()
    other = mask_array(values, Rule("hash"), OTHER_KEY).to_pylist()
    assert first[0] != other[0] and first[1] != other[1]
    assert other[0] == hmac_hex("11010519491231002X", OTHER_KEY)
    assert all(len(h) == 64 and h == h.lower() and int(h, 16) >= 0 for h in first[:2])
    for long_key in (b"L" * 64, b"L" * 65, bytes(range(256))):  # keys longer than a block
        assert mask_array(values, Rule("hash"), long_key)[0].as_py() == hmac_hex(
            "11010519491231002X", long_key
        )
    with pytest.raises(ValueError, match="16 bytes"):
        mask_array(values, Rule("hash"), b"short")


def test_consumer_keys() -> None:
    secret = b"s" * 32
    assert hash_key(secret, "org-7") == hash_key(secret, "org-7")
    assert hash_key(secret, "org-7") != hash_key(secret, "org-8")
    assert hash_key(secret, "org-7") != hash_key(b"t" * 32, "org-7")
    assert len(hash_key(secret, "org-7")) == 32


def test_two_grants_join_on_the_hash_exactly_where_the_raw_values_match() -> None:
    people = pa.table({"id_number": ["A1", "B2", "C3", None, "E5"], "name": list("abcde")})
    benefits = pa.table({"sfzh": ["C3", "A1", "Z9", None, "a1"], "amount": [1, 2, 3, 4, 5]})
    key = hash_key(b"s" * 32, "org-7")
    left = apply_masking(people, MaskingRules({"id_number": Rule("hash")}), key)
    right = apply_masking(benefits, MaskingRules({"sfzh": Rule("hash")}), key)
    hashed = left.join(right, "id_number", "sfzh", join_type="inner")
    raw = people.join(benefits, "id_number", "sfzh", join_type="inner")
    assert sorted(zip(hashed["name"].to_pylist(), hashed["amount"].to_pylist(), strict=True)) == (
        sorted(zip(raw["name"].to_pylist(), raw["amount"].to_pylist(), strict=True))
    )
    assert sorted(hashed["name"].to_pylist()) == ["a", "c"]
    stranger = apply_masking(benefits, MaskingRules({"sfzh": Rule("hash")}), OTHER_KEY)
    assert left.join(stranger, "id_number", "sfzh", join_type="inner").num_rows == 0


# --- batches and rows ---------------------------------------------------------------------


def test_apply_masking_to_a_batch() -> None:
    rules = MaskingRules.parse(GRANT, SCHEMA)
    batch = pa.record_batch(
        {
            "id_number": ["11010519491231002X", None],
            "age": pa.array([61, None], pa.int64()),
            "name": ["张三", "欧阳娜娜"],
            "id2": ["A1", "A1"],
            "y": [1.5, 2.5],
        },
        metadata={"source": "test"},
    )
    out = apply_masking(batch, rules, KEY)
    assert out.schema.names == batch.schema.names
    assert out.schema.metadata == batch.schema.metadata
    assert [f.type for f in out.schema] == [
        pa.string(),
        pa.int64(),
        pa.string(),
        pa.string(),
        pa.string(),
    ]
    assert out.to_pylist() == [
        {
            "id_number": "110105********002X",
            "age": 61,
            "name": "张*",
            "id2": hmac_hex("A1"),
            "y": None,
        },
        {"id_number": None, "age": None, "name": "欧***", "id2": hmac_hex("A1"), "y": None},
    ]
    assert out.column(1) is batch.column(1) or out.column(1).equals(batch.column(1))
    unmasked = pa.record_batch({"age": [1]})
    assert apply_masking(unmasked, rules, KEY) is unmasked


def test_apply_masking_to_a_chunked_table() -> None:
    table = pa.concat_tables([pa.table({"name": ["张三"]}), pa.table({"name": ["李四", None]})])
    out = apply_masking(table, MaskingRules({"name": Rule("name")}), KEY)
    assert isinstance(out, pa.Table)
    assert out.column("name").to_pylist() == ["张*", "李*", None]


def test_mask_rows() -> None:
    rules = MaskingRules.parse(GRANT, SCHEMA)
    rows = [
        {"name": "张三", "phone": "13812341234", "age": 61},
        {"name": None, "age": 3},
        {"name": "李四", "phone": 13912345678, "card": "6222021234567890123"},
    ]
    before = [dict(r) for r in rows]
    assert mask_rows(rows, rules, KEY) == [
        {"name": "张*", "phone": "138****1234", "age": 61},
        {"name": None, "age": 3},
        {"name": "李*", "phone": "139****5678", "card": "622202*********0123"},
    ]
    assert rows == before
    assert mask_rows([], rules, KEY) == []
    assert mask_rows(rows, MaskingRules({}), KEY) == before


# --- a million rows, vectorised -----------------------------------------------------------


def count_python_lines(call: Any) -> tuple[Any, int]:
    """Run ``call()`` counting the Python lines executed: a loop over rows would show."""
    lines = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal lines
        if event == "line":
            lines += 1
        return tracer

    # Finalizers of other tests' objects would run (and be counted) inside the call.
    gc.collect()
    gc.disable()
    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = call()
    finally:
        sys.settrace(old)
        gc.enable()
    return result, lines


def test_a_million_rows_mask_without_a_python_loop() -> None:
    n = 1_000_000
    numbers = pc.cast(pa.array(range(n), pa.int64()), pa.string())
    ids = pc.binary_join_element_wise("110105", pc.utf8_lpad(numbers, 12, "0"), "")
    places = pc.binary_join_element_wise("示例市东城区幸福路", numbers, "号", "")
    batch = pa.record_batch(
        {"id_number": ids, "phone": numbers, "name": numbers, "addr": places, "card": ids, "x": ids}
    )
    rules = MaskingRules.parse({k: GRANT[k] for k in batch.schema.names}, SCHEMA)
    out, lines = count_python_lines(lambda: apply_masking(batch, rules, KEY))
    assert out.num_rows == n
    assert lines < 5_000, lines
    assert out.slice(n - 1).to_pylist() == [
        {
            "id_number": "110105********9999",
            "phone": "******",
            "name": "9*****",
            "addr": "示例市东城区****",
            "card": "110105********9999",
            "x": "11**************99",
        }
    ]
