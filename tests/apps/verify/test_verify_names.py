"""Name normalisation and pinyin keys: the shapes one name takes in two systems meet, NULLs
stay NULL, and the work runs once per distinct name."""

from __future__ import annotations

import pyarrow as pa
import pytest

from zhili.apps.verify import names
from zhili.apps.verify.names import (
    MAX_VARIANTS,
    normalise_names,
    pinyin_columns,
    pinyin_keys,
    pinyin_variants,
)


def norm(value: str | None) -> str | None:
    return normalise_names(pa.array([value], pa.string()))[0].as_py()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张伟", "张伟"),
        ("張偉", "张伟"),  # traditional
        ("劉德華", "刘德华"),
        ("陳奕迅", "陈奕迅"),
        ("歐陽娜娜", "欧阳娜娜"),
        ("陳公升", "陈公升"),  # character-level: zh-cn's vocabulary would give 陈升
        ("李天份", "李天份"),
        ("王 小 明", "王小明"),
        (" 王\u3000小明\t", "王小明"),
        ("王\u00a0小\u200b明", "王小明"),
        ("ＡＢＣ", "abc"),  # full-width letters
        ("Ｌｉ　Ｌｅｉ", "lilei"),
        ("张三１", "张三1"),
        ("阿依古丽·买买提", "阿依古丽买买提"),  # U+00B7
        ("阿依古丽・买买提", "阿依古丽买买提"),  # U+30FB
        ("阿依古丽･买买提", "阿依古丽买买提"),  # U+FF65
        ("阿依古丽•买买提", "阿依古丽买买提"),  # U+2022
        ("阿依古丽‧买买提", "阿依古丽买买提"),  # U+2027
        ("阿依古丽．买买提", "阿依古丽买买提"),  # U+FF0E
        ("阿依古丽｡买买提", "阿依古丽买买提"),  # U+FF61
        ("阿依古丽。买买提", "阿依古丽买买提"),
        ("阿依古丽.买买提", "阿依古丽买买提"),  # a plain dot between letters
        ("阿依古丽 · 买买提", "阿依古丽买买提"),
        ("爱新觉罗·溥仪", "爱新觉罗溥仪"),
        ("J. Smith", "jsmith"),
        ("JOHN SMITH", "johnsmith"),
        ("Mary-Jane", "mary-jane"),  # hyphens are kept
        ("3.5", "3.5"),  # a dot between digits is no separator
    ],
)
def test_normalise_names(raw: str, expected: str) -> None:
    assert norm(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000", "·", " ・ "])
def test_nothing_left_is_null(raw: str | None) -> None:
    assert norm(raw) is None


def test_two_systems_meet() -> None:
    left = pa.array(["張偉", "阿依古丽·买买提", "ＷＡＮＧ Ｘｉａｏ"])
    right = pa.array(["张 伟", "阿依古丽.买买提", "wang xiao"])
    assert normalise_names(left).to_pylist() == normalise_names(right).to_pylist()


def test_pinyin_keys() -> None:
    keys = pinyin_keys(pa.array(["张三", "章三", "張三", "王 小 明", "吕布", "Li Lei", None, "·"]))
    assert keys.type == pa.string()
    assert keys.to_pylist() == [
        "zhangsan",
        "zhangsan",  # a homophone typed by mistake
        "zhangsan",
        "wangxiaoming",
        "lvbu",  # ü as v: keys stay ASCII
        "lilei",
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("name", "readings"),
    [
        ("单田芳", {"dantianfang", "shantianfang"}),  # 单: dan, surname shan
        ("曾国藩", {"cengguofan", "zengguofan"}),  # 曾: ceng, surname zeng
        ("解放", {"jiefang", "xiefang"}),  # 解: jie, surname xie — even inside a word
        ("单于", {"chanyu", "shanyu", "danyu"}),
    ],
)
def test_pinyin_variants_cover_polyphonic_surnames(name: str, readings: set[str]) -> None:
    variants = pinyin_variants(pa.array([name]))[0].as_py()
    assert variants[0] == pinyin_keys(pa.array([name]))[0].as_py()
    assert readings <= set(variants)
    assert len(variants) == len(set(variants))


def test_pinyin_variants_are_capped_and_keep_nulls() -> None:
    variants = pinyin_variants(pa.array(["单重曾解朝乐", "张三", None, "Li Lei"]))
    assert variants.type == pa.list_(pa.string())
    many, plain, missing, latin = variants.to_pylist()
    assert len(many) == MAX_VARIANTS
    assert many[0] == "danzhongcengjiechaole"
    assert many[1:3] == ["chanzhongcengjiechaole", "shanzhongcengjiechaole"]  # surname first
    assert plain == ["zhangsan"]
    assert missing is None
    assert latin == ["lilei"]


@pytest.mark.parametrize(
    "values",
    [
        pa.chunked_array([["張偉", None], [], ["王 小明"]]),
        pa.array(["張偉", None, "王 小明"], pa.large_string()),
        pa.array(["張偉", None, "王 小明"]).dictionary_encode(),
        pa.array(["x", "張偉", None, "王 小明"]).slice(1),
    ],
)
def test_arrow_shapes(values: pa.Array | pa.ChunkedArray) -> None:
    assert normalise_names(values).to_pylist() == ["张伟", None, "王小明"]
    assert pinyin_keys(values).to_pylist() == ["zhangwei", None, "wangxiaoming"]
    assert pinyin_variants(values).to_pylist()[1] is None


def test_empty_and_all_null() -> None:
    assert normalise_names(pa.array([], pa.string())).to_pylist() == []
    assert pinyin_keys(pa.nulls(2)).to_pylist() == [None, None]
    assert pinyin_variants(pa.nulls(2)).to_pylist() == [None, None]


def test_work_runs_once_per_distinct_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """100,000 rows of 50 names: each function computes 50 times, not 100,000."""
    distinct = [f"张{chr(0x4E00 + i)}" for i in range(49)] + ["王 小 明"]
    values = pa.array([None if i % 97 == 0 else distinct[i % 50] for i in range(100_000)])
    for api, function in [
        (normalise_names, "_normalise_one"),
        (pinyin_keys, "_key_one"),
        (pinyin_variants, "_variants_one"),
    ]:
        seen: list[str] = []
        original = getattr(names, function)

        def counted(name: str, original=original, seen=seen) -> object:
            seen.append(name)
            return original(name)

        with monkeypatch.context() as patch:
            patch.setattr(names, function, counted)
            result = api(values)
        assert sorted(seen) == sorted(distinct)
        assert len(result) == 100_000
        assert result.null_count == 1031  # every 97th
        assert result[49] == api(pa.array(["王 小 明"]))[0]  # row 49 is that name


def test_phrases_keep_pypinyins_reading_and_columns_match_the_functions() -> None:
    """Characters are read one at a time unless part of the name is a word of pypinyin's
    phrase dictionary: 长 alone is zhang, in 长乐 chang."""
    values = pa.array(["长乐", "王长", "曾国藩", "单田芳", "张三", "lilei", None])
    assert pinyin_keys(values).to_pylist() == [
        "changle", "wangzhang", "cengguofan", "dantianfang", "zhangsan", "lilei", None
    ]  # fmt: skip
    keys, readings = pinyin_columns(normalise_names(values))
    assert keys.equals(pinyin_keys(values)) and readings.equals(pinyin_variants(values))
