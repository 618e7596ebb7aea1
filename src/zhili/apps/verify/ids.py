"""Resident ID numbers (公民身份号码, GB 11643) normalised for matching, whole arrays at a time.

Source systems write the same number in many shapes: with spaces, full-width digits typed
in a Chinese input method (``１１０１…``), a lower-case ``x``, or as a first-generation
15-digit number (no century, no check character). Each value becomes the canonical
18-character form, or NULL with a problem code: a verification report must say why a
record could not be matched, so nothing is dropped silently.

The clean-up is pyarrow.compute over the whole array and the checks are NumPy on the
bytes, with the SWAR helpers of the lake's cn-id proof (`zhili.lake.proofs`): no Python
loop per row or per distinct value, since a consumer's file may hold ten million rows.

Example:
    >>> import pyarrow as pa
    >>> n = normalise_ids(pa.array([" 11010519491231002x", "360426910101007", "123"]))
    >>> n.ids.to_pylist()
    ['11010519491231002X', '360426199101010071', None]
    >>> n.problems.to_pylist(), n.converted.to_pylist()
    ([None, None, 'bad_length'], [False, True, False])
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zhili.clock import CITY_TZ
from zhili.lake.proofs import (
    CHECK_BYTES,
    CN_ID_WEIGHTS,
    PROVINCE,
    ascii_number,
    eight_digits,
    fixed_width,
    real_dates,
)

#: Problem codes, in the order they are tested (a value gets the first that applies).
PROBLEMS = (
    "missing",
    "bad_length",
    "bad_characters",
    "bad_region",
    "bad_birth_date",
    "bad_check_digit",
)
#: No birth date before this is plausible (the same bound as the lake's cn-id type).
EARLIEST_BIRTH = dt.date(1850, 1, 1)
_MISSING, _BAD_LENGTH, _BAD_CHARACTERS, _BAD_REGION, _BAD_BIRTH_DATE, _BAD_CHECK_DIGIT = range(1, 7)
_LABELS = pa.array([None, *PROBLEMS], pa.string())  # code 0 (fine) takes to NULL
#: Whitespace anywhere (also U+3000 and no-break spaces) and zero-width characters.
_SPACES = r"[\s\p{Z}\x{200B}-\x{200D}\x{2060}\x{FEFF}]+"

# The check sum reads the 17 digits in base 2, times 2, modulo 11 (`_check_index`), which
# is right because GB 11643's weights are 2 ** (17 - i) modulo 11.
assert tuple(pow(2, 17 - i, 11) for i in range(17)) == CN_ID_WEIGHTS


@dataclass(frozen=True)
class NormalisedIds:
    """Per input value: the canonical number, why there is none, and whether it was 15-digit.

    ``converted`` is True only where ``ids`` holds a number made from a valid 15-digit one;
    a 15-digit number that fails a check keeps its problem code and ``converted`` False.
    """

    ids: pa.Array  # string: canonical 18 characters (upper-case X), NULL where missing/invalid
    problems: pa.Array  # string: NULL when fine, else one of PROBLEMS
    converted: pa.Array  # bool: a 15-digit (first-generation) number was converted to 18


def normalise_ids(
    values: pa.Array | pa.ChunkedArray, *, today: dt.date | None = None
) -> NormalisedIds:
    """Normalise and check resident ID numbers.

    Whitespace is removed, full-width characters become half-width (NFKC) and ``x`` becomes
    ``X``. A 15-digit number gets ``19`` before its two-digit year and its check character.
    A valid number has 17 digits and a digit or ``X``, a known province (the first two
    digits), a real birth date from 1850-01-01 to ``today`` (default: today in the city)
    and the right ISO 7064 MOD 11-2 check character. Non-string input (integers read from a
    spreadsheet, dictionary arrays) is cast to string first.
    """
    if today is None:
        today = dt.datetime.now(CITY_TZ).date()
    text = _clean(values)
    length = np.asarray(pc.fill_null(pc.utf8_length(text), 0))
    fifteen = np.asarray(
        pc.fill_null(pc.and_(pc.equal(pc.utf8_length(text), 15), pc.ascii_is_decimal(text)), False)
    )
    if fifteen.any():
        mask = pa.array(fifteen)
        old = fixed_width(text.filter(mask), 15)[2]
        text = pc.replace_with_mask(text, mask, _strings(_upgrade(old)))

    codes = np.zeros(len(text), np.int8)
    codes[(length != 15) & (length != 18)] = _BAD_LENGTH
    codes[(length == 15) & ~fifteen] = _BAD_CHARACTERS
    sized, rows, chars = fixed_width(text, 18)  # a non-ASCII character makes it longer
    codes[(length == 18) & ~sized] = _BAD_CHARACTERS
    if len(chars):
        found = _diagnose(chars, today)
        if rows is None:
            codes = np.where(codes == 0, found, codes)
        else:
            open_ = codes[rows] == 0
            codes[rows[open_]] = found[open_]
    codes[np.asarray(pc.is_null(text)) | (length == 0)] = _MISSING

    valid = codes == 0
    return NormalisedIds(
        ids=pc.if_else(pa.array(valid), text, pa.scalar(None, pa.string())),
        problems=_LABELS.take(pa.array(codes)),
        converted=pa.array(fifteen & valid),
    )


def problem_counts(n: NormalisedIds) -> dict[str, int]:
    """How many values have each problem code (every code present, zero when absent)."""
    counts = dict.fromkeys(PROBLEMS, 0)
    for item in pc.value_counts(n.problems).to_pylist():
        if item["values"] is not None:
            counts[item["values"]] = item["counts"]
    return counts


def _clean(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The values as strings without whitespace, half-width and upper-case; NFKC (the slow
    part) runs only when some value is not ASCII."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    if pc.any(pc.invert(pc.string_is_ascii(values))).as_py():
        values = pc.utf8_normalize(values, "NFKC")
    return pc.ascii_upper(pc.replace_substring_regex(values, _SPACES, ""))


def _words(chars: np.ndarray, offset: int) -> np.ndarray:
    """Bytes ``offset`` … ``offset`` + 7 of every 18-byte row as little-endian uint64s."""
    flat = np.ascontiguousarray(chars).reshape(-1)
    view = np.ndarray((len(chars),), dtype="<u8", buffer=flat, offset=offset, strides=(18,))
    return np.ascontiguousarray(view)


def _check_index(chars: np.ndarray) -> np.ndarray:
    """Per row of 18 bytes: the weighted sum of the first 17 digits modulo 11 (the index of
    the check character); meaningless where they are not all digits."""
    seventeenth = (chars[:, 16] - np.uint8(48)).astype(np.uint64)
    base2 = (
        ascii_number(_words(chars, 0), 2) * np.uint64(2**9)
        + ascii_number(_words(chars, 8), 2) * np.uint64(2)
        + seventeenth
    )
    return (base2 * np.uint64(2) % np.uint64(11)).astype(np.intp)


def _diagnose(chars: np.ndarray, today: dt.date) -> np.ndarray:
    """Per row of 18 ASCII bytes: the problem code (0 when it is a valid number)."""
    last = chars[:, 17]
    digits = eight_digits(_words(chars, 0)) & eight_digits(_words(chars, 8))
    digits &= chars[:, 16] - np.uint8(48) <= 9  # below "0" wraps around
    characters = digits & (((last >= 48) & (last <= 57)) | (last == ord("X")))
    province = (chars[:, 0] - np.uint8(48)).astype(np.int32) * 10 + (chars[:, 1] - np.uint8(48))
    region = PROVINCE[np.minimum(province, 99)]
    born = ascii_number(_words(chars, 6), 10).astype(np.int64)  # YYYYMMDD
    birth = real_dates(born // 10000, born // 100 % 100, born % 100)
    birth &= (born >= _yyyymmdd(EARLIEST_BIRTH)) & (born <= _yyyymmdd(today))
    check = CHECK_BYTES[_check_index(chars)] == last
    return np.select(
        [~characters, ~region, ~birth, ~check],
        [_BAD_CHARACTERS, _BAD_REGION, _BAD_BIRTH_DATE, _BAD_CHECK_DIGIT],
        0,
    ).astype(np.int8)


def _upgrade(old: np.ndarray) -> np.ndarray:
    """15-digit numbers (rows of bytes) as 18: ``19`` before the year, check character."""
    new = np.zeros((len(old), 18), np.uint8)
    new[:, :6] = old[:, :6]
    new[:, 6:8] = np.frombuffer(b"19", np.uint8)
    new[:, 8:17] = old[:, 6:]
    new[:, 17] = CHECK_BYTES[_check_index(new)]
    return new


def _strings(chars: np.ndarray) -> pa.Array:
    """Rows of a (rows, width) byte matrix as a string array, without copying per row."""
    rows, width = chars.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    data = pa.py_buffer(np.ascontiguousarray(chars))
    strings = pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), data)
    return strings.cast(pa.string())


def _yyyymmdd(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day
