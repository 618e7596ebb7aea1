"""Verification demo data: deterministic, its ground truth consistent, every kind of damage
present and hard the way it claims, and the linker accurate on a small pension scenario."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from zhili.apps.verify.ids import normalise_ids
from zhili.apps.verify.linker import link
from zhili.apps.verify.names import normalise_names, pinyin_keys
from zhili.apps.verify.rules import load_rules
from zhili.synth import corrupt
from zhili.synth.city import City, build_city
from zhili.synth.verification import (
    KEYS,
    RULES,
    SCENARIOS,
    VerificationData,
    generate,
    iter_id_roster,
    person_pair,
)

SEED = 11


@pytest.fixture(scope="module")
def city() -> City:
    return build_city()


@pytest.fixture(scope="module")
def data(city: City) -> VerificationData:
    return generate(20_000, seed=SEED, city=city)


def _rows(table: pa.Table, key: str) -> dict[str, dict]:
    return {r[key]: r for r in table.to_pylist()}


def _pairs(data: VerificationData, kind: str) -> list[tuple[dict, dict]]:
    """(roster row, reference row) of the true pairs whose reference record has ``kind``."""
    out = []
    for roster, reference in {(s.roster, r) for s in SCENARIOS.values() for r in s.references}:
        chosen = [p for p in data.pairs(roster, reference).to_pylist() if kind in p["corruptions"]]
        if not chosen:
            continue
        left = _rows(data.tables[roster], KEYS[roster])
        right = _rows(data.tables[reference], KEYS[reference])
        out += [(left[p["roster_key"]], right[p["reference_key"]]) for p in chosen]
    return out


def _name(row: dict) -> str:
    return row.get("name") or row.get("owner_name")


def _number(row: dict) -> str | None:
    return row.get("id_number") if "id_number" in row else row.get("owner_id_number")


def test_same_seed_same_tables(city: City) -> None:
    a, b = generate(3_000, seed=3, city=city), generate(3_000, seed=3, city=city)
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name
    assert a.truth.equals(b.truth) and a.confounders.equals(b.confounders)
    assert a.outcomes.equals(b.outcomes) and a.damage.equals(b.damage)
    other = generate(3_000, seed=4, city=city)
    assert not other.tables["pensioners"].equals(a.tables["pensioners"])


def test_keys_are_unique_and_every_truth_pair_exists(data: VerificationData) -> None:
    for name, table in data.tables.items():
        keys = table.column(KEYS[name])
        assert keys.null_count == 0 and pc.count_distinct(keys).as_py() == table.num_rows, name
    for column, side in (("roster_key", "roster"), ("reference_key", "reference")):
        for name in set(data.truth[side].to_pylist()):
            mine = data.truth.filter(pc.equal(data.truth[side], name))[column]
            assert pc.all(pc.is_in(mine, value_set=data.tables[name][KEYS[name]])).as_py()
    # Each (roster, reference) pair of every scenario has true pairs, and no pair twice.
    for s in SCENARIOS.values():
        for reference in s.references:
            pairs = data.pairs(s.roster, reference)
            assert pairs.num_rows > 0, (s.roster, reference)
            keys = pc.binary_join_element_wise(pairs["roster_key"], pairs["reference_key"], "|")
            assert pc.count_distinct(keys).as_py() == pairs.num_rows
    # Everyone on the 公安 register check is on it: one true record per roster person.
    pension = data.pairs("pensioners", "residence")
    assert pension.num_rows == data.tables["pensioners"].num_rows


def test_true_pairs_are_the_same_person(data: VerificationData) -> None:
    """Where the reference kept its ID number intact, it is the roster's number."""
    pairs = _pairs(data, "id_spaces")  # damaged in form only
    pairs += [p for p in _pairs(data, "name_homophone")]
    for left, right in pairs:
        written = normalise_ids(pa.array([_number(right)])).ids[0].as_py()
        if written is not None:
            assert written == left["id_number"]


def test_every_kind_of_damage_occurs(data: VerificationData) -> None:
    seen = Counter(pc.list_flatten(data.truth["corruptions"]).to_pylist())
    assert set(corrupt.KINDS) <= set(seen), set(corrupt.KINDS) - set(seen)
    everywhere = Counter(pc.list_flatten(data.damage["corruptions"]).to_pylist())
    records = data.damage.num_rows
    # The overall rates are near the nominal ones (damage is spread over all records).
    assert 0.02 < everywhere["id_missing"] / records < 0.08
    assert 0.005 < everywhere["name_homophone"] / records < 0.04
    intact = pc.sum(pc.equal(pc.list_value_length(data.truth["corruptions"]), 0)).as_py()
    assert 0.4 < intact / data.truth.num_rows < 0.95


def test_name_damage_is_the_hard_kind_it_claims(data: VerificationData) -> None:
    homophones = _pairs(data, "name_homophone")
    lefts = pa.array([_name(a) for a, _ in homophones])
    rights = pa.array([_name(b) for _, b in homophones])
    assert pc.all(pc.not_equal(lefts, rights)).as_py()
    same_sound = pc.equal(pinyin_keys(lefts), pinyin_keys(rights))
    assert pc.mean(pc.cast(same_sound, pa.float64())).as_py() > 0.95

    for a, b in _pairs(data, "name_lookalike"):
        differ = [(x, y) for x, y in zip(_name(a), _name(b), strict=True) if x != y]
        assert len(differ) == 1 and corrupt.LOOKALIKES[differ[0][0]] == differ[0][1]

    for kind in ("name_traditional", "name_spaces", "name_minority_dot"):
        pairs = _pairs(data, kind)
        lefts = pa.array([_name(a) for a, _ in pairs])
        rights = pa.array([_name(b) for _, b in pairs])
        assert pc.all(pc.not_equal(lefts, rights)).as_py(), kind
        # The engine's normalisation undoes these: they are hard only for a naive join.
        same = pc.equal(normalise_names(lefts), normalise_names(rights))
        assert pc.mean(pc.cast(same, pa.float64())).as_py() > 0.95, kind
    assert all("·" in _name(a) for a, _ in _pairs(data, "name_minority_dot"))


def test_the_character_tables_hold_what_they_say() -> None:
    """Homophones read alike (pypinyin, as the engine reads them); look-alikes do not."""
    groups = corrupt._HOMOPHONE_GROUPS.split()
    for group in groups:
        assert len(set(pinyin_keys(pa.array(list(group))).to_pylist())) == 1, group
    pairs = pa.array(list(corrupt.LOOKALIKES)), pa.array(list(corrupt.LOOKALIKES.values()))
    same = pc.equal(pinyin_keys(pairs[0]), pinyin_keys(pairs[1]))
    assert not pc.any(same).as_py()


def test_id_damage_is_what_it_claims(data: VerificationData) -> None:
    def written(kind: str) -> tuple[list[str], list[str | None]]:
        pairs = _pairs(data, kind)
        assert pairs, kind
        return [a["id_number"] for a, _ in pairs], [_number(b) for _, b in pairs]

    for kind, problems in (
        ("id_missing", {"missing"}),
        ("id_check_digit", {"bad_check_digit"}),
        ("id_typo", {"bad_check_digit", "bad_birth_date", "bad_region"}),
    ):
        n = normalise_ids(pa.array(written(kind)[1], pa.string()))
        assert n.ids.null_count == len(n.ids), kind
        assert set(n.problems.to_pylist()) <= problems, kind
    looks = {
        "id_15_digit": lambda v: len(v) == 15,
        "id_fullwidth": lambda v: not v.isascii(),
        "id_spaces": lambda v: v != v.replace(" ", "").replace("\u3000", ""),
        "id_lowercase_x": lambda v: v.endswith("x"),
    }
    for kind, look in looks.items():
        roster, values = written(kind)
        assert all(look(v) for v in values), kind
        # ... and the engine's normalisation recovers the roster's number from each.
        assert normalise_ids(pa.array(values, pa.string())).ids.to_pylist() == roster, kind


def test_birth_date_damage_is_one_transposition_or_digit(data: VerificationData) -> None:
    for kind in ("birth_swapped", "birth_typo"):
        pairs = _pairs(data, kind)
        assert pairs, kind
        for a, b in pairs:
            left = a["birth_date"].strftime("%Y%m%d")
            right = b["birth_date"]
            right = right if isinstance(right, str) else right.strftime("%Y%m%d")
            digits = "".join(c for c in right if c.isdigit())
            assert digits != left
    for a, b in _pairs(data, "birth_swapped"):
        left, right = a["birth_date"].strftime("%Y%m%d"), b.get("birth_date")
        if isinstance(right, str) and len(right) == 8:  # the register writes YYYYMMDD
            differ = [k for k in range(8) if left[k] != right[k]]
            assert len(differ) == 2 and differ[1] == differ[0] + 1
            assert sorted(left[k] for k in differ) == sorted(right[k] for k in differ)


def test_confounders_look_alike_but_are_other_people(data: VerificationData) -> None:
    kinds = Counter(data.confounders["kind"].to_pylist())
    assert kinds["twin"] > 50 and kinds["namesake"] > 20
    truth = set(
        zip(
            data.truth["roster_key"].to_pylist(),
            data.truth["reference_key"].to_pylist(),
            strict=True,
        )
    )
    for row in data.confounders.to_pylist():
        assert (row["roster_key"], row["reference_key"]) not in truth
    damaged = {
        r["key"]
        for r in data.damage.to_pylist()
        if r["corruptions"] and r["reference"] == "residence"
    }
    left = _rows(data.tables["pensioners"], "person_id")
    right = _rows(data.tables["residence"], "person_id")
    checked = Counter()
    for row in data.confounders.filter(
        pc.equal(data.confounders["reference"], "residence")
    ).to_pylist():
        if row["roster"] != "pensioners" or row["reference_key"] in damaged:
            continue
        a, b = left[row["roster_key"]], right[row["reference_key"]]
        assert a["id_number"] != b["id_number"]
        assert a["birth_date"].strftime("%Y%m%d") == b["birth_date"]
        if row["kind"] == "twin":  # same surname and district, another given name
            cut = corrupt.surname_length(a["name"])
            assert a["name"][:cut] == b["name"][:cut] and a["name"] != b["name"]
            assert a["district"] == b["district"]
        else:  # the same name, another district
            assert a["name"] == b["name"] and a["district"] != b["district"]
        checked[row["kind"]] += 1
    assert checked["twin"] > 10 and checked["namesake"] > 10


def test_outcomes_cover_each_roster_once(data: VerificationData) -> None:
    for s in SCENARIOS.values():
        mine = data.outcomes.filter(pc.equal(data.outcomes["scenario"], s.name))
        assert mine.num_rows == data.tables[s.roster].num_rows
        assert pc.count_distinct(mine["roster_key"]).as_py() == mine.num_rows
        outcomes = set(mine["outcome"].to_pylist())
        assert "ok" in outcomes and len(outcomes) == 3, (s.name, outcomes)


def test_person_pair_and_the_id_roster_share_people(city: City) -> None:
    pair = person_pair(3_000, 2_000, seed=SEED, shared=0.5, city=city)
    assert pair.roster.num_rows == 3_000 and pair.reference.num_rows == 2_000
    assert pair.truth.num_rows == 1_000
    batches = list(iter_id_roster(5_000, seed=SEED, city=city, batch_size=2_000))
    assert [b.num_rows for b in batches] == [2_000, 2_000, 1_000]
    ids = pa.Table.from_batches(batches).slice(0, 3_000)
    assert ids["person_id"].to_pylist() == pair.roster["person_id"].to_pylist()
    same = normalise_ids(ids["id_number"]).ids
    agree = pc.equal(same, pair.roster["id_number"].combine_chunks())
    assert pc.mean(pc.cast(pc.fill_null(agree, False), pa.float64())).as_py() > 0.85


@pytest.mark.slow
def test_linker_on_a_small_pension_scenario(city: City) -> None:
    """person_zh on ~2,000 residents: automatic matches are right, true pairs are found."""
    data = generate(2_000, seed=SEED, city=city)
    pension = SCENARIOS["pension"]
    auto_right = auto_all = found = total = 0
    for reference in pension.references:
        result = link(
            data.tables[pension.roster], data.tables[reference], load_rules(RULES[reference])
        )
        m = result.matches
        pairs = set(zip(m["left_id"].to_pylist(), m["right_id"].to_pylist(), strict=True))
        auto = {
            (a, b)
            for a, b, t in zip(
                m["left_id"].to_pylist(),
                m["right_id"].to_pylist(),
                m["tier"].to_pylist(),
                strict=True,
            )
            if t == "auto"
        }
        t = data.pairs(pension.roster, reference)
        truth = set(zip(t["roster_key"].to_pylist(), t["reference_key"].to_pylist(), strict=True))
        auto_right += len(auto & truth)
        auto_all += len(auto)
        found += len(pairs & truth)
        total += len(truth)
    assert total > 400
    assert auto_right / auto_all >= 0.99
    assert found / total >= 0.95
