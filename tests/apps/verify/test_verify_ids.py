"""Resident ID normalisation: canonical forms, 15-digit conversion and every problem code,
held to python-stdnum (an independent implementation) and to the lake's cn-id proof."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from zhili.apps.verify.ids import PROBLEMS, NormalisedIds, normalise_ids, problem_counts
from zhili.lake.proofs import CN_PROVINCES, cn_id_proven

TODAY = dt.date(2026, 11, 24)
_HALF = str.maketrans("０１２３４５６７８９", "0123456789")
TEXTBOOK = "11010519491231002X"  # GB 11643's own example
STDNUM = "360426199101010071"  # python-stdnum's example


def full(first17: str) -> str:
    """A number with its check character, computed by stdnum."""
    return first17 + ric.calc_check_digit(first17 + "0")


def run(values: list[object], today: dt.date = TODAY) -> NormalisedIds:
    return normalise_ids(pa.array(values), today=today)


def one(value: object, today: dt.date = TODAY) -> tuple[str | None, str | None, bool]:
    n = run([value], today)
    return n.ids[0].as_py(), n.problems[0].as_py(), n.converted[0].as_py()


def test_stdnum_oracle_agrees_with_the_known_examples() -> None:
    assert ric.validate(TEXTBOOK) == TEXTBOOK
    assert ric.validate(STDNUM) == STDNUM
    assert full(TEXTBOOK[:17]) == TEXTBOOK


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (TEXTBOOK, TEXTBOOK),
        (STDNUM, STDNUM),
        ("11010519491231002x", TEXTBOOK),  # lower-case x
        ("１１０１０５１９４９１２３１００２ｘ", TEXTBOOK),  # full-width digits and letter
        ("１１０１０５１９４９１２３１００２Ｘ", TEXTBOOK),
        ("1101051949123100２X", TEXTBOOK),  # one full-width digit
        (" 11010519491231002X\t", TEXTBOOK),
        ("110105 19491231 002X", TEXTBOOK),  # grouped
        ("\u3000110105\u00a019491231002x\u200b", TEXTBOOK),  # ideographic, no-break, zero-width
        ("\ufeff360426199101010071\r\n", STDNUM),  # BOM and line end from a text file
    ],
)
def test_valid_numbers_become_canonical(raw: str, expected: str) -> None:
    assert one(raw) == (expected, None, False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("360426910101007", STDNUM),
        ("110105491231002", TEXTBOOK),
        ("３６０４２６９１０１０１００７", STDNUM),  # full-width
        (" 360426 910101 007 ", STDNUM),
        ("440524800101001", full("44052419800101001")),
    ],
)
def test_fifteen_digit_numbers_are_converted(raw: str, expected: str) -> None:
    assert one(raw) == (expected, None, True)
    assert ric.calc_check_digit(expected) == expected[-1]  # stdnum's check character
    assert ric.get_birth_date(expected).year // 100 == 19
    assert expected[:6] + expected[8:17] == "".join(raw.split()).translate(_HALF)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (None, "missing"),
        ("", "missing"),
        ("   ", "missing"),
        ("\u3000\t", "missing"),
        ("123", "bad_length"),
        (TEXTBOOK[:17], "bad_length"),
        (TEXTBOOK + "0", "bad_length"),
        ("36042691010100", "bad_length"),  # 14
        ("张三", "bad_length"),
        ("36042691010100X", "bad_characters"),  # 15 characters must all be digits
        ("3604269101010O7", "bad_characters"),  # letter O for zero
        ("11010519491231002A", "bad_characters"),
        ("1101051949123100XX", "bad_characters"),  # X only as the check character
        ("X10105194912310021", "bad_characters"),
        ("110105-19491231-02", "bad_characters"),
        ("11010519491231002中", "bad_characters"),  # 18 characters, 20 bytes
        ("１１０１０５１９４９１２３１００２中", "bad_characters"),
        (full("00010519491231002"), "bad_region"),
        (full("19010519491231002"), "bad_region"),
        (full("99010519491231002"), "bad_region"),
        (full("72010519491231002"), "bad_region"),
        ("190105491231002", "bad_region"),  # 15-digit, converted then checked
        (full("11010519491331002"), "bad_birth_date"),  # month 13
        (full("11010519490001002"), "bad_birth_date"),  # month 00
        (full("11010519490100002"), "bad_birth_date"),  # day 00
        (full("11010519490431002"), "bad_birth_date"),  # 31 April
        (full("11010520230229002"), "bad_birth_date"),  # 29 February, not a leap year
        (full("11010519000229002"), "bad_birth_date"),  # 1900: divisible by 100, not leap
        (full("11010518491231002"), "bad_birth_date"),  # before 1850
        (full("11010520261125002"), "bad_birth_date"),  # tomorrow
        (full("11010530000101002"), "bad_birth_date"),
        ("110105000229002", "bad_birth_date"),  # 15-digit → 1900-02-29
        ("110105491331002", "bad_birth_date"),
        ("110105194912310021", "bad_check_digit"),
        ("110105194912310020", "bad_check_digit"),
        (STDNUM[:17] + "X", "bad_check_digit"),
        ("11010519491231002Y", "bad_characters"),
    ],
)
def test_problem_codes(raw: str | None, problem: str) -> None:
    assert one(raw) == (None, problem, False)


@pytest.mark.parametrize(
    ("first17", "valid"),
    [
        ("11010520000229002", True),  # 2000: divisible by 400, leap
        ("11010520240229002", True),
        ("11010518500101002", True),  # the earliest plausible
        ("11010518491231002", False),
        ("11010520261124002", True),  # born today
        ("11010520261125002", False),
    ],
)
def test_birth_date_bounds(first17: str, valid: bool) -> None:
    ids, problem, _ = one(full(first17))
    assert (ids is not None, problem) == (valid, None if valid else "bad_birth_date")


def test_today_is_a_parameter_and_defaults_to_the_city_date() -> None:
    number = full("11010520200102002")
    assert one(number, today=dt.date(2020, 1, 1))[1] == "bad_birth_date"
    assert one(number, today=dt.date(2020, 1, 2))[1] is None
    assert normalise_ids(pa.array([number])).problems[0].as_py() is None


def test_the_first_problem_wins() -> None:
    bad_everything = "000105194913320021"  # region, month and check digit all wrong
    assert one(bad_everything)[1] == "bad_region"
    assert one(full("11010519491332002")[:17] + "0")[1] == "bad_birth_date"


def test_outputs_are_aligned_and_typed() -> None:
    raw = [TEXTBOOK, None, "360426910101007", "bad", "11010519491231002x", STDNUM[:17] + "9"]
    n = run(raw)
    assert [len(n.ids), len(n.problems), len(n.converted)] == [len(raw)] * 3
    assert (n.ids.type, n.problems.type, n.converted.type) == (pa.string(), pa.string(), pa.bool_())
    assert n.ids.to_pylist() == [TEXTBOOK, None, STDNUM, None, TEXTBOOK, None]
    assert n.problems.to_pylist() == [None, "missing", None, "bad_length", None, "bad_check_digit"]
    assert n.converted.to_pylist() == [False, False, True, False, False, False]
    assert n.converted.null_count == 0


def test_problem_counts_lists_every_code() -> None:
    n = run([TEXTBOOK, None, "", "1", "110105194912310021", "110105194912310021"])
    assert problem_counts(n) == {
        "missing": 2,
        "bad_length": 1,
        "bad_characters": 0,
        "bad_region": 0,
        "bad_birth_date": 0,
        "bad_check_digit": 2,
    }
    assert list(problem_counts(run([TEXTBOOK]))) == list(PROBLEMS)
    assert set(problem_counts(run([TEXTBOOK])).values()) == {0}


@pytest.mark.parametrize(
    "values",
    [
        pa.chunked_array([[TEXTBOOK, None], ["360426910101007"], []]),
        pa.array([TEXTBOOK, None, "360426910101007"], pa.large_string()),
        pa.array([TEXTBOOK, None, "360426910101007"]).dictionary_encode(),
        pa.array(["x", TEXTBOOK, None, "360426910101007"]).slice(1),
    ],
)
def test_arrow_shapes(values: pa.Array | pa.ChunkedArray) -> None:
    assert normalise_ids(values, today=TODAY).ids.to_pylist() == [TEXTBOOK, None, STDNUM]


def test_numbers_read_as_integers() -> None:
    n = normalise_ids(pa.array([360426199101010071, 360426910101007, None]), today=TODAY)
    assert n.ids.to_pylist() == [STDNUM, STDNUM, None]
    assert n.converted.to_pylist() == [False, True, False]


def test_empty_and_all_null() -> None:
    assert len(normalise_ids(pa.array([], pa.string())).ids) == 0
    n = normalise_ids(pa.nulls(3))
    assert n.problems.to_pylist() == ["missing"] * 3
    assert n.ids.type == pa.string()


def test_many_rows_in_one_pass() -> None:
    """The clean block (no gaps between 18-byte values) and the scattered one agree."""
    clean = [full(f"110105{1950 + i % 70}0{1 + i % 9}1{i % 10}{i % 1000:03d}") for i in range(5000)]
    assert run(clean).problems.null_count == 5000
    mixed = [v if i % 3 else v[:17] for i, v in enumerate(clean)]
    n = run(mixed)
    assert n.ids.to_pylist() == [v if i % 3 else None for i, v in enumerate(clean)]


def test_agrees_with_the_lake_cn_id_proof() -> None:
    """On upper-case, space-free input the lake's proof and this module decide alike."""
    rng = np.random.default_rng(7)
    base = [full(f"{p}0105{1900 + i}0{1 + i % 9}1{i % 10}00{i % 10}") for i, p in
            enumerate(rng.choice(CN_PROVINCES, 100))]  # fmt: skip
    texts = [t[:k] + c + t[k + 1 :] for t in base for k in (1, 9, 12, 16, 17) for c in "05X"]
    latest = TODAY - dt.timedelta(days=1)
    proven, _ = cn_id_proven(pa.array(texts), latest)
    ours = normalise_ids(pa.array(texts), today=latest).ids.is_valid().to_pylist()
    assert proven.tolist() == ours
    assert 0 < sum(ours) < len(ours)


# --- properties ---------------------------------------------------------------------------

_births = st.dates(min_value=dt.date(1850, 1, 1), max_value=TODAY)


@st.composite
def valid_first17(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(CN_PROVINCES))
    county = draw(st.integers(0, 9999))
    sequence = draw(st.integers(0, 999))
    return f"{province:02d}{county:04d}{draw(_births):%Y%m%d}{sequence:03d}"


_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９ｘ")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(valid_first17(), st.integers(0, 3)), min_size=1, max_size=40))
def test_random_valid_numbers_agree_with_stdnum(items: list[tuple[str, int]]) -> None:
    expected = [first17 + ric.calc_check_digit(first17 + "0") for first17, _ in items]
    shapes = [
        lambda s: s,
        lambda s: s.lower(),
        lambda s: s.translate(_FULL_WIDTH),
        lambda s: f" {s[:6]} {s[6:14]} {s[14:]}\u3000",
    ]
    raw = [shapes[k](number) for number, (_, k) in zip(expected, items, strict=True)]
    n = run(raw)
    assert n.ids.to_pylist() == expected
    assert n.problems.null_count == len(raw)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(valid_first17(), st.integers(0, 17), st.integers(0, 9)), min_size=1))
def test_a_single_changed_character_is_always_caught(items: list[tuple[str, int, int]]) -> None:
    changed = []
    for first17, position, shift in items:
        number = full(first17)
        alphabet = "0123456789X" if position == 17 else "0123456789"
        old = alphabet.index(number[position])
        new = alphabet[(old + 1 + shift % (len(alphabet) - 1)) % len(alphabet)]
        changed.append(number[:position] + new + number[position + 1 :])
    n = run(changed)
    assert n.ids.null_count == len(changed)
    problems = n.problems.to_pylist()
    assert set(problems) <= {"bad_region", "bad_birth_date", "bad_check_digit"}
    for text, problem in zip(changed, problems, strict=True):
        if problem == "bad_check_digit":  # stdnum sees the same wrong check character
            assert ric.calc_check_digit(text) != text[-1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(valid_first17(), st.sampled_from("0123456789Xx")), min_size=1))
def test_check_digit_verdict_matches_stdnum(items: list[tuple[str, str]]) -> None:
    numbers = [first17 + last for first17, last in items]
    problems = run(numbers).problems.to_pylist()
    for number, problem in zip(numbers, problems, strict=True):
        assert problem in (None, "bad_check_digit")
        assert (problem is None) == (ric.calc_check_digit(number.upper()) == number[-1].upper())
