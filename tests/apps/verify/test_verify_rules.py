"""Rule sets: YAML or JSON into frozen dataclasses; every mistake named by its key path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from zhili.apps.verify.rules import (
    Comparison,
    RuleSet,
    builtin_rule_sets,
    load_rules,
    parse_rules,
    validate_against,
)
from zhili.errors import InvalidInput

GOOD: dict[str, Any] = {
    "link_type": "link_only",
    "unique_id": "person_id",
    "id_number": {"left": "sfzh", "right": "id_number"},
    "fields": {
        "name": {"left": "xm", "right": "name", "prepare": "chinese_name"},
        "birth_date": {"column": "birth_date", "prepare": "date"},
        "sex": "sex",
        "district": "district",
    },
    "blocking": [["birth_date"], "l.name_pinyin = r.name_pinyin AND l.sex = r.sex"],
    "comparisons": [
        {"field": "name", "kind": "chinese_name"},
        {"field": "birth_date", "kind": "date", "within": ["1 month", "2 years"]},
        {"field": "sex", "kind": "exact"},
        {"field": "district", "kind": "levenshtein", "thresholds": [1]},
    ],
    "thresholds": {"auto": 0.98, "review": 0.6},
    "training": {"u_max_pairs": 200000, "em_blocking": [["district"]], "seed": 7},
}


def test_a_good_rule_set_resolves_to_typed_frozen_values() -> None:
    rules = parse_rules(GOOD)
    assert isinstance(rules, RuleSet)
    assert rules.unique_id.left == rules.unique_id.right == "person_id"
    assert (rules.id_number.left, rules.id_number.right, rules.id_number.scheme) == (
        "sfzh", "id_number", "cn_resident",
    )  # fmt: skip
    name = rules.get_field("name")
    assert (name.left, name.right, name.prepare) == ("xm", "name", "chinese_name")
    assert name.derived == ("name_pinyin", "name_pinyins")
    assert rules.get_field("sex").prepare == "text"
    assert rules.blocking == (
        "l.birth_date = r.birth_date",
        "l.name_pinyin = r.name_pinyin AND l.sex = r.sex",
    )
    assert rules.comparisons[0] == Comparison("name", "chinese_name", (0.9,), True)
    assert rules.comparisons[1].within == ((1, "month"), (2, "year"))
    assert rules.comparisons[3].thresholds == (1,)
    assert (rules.thresholds.auto, rules.thresholds.review) == (0.98, 0.6)
    assert rules.training.em_blocking == ("l.district = r.district",)
    assert "id_number" in rules.columns and "name_pinyins" in rules.columns
    with pytest.raises(AttributeError):
        rules.name = "changed"  # type: ignore[misc]


def _with(path: str, value: Any) -> dict[str, Any]:
    """GOOD with one key (dotted path, list indexes as numbers) set, or deleted (None)."""
    data = copy.deepcopy(GOOD)
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    target = data
    for key in keys[:-1]:
        target = target[key]
    if value is None:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "code", "named"),
    [
        ("colour", "red", "verify.rules_unknown_key", "colour"),
        ("thresholds.manual", 0.7, "verify.rules_unknown_key", "thresholds"),
        ("comparisons.0.weight", 2, "verify.rules_unknown_key", "comparisons[0]"),
        ("unique_id", None, "verify.rules_missing_key", "unique_id"),
        ("comparisons.1.kind", "soundex", "verify.rules_unknown_kind", "comparisons[1].kind"),
        ("comparisons.2.field", "gender", "verify.rules_unknown_field", "gender"),
        ("blocking.0", ["postcode"], "verify.rules_unknown_field", "blocking[0]"),
        ("blocking.1", "l.phone = r.phone", "verify.rules_unknown_field", "phone"),
        ("blocking.1", "l.name = r.name AND (", "verify.rules_bad_sql", "blocking[1]"),
        ("blocking.1", "name = name", "verify.rules_bad_value", "blocking[1]"),
        ("training.em_blocking", [["income"]], "verify.rules_unknown_field", "income"),
        ("thresholds.auto", 0.4, "verify.rules_bad_thresholds", "0.4"),
        ("thresholds.review", 0, "verify.rules_bad_value", "thresholds.review"),
        ("thresholds.auto", 1.5, "verify.rules_bad_value", "thresholds.auto"),
        ("comparisons.3.thresholds", [0.5], "verify.rules_bad_value", "comparisons[3]"),
        ("comparisons.2.thresholds", [1], "verify.rules_bad_value", "comparisons[2]"),
        ("comparisons.1.within", ["1 fortnight"], "verify.rules_bad_value", "within[0]"),
        ("fields.name.prepare", "text", "verify.rules_bad_value", "fields.name.prepare"),
        ("fields.sex", {"prepare": "lower"}, "verify.rules_missing_key", "fields.sex"),
        ("link_type", "link_and_dedupe", "verify.rules_bad_value", "link_type"),
        ("fields.unique_id", "uid", "verify.rules_bad_value", "fields.unique_id"),
        ("fields.Name", "xm", "verify.rules_bad_value", "fields.Name"),
        ("id_number.scheme", "passport", "verify.rules_bad_value", "id_number.scheme"),
        ("comparisons", [], "verify.rules_bad_value", "comparisons"),
        ("training.u_max_pairs", -5, "verify.rules_bad_value", "training.u_max_pairs"),
        ("training.m_from", "labels", "verify.rules_bad_value", "training.m_from"),
    ],
)
def test_each_mistake_names_its_key_path(path: str, value: Any, code: str, named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rules(_with(path, value))
    assert caught.value.code == code
    message = caught.value.message("en")
    assert named in message, message
    assert caught.value.message("zh-CN") != message  # both catalogs carry it


def test_a_field_compared_twice_and_ids_without_an_id_column_are_refused() -> None:
    data = _with("comparisons", [*GOOD["comparisons"], {"field": "sex", "kind": "exact"}])
    with pytest.raises(InvalidInput, match="rules_bad_value"):
        parse_rules(data)
    data = _with("id_number", None)
    data["training"]["m_from"] = "ids"
    with pytest.raises(InvalidInput, match="rules_bad_value"):
        parse_rules(data)
    data = _with("blocking", ["l.id_number = r.id_number"])
    del data["id_number"]
    with pytest.raises(InvalidInput) as caught:
        parse_rules(data)
    assert caught.value.code == "verify.rules_unknown_field"


def test_yaml_and_json_files_by_extension_or_content(tmp_path: Path) -> None:
    as_json = tmp_path / "rules.json"
    as_json.write_text(json.dumps(GOOD, ensure_ascii=False))
    anonymous = tmp_path / "rules.txt"
    anonymous.write_text(json.dumps(GOOD))
    import yaml

    as_yaml = tmp_path / "rules.yml"
    as_yaml.write_text(yaml.safe_dump(GOOD, allow_unicode=True))
    parsed = [load_rules(p) for p in (as_json, anonymous, as_yaml)]
    assert parsed[0].comparisons == parsed[1].comparisons == parsed[2].comparisons
    assert parsed[2].name == "rules"  # from the file name when the file has none

    broken = tmp_path / "broken.yaml"
    broken.write_text("fields: [unclosed\n")
    with pytest.raises(InvalidInput) as caught:
        load_rules(broken)
    assert caught.value.code == "verify.rules_syntax" and "YAML" in caught.value.message("en")
    with pytest.raises(InvalidInput) as caught:
        load_rules(tmp_path / "absent.yaml")
    assert caught.value.code == "verify.rules_unreadable"
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InvalidInput, match="rules_bad_value"):
        load_rules(tmp_path / "list.json")


def test_shipped_rule_sets_parse_and_are_found_by_name() -> None:
    shipped = builtin_rule_sets()
    assert {"febrl", "person_zh"} <= set(shipped)
    febrl = load_rules("febrl")
    assert febrl.id_number is None and len(febrl.comparisons) == 9
    person = load_rules("person_zh")
    assert person.id_number is not None and person.get_field("name").prepare == "chinese_name"


def test_validate_against_names_the_missing_column_and_its_input() -> None:
    rules = parse_rules(GOOD)
    left = ["person_id", "sfzh", "xm", "birth_date", "sex", "district"]
    right = ["person_id", "id_number", "name", "birth_date", "sex", "district"]
    validate_against(rules, left, right)
    with pytest.raises(InvalidInput) as caught:
        validate_against(rules, left, [c for c in right if c != "name"])
    error = caught.value
    assert error.code == "verify.missing_column"
    assert error.params["column"] == "name" and error.params["side"] == "reference"
    assert "比对库" in error.message("zh-CN") and "fields.name" in error.message("en")
    with pytest.raises(InvalidInput) as caught:
        validate_against(rules, left[1:], None)
    assert caught.value.params["column"] == "person_id"
    assert "roster" in caught.value.message("en")
