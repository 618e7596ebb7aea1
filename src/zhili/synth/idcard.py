"""Citizen identity numbers (公民身份号码, GB 11643-1999): check digit, validation, batch build.

An 18-character number is ``RRRRRR YYYYMMDD SSS C``: the 6-digit region code where it
was issued, the birth date, a 3-digit sequence (odd for men, even for women) and an
ISO 7064 MOD 11-2 check character (``X`` stands for 10). The demo population needs
millions of them, so besides the scalar helpers there is `make_ids`, which builds whole
arrays with numpy and no Python loop.

Synthetic numbers use real region codes and can therefore coincide with a real person's
number: never present generated data as real.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from numpy.typing import ArrayLike, NDArray

from zhili.clock import CITY_TZ

#: Weights 2^(17-i) mod 11 of the first 17 digits.
WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: Check character for each weighted sum modulo 11.
CHECK_CHARS = "10X98765432"
#: First two digits of the region code: provinces, Taiwan (71), Hong Kong (81), Macau (82).
PROVINCE_CODES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
)

_WEIGHTS = np.array(WEIGHTS, dtype=np.int64)
_CHECK_ASCII = np.frombuffer(CHECK_CHARS.encode("ascii"), dtype=np.uint8)


def check_digit(first17: str) -> str:
    """The check character for the first 17 digits.

    Example:
        >>> check_digit("11010519491231002")
        'X'
    """
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def make_id(region6: str | int, birth: dt.date, seq3: int) -> str:
    """One identity number; ``seq3`` odd for a man, even for a woman.

    Example:
        >>> make_id("110105", dt.date(1949, 12, 31), 2)
        '11010519491231002X'
    """
    region = f"{int(region6):06d}"
    if len(region) != 6 or int(region[:2]) not in PROVINCE_CODES:
        raise ValueError(f"not a region code: {region6!r}")
    if not 0 <= seq3 <= 999:
        raise ValueError(f"sequence must be 0–999, got {seq3}")
    first17 = f"{region}{birth:%Y%m%d}{seq3:03d}"
    return first17 + check_digit(first17)


def birth_date(number: str) -> dt.date:
    """The birth date encoded in a number (raises ValueError when it is no real date)."""
    return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def sex_code(number: str) -> int:
    """1 (male) when the 17th digit is odd, else 2 (female), as in GB/T 2261.1."""
    return 1 if int(number[16]) % 2 else 2


def is_valid(number: str, *, today: dt.date | None = None) -> bool:
    """Whether ``number`` is well formed: 18 characters, a known province, a real birth
    date not after ``today`` (default: today in the city) and the right check character."""
    if len(number) != 18 or not number.isascii():
        return False
    first17, check = number[:17], number[17].upper()
    if not first17.isdigit() or int(first17[:2]) not in PROVINCE_CODES:
        return False
    try:
        born = birth_date(number)
    except ValueError:
        return False
    limit = today or dt.datetime.now(CITY_TZ).date()
    if born.year < 1850 or born > limit:
        return False
    return check == check_digit(first17)


def _yyyymmdd(births: ArrayLike) -> NDArray[np.int64]:
    """Birth dates as ``YYYYMMDD`` integers, from datetime64 or already-integer arrays."""
    arr = np.asarray(births)
    if np.issubdtype(arr.dtype, np.datetime64):
        days = arr.astype("datetime64[D]")
        years = days.astype("datetime64[Y]")
        months = days.astype("datetime64[M]")
        y = years.astype(np.int64) + 1970
        m = (months - years).astype(np.int64) + 1
        d = (days - months).astype(np.int64) + 1
        return y * 10_000 + m * 100 + d
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    raise TypeError(f"births must be datetime64 or YYYYMMDD integers, not {arr.dtype}")


def id_digits(regions: ArrayLike, births: ArrayLike, seqs: ArrayLike) -> NDArray[np.uint8]:
    """The numbers as an ``(n, 18)`` array of ASCII codes (the fast path for Arrow).

    Args:
        regions: 6-digit region codes as integers.
        births: birth dates, ``datetime64`` or ``YYYYMMDD`` integers.
        seqs: sequence numbers 0–999 (odd = male).
    """
    region = np.asarray(regions, dtype=np.int64)
    seq = np.asarray(seqs, dtype=np.int64)
    ymd = _yyyymmdd(births)
    if not (region.shape == seq.shape == ymd.shape) or region.ndim != 1:
        raise ValueError("regions, births and seqs must be 1-D arrays of one length")
    if len(region) and (
        region.min() < 100_000
        or region.max() > 999_999
        or seq.min() < 0
        or seq.max() > 999
        or ymd.min() < 1850_01_01
    ):
        raise ValueError("region codes must have 6 digits, sequences 0–999, births >= 1850")
    value = (region * 100_000_000 + ymd) * 1000 + seq  # the first 17 digits, < 2**63
    digits = np.empty((len(value), 18), dtype=np.int64)
    for pos in range(16, -1, -1):
        value, digits[:, pos] = np.divmod(value, 10)
    out = (digits + ord("0")).astype(np.uint8)
    out[:, 17] = _CHECK_ASCII[(digits[:, :17] @ _WEIGHTS) % 11]
    return out


def make_ids(regions: ArrayLike, births: ArrayLike, seqs: ArrayLike) -> NDArray[np.str_]:
    """Many numbers at once, as a ``<U18`` array; see `id_digits` for the arguments.

    Example:
        >>> make_ids([110105], np.array(["1949-12-31"], dtype="datetime64[D]"), [2]).tolist()
        ['11010519491231002X']
    """
    digits = id_digits(regions, births, seqs)
    return np.ascontiguousarray(digits).view("S18").ravel().astype("U18")
