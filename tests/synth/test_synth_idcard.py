"""Identity numbers: the GB 11643 check digit, validation, and agreement with python-stdnum."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from stdnum.cn import ric

from zhili.synth import idcard
from zhili.synth.regions import DISTRICTS, MIGRANT_FIRST_BIRTH_YEAR, MIGRANT_ORIGINS, id_region_code

TODAY = dt.date(2026, 11, 24)


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        ("11010519491231002", "X"),  # the GB 11643 textbook example
        ("36042619910101007", "1"),  # python-stdnum's example
        ("44052418800101001", "4"),
        ("34052419800101001", "X"),
    ],
)
def test_check_digit_known_examples(first17: str, check: str) -> None:
    assert idcard.check_digit(first17) == check
    assert ric.calc_check_digit(first17 + check) == check


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("11010519491231002X", True),
        ("11010519491231002x", True),  # a lower-case x is read leniently
        ("360426199101010071", True),
        ("110105194912310021", False),  # wrong check digit
        ("110105194902300026", False),  # 30 February
        ("990105194912310020", False),  # no such province
        ("11010519491231002", False),  # too short
        ("1101051949123100X2", False),  # X not at the end
        ("120101203001010013", False),  # born in the future
    ],
)
def test_is_valid(number: str, valid: bool) -> None:
    assert idcard.is_valid(number, today=TODAY) is valid


def test_make_id_round_trips_birth_and_sex() -> None:
    number = idcard.make_id("120101", dt.date(1988, 2, 29), 37)
    assert number[:17] == "12010119880229037"
    assert idcard.is_valid(number, today=TODAY)
    assert idcard.birth_date(number) == dt.date(1988, 2, 29)
    assert idcard.sex_code(number) == 1
    assert idcard.sex_code(idcard.make_id(120101, dt.date(1988, 2, 29), 38)) == 2


@pytest.mark.parametrize(("region", "seq"), [("990101", 1), ("12010", 1), ("120101", 1000)])
def test_make_id_rejects_bad_parts(region: str, seq: int) -> None:
    with pytest.raises(ValueError):
        idcard.make_id(region, dt.date(1990, 1, 1), seq)


def test_make_ids_matches_the_scalar_version() -> None:
    rng = np.random.default_rng(7)
    n = 2_000
    regions = rng.choice([110105, 120101, 360426, 440524], n)
    births = np.datetime64("1930-01-01") + rng.integers(0, 35_000, n)
    seqs = rng.integers(0, 1000, n)
    got = idcard.make_ids(regions, births, seqs)
    want = [
        idcard.make_id(int(r), b.astype(dt.date), int(s))
        for r, b, s in zip(regions, births, seqs, strict=True)
    ]
    assert got.tolist() == want
    ints = [int(b.astype(dt.date).strftime("%Y%m%d")) for b in births]
    assert idcard.make_ids(regions, np.array(ints), seqs).tolist() == want


def test_make_ids_rejects_bad_arrays() -> None:
    births = np.array(["1990-01-01"], dtype="datetime64[D]")
    with pytest.raises(ValueError):
        idcard.make_ids([12010], births, [1])
    with pytest.raises(ValueError):
        idcard.make_ids([120101], births, [1000])
    with pytest.raises(ValueError):
        idcard.make_ids([120101, 120102], births, [1, 2])
    with pytest.raises(TypeError):
        idcard.make_ids([120101], np.array([1.5]), [1])


def _region_codes_for(years: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Codes the demo city issues for these birth years (natives and movers)."""
    out = np.empty(len(years), dtype=np.int64)
    districts = rng.integers(0, len(DISTRICTS), len(years))
    movers = rng.random(len(years)) < 0.3
    origins = rng.integers(0, len(MIGRANT_ORIGINS), len(years))
    for k, (year, d, mover, o) in enumerate(zip(years, districts, movers, origins, strict=True)):
        if mover and year >= MIGRANT_FIRST_BIRTH_YEAR:
            out[k] = MIGRANT_ORIGINS[o][0]
        else:
            out[k] = id_region_code(DISTRICTS[d], int(year))
    return out


def test_stdnum_agrees_on_100k_numbers() -> None:
    """Every number the city can issue passes python-stdnum (which also checks that the
    region code existed in the birth year); damaged ones fail both validators alike."""
    rng = np.random.default_rng(20261124)
    n = 100_000
    births = np.datetime64("1925-11-25") + rng.integers(0, 36_889, n)
    years = births.astype("datetime64[Y]").astype(np.int64) + 1970
    numbers = idcard.make_ids(_region_codes_for(years, rng), births, rng.integers(0, 1000, n))
    damaged = rng.random(n) < 0.3
    wrong = dict(zip("0123456789X", "123456789X0", strict=True))
    for k in np.flatnonzero(damaged):
        s = numbers[k]  # a wrong check character, or month 13
        numbers[k] = s[:17] + wrong[s[17]] if rng.random() < 0.5 else s[:10] + "13" + s[12:]
    ours = np.array([idcard.is_valid(s, today=TODAY) for s in numbers])
    theirs = np.array([ric.is_valid(s) for s in numbers])
    assert (theirs == ours).all()
    assert ours.sum() >= n * 0.69 and not ours[damaged].any()
