"""Who lives in the demo city: age, sex and ethnicity drawn like a northern Chinese city.

Ages follow birth cohorts (China's births per year, with the 1959–61 famine dip, the
1962–75 boom and the fall after 2017) thinned by Gompertz mortality and lifted at working
ages by migration into the city; the sex ratio at birth follows its historical rise and
women outlive men. Ethnicities follow a municipality in the north (汉族 about 97 %).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from numpy.typing import NDArray

from zhili.synth.sampling import choice, cumulative

AGE_MAX = 100
DAYS_PER_YEAR = 365.2425

#: Births in China (millions) by year from 1950; earlier years are rough constants.
_BIRTHS_FROM_1950 = (
    20.2, 21.0, 21.0, 21.5, 22.6, 19.7, 19.6, 21.7, 19.0, 16.5,  # 1950s
    13.9, 11.9, 24.6, 29.6, 27.3, 27.1, 25.8, 25.6, 27.6, 27.1,  # 1960s
    27.4, 25.7, 25.5, 24.6, 22.3, 21.0, 18.5, 17.9, 17.5, 17.3,  # 1970s
    17.8, 20.6, 22.3, 20.5, 20.5, 22.0, 23.8, 25.2, 24.6, 24.1,  # 1980s
    23.9, 22.6, 21.2, 21.3, 21.0, 20.6, 20.7, 20.4, 19.4, 18.3,  # 1990s
    17.7, 17.0, 16.5, 16.0, 15.9, 16.2, 15.8, 15.9, 16.1, 15.9,  # 2000s
    15.9, 16.0, 16.4, 16.4, 16.9, 16.6, 17.9, 17.2, 15.2, 14.7,  # 2010s
    12.0, 10.6, 9.6, 9.0, 9.5, 8.7, 8.5,  # 2020–2026
)  # fmt: skip
#: Sex ratio at birth (boys per girl) at anchor years, interpolated in between.
_SRB_YEARS = (1900, 1980, 1990, 2004, 2015, 2030)
_SRB = (1.06, 1.07, 1.12, 1.20, 1.13, 1.10)
#: Gompertz mortality: survival to age a is exp(-k (e^(c a) - 1)); (k, c) for men, women.
_GOMPERTZ = ((2.17e-4, 0.099), (3.6e-5, 0.115))

#: GB/T 3304 code and name; relative share.
ETHNICITIES: tuple[tuple[str, str, float], ...] = (
    ("01", "汉族", 97.0),
    ("03", "回族", 1.25),
    ("11", "满族", 0.85),
    ("02", "蒙古族", 0.25),
    ("10", "朝鲜族", 0.12),
    ("15", "土家族", 0.1),
    ("08", "壮族", 0.08),
    ("06", "苗族", 0.06),
    ("07", "彝族", 0.04),
    ("05", "维吾尔族", 0.03),
    ("04", "藏族", 0.02),
    ("09", "布依族", 0.02),
    ("12", "侗族", 0.02),
)
_ETHNICITY_CDF = cumulative([share for _, _, share in ETHNICITIES])


def births_in(year: int) -> float:
    """Births in China in ``year`` (millions), rough before 1950."""
    if year >= 1950:
        return _BIRTHS_FROM_1950[min(year - 1950, len(_BIRTHS_FROM_1950) - 1)]
    return 15.0 if 1937 <= year <= 1945 else 17.5


def age_sex_weights(as_of: dt.date) -> NDArray[np.float64]:
    """Relative number of residents by sex (row 0 men, row 1 women) and age 0–100."""
    ages = np.arange(AGE_MAX + 1)
    births = np.array([births_in(as_of.year - a) for a in ages])
    srb = np.interp(as_of.year - ages, _SRB_YEARS, _SRB)
    male_share = srb / (1 + srb)
    migration = 1 + 0.35 * np.exp(-(((ages - 32) / 11.0) ** 2))
    out = np.empty((2, AGE_MAX + 1))
    for sex, (k, c) in enumerate(_GOMPERTZ):
        survival = np.exp(-k * (np.exp(c * ages) - 1))
        share = male_share if sex == 0 else 1 - male_share
        out[sex] = births * share * survival * migration
    return out


class AgeSexTable:
    """Draws sex codes (1 male, 2 female) and ages in days at ``as_of`` (0 = born that
    day); days stay below 101 years, so every age is 0–100."""

    def __init__(self, as_of: dt.date) -> None:
        self.as_of = as_of
        self._cdf = cumulative(age_sex_weights(as_of).ravel())
        #: Number of possible ages in days: 0 .. max_days - 1.
        self.max_days = (as_of - _years_before(as_of, AGE_MAX + 1)).days

    def draw(self, rng: np.random.Generator, n: int) -> tuple[NDArray[np.int8], NDArray[np.int64]]:
        cell = choice(rng, self._cdf, n)
        sex = (cell // (AGE_MAX + 1) + 1).astype(np.int8)
        age = cell % (AGE_MAX + 1)
        days = np.floor((age + rng.random(n)) * DAYS_PER_YEAR).astype(np.int64)
        return sex, np.minimum(days, self.max_days - 1)


def draw_ethnicity(rng: np.random.Generator, n: int) -> NDArray[np.int64]:
    """Indices into `ETHNICITIES`."""
    return choice(rng, _ETHNICITY_CDF, n)


def _years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier (28 February for 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def ages_at(as_of: dt.date, births: NDArray[np.datetime64]) -> NDArray[np.int64]:
    """Completed years of age at ``as_of`` for datetime64[D] birth dates."""
    b = births.astype("datetime64[D]")
    by = b.astype("datetime64[Y]").astype(np.int64) + 1970
    bm = (b.astype("datetime64[M]") - b.astype("datetime64[Y]")).astype(np.int64) + 1
    bd = (b - b.astype("datetime64[M]")).astype(np.int64) + 1
    before = (bm > as_of.month) | ((bm == as_of.month) & (bd > as_of.day))
    return as_of.year - by - before.astype(np.int64)
