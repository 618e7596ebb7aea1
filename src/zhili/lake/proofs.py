"""GB 11643 ID numbers, integers and dates proven valid in NumPy over Arrow text buffers.

The lake's ingest and the verification app both need to check millions of short texts
without a Python loop per row. These helpers read a string array's bytes as a fixed-width
matrix and test eight ASCII bytes at once as one uint64 (SWAR); the proofs built on them
are the NumPy twins of the SQL checks in `zhili.lake.sqlgen` (tests hold them to it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: GB 11643: weights of the first 17 digits and the check character for sum mod 11.
CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CN_ID_CHECK = "10X98765432"
#: First two digits of a region code (provinces, 71 Taiwan, 81 Hong Kong, 82 Macau); the
#: same list as zhili.synth.idcard, repeated because the lake sits below synth.
CN_PROVINCES = (
    *range(11, 16),
    *range(21, 24),
    *range(31, 38),
    *range(41, 47),
    *range(50, 55),
    *range(61, 66),
    71,
    81,
    82,
)

HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
ZEROS = np.uint64(0x3030303030303030)  # eight ASCII "0"
SIXES = np.uint64(0x0606060606060606)
CHECK_BYTES = np.frombuffer(CN_ID_CHECK.encode("ascii"), dtype=np.uint8)
PROVINCE = np.zeros(100, dtype=bool)
PROVINCE[list(CN_PROVINCES)] = True
#: Days per month, February at 29 (28 outside leap years is checked apart).
MONTH_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0, 0, 0], np.int32)


def eight_digits(block: np.ndarray) -> np.ndarray:
    """Per uint64 (8 bytes): all of them ASCII digits (SWAR: every byte is 0x3_, and
    adding 6 leaves it 0x3_; no carry crosses bytes once the first test holds)."""
    return ((block & HIGH_NIBBLES) == ZEROS) & (((block + SIXES) & HIGH_NIBBLES) == ZEROS)


def fixed_width(texts: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The non-null texts of exactly ``width`` bytes as a (rows, width) uint8 matrix, with
    a mask of them over all texts and their positions (None: all rows, in order)."""
    n = len(texts)
    if pa.types.is_string(texts.type):
        offset_type: type[np.signedinteger[Any]] = np.int32
    elif pa.types.is_large_string(texts.type):
        offset_type = np.int64
    else:  # string views and the like: nothing proven, SQL decides
        return np.zeros(n, dtype=bool), np.zeros(0, np.int64), np.zeros((0, width), np.uint8)
    validity, offsets_buffer, data_buffer = texts.buffers()
    if n == 0 or offsets_buffer is None or data_buffer is None:
        return np.zeros(n, dtype=bool), np.zeros(0, np.int64), np.zeros((0, width), np.uint8)
    offsets = np.frombuffer(
        offsets_buffer, offset_type, n + 1, texts.offset * np.dtype(offset_type).itemsize
    )
    sized = np.diff(offsets) == width
    if validity is not None:
        bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
        sized &= bits[texts.offset : texts.offset + n].view(bool)
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    if sized.all() and offsets[-1] - offsets[0] == width * n:  # the usual case: no gaps
        return sized, None, data[offsets[0] : offsets[-1]].reshape(n, width)
    rows = np.flatnonzero(sized)
    return sized, rows, data[offsets[:-1][rows].astype(np.int64)[:, None] + np.arange(width)]


def spread(
    sized: np.ndarray, rows: np.ndarray | None, ok: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-candidate verdicts and values back over all rows (0 where not proven)."""
    if rows is None:
        return ok, np.where(ok, values, 0)
    proven = np.zeros(len(sized), dtype=bool)
    proven[rows] = ok
    out = np.zeros(len(sized), dtype=values.dtype)
    out[rows[ok]] = values[ok]
    return proven, out


def real_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (day <= MONTH_DAYS[np.clip(month, 0, 15)])
    feb29 = np.flatnonzero(ok & (month == 2) & (day == 29))
    if len(feb29):
        leap = year[feb29]
        ok[feb29] = (leap % 4 == 0) & ((leap % 100 != 0) | (leap % 400 == 0))
    return ok


def ascii_number(block: np.ndarray, weight: int) -> np.ndarray:
    """Per uint64 of 8 ASCII digits (the first the most significant): their value read
    with digit weights ``weight`` ** 7 … 1 (10: the number), combined SWAR-style in
    lanes of 16, 32 and 64 bits (no lane overflows for weights up to 10)."""
    v = block - ZEROS
    v = (v * np.uint64(weight) + (v >> np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v * np.uint64(weight**2) + (v >> np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    return (v * np.uint64(weight**4) + (v >> np.uint64(32))) & np.uint64(0xFFFFFFFF)


def cn_id_proven(texts: pa.Array, latest_birth: dt.date) -> tuple[np.ndarray, pa.Array]:
    """Per raw text: TRUE where it is certainly a valid GB 11643 number by `_cn_id_ok`
    (as upper-cased by `_text_value`), and the integer of its 17 digits (its sort key).

    It proves a row only when the SQL would certainly accept it, with the same value:
    exactly 18 ASCII bytes, 17 digits and a digit or upper-case ``X`` (so upper-casing
    changes nothing), a known province, a real birth date from 1850-01-01 to
    ``latest_birth`` (given a day before today in UTC, so that it is never after SQL's
    ``current_date`` in the session time zone), and the right check character. The
    digits are read 8 at a time as integers (SWAR); the check sum's weights are 2 ** 17
    … 2 ** 1 modulo 11, so it is the digits read in base 2, modulo 11.
    """
    sized, rows, chars = fixed_width(texts, 18)
    m = len(chars)
    if m == 0:
        return sized, pa.array(np.zeros(len(sized), np.int64))
    flat = np.ascontiguousarray(chars).reshape(-1)

    def eight(offset: int) -> np.ndarray:  # bytes offset … offset + 7 of every number
        view = np.ndarray((m,), dtype="<u8", buffer=flat, offset=offset, strides=(18,))
        return np.ascontiguousarray(view)  # aligned: later operations run 3× faster

    first, second, birth = eight(0), eight(8), eight(6)
    chars = flat.reshape(m, 18)
    last = chars[:, 17]
    seventeenth = chars[:, 16] - np.uint8(48)  # below "0" wraps around
    ok = eight_digits(first) & eight_digits(second) & (seventeenth <= 9)
    ok &= ((last >= 48) & (last <= 57)) | (last == 88)
    province = (chars[:, 0] - np.uint8(48)).astype(np.int32) * 10 + (chars[:, 1] - 48)
    ok &= PROVINCE[np.minimum(province, 99)]
    v = birth - ZEROS
    pairs = v * np.uint64(10) + (v >> np.uint64(8))  # 16-bit lanes: YY YY MM DD
    year = (
        (pairs & np.uint64(0xFF)) * np.uint64(100) + ((pairs >> np.uint64(16)) & np.uint64(0xFF))
    ).astype(np.int64)
    month = ((pairs >> np.uint64(32)) & np.uint64(0xFF)).astype(np.int64)
    day = ((pairs >> np.uint64(48)) & np.uint64(0xFF)).astype(np.int64)
    born = year * 10000 + month * 100 + day
    latest = latest_birth.year * 10000 + latest_birth.month * 100 + latest_birth.day
    ok &= real_dates(year, month, day) & (born >= 18500101) & (born <= latest)
    d17 = seventeenth.astype(np.int64)

    def read(base: int) -> np.ndarray:  # the 17 digits as a number in ``base``
        high = ascii_number(first, base) * np.uint64(base**9)
        return (high + ascii_number(second, base) * np.uint64(base)).astype(np.int64) + d17

    ok &= CHECK_BYTES[read(2) * 2 % 11] == last
    proven, numbers = spread(sized, rows, ok, read(10))
    return proven, pa.array(numbers)


def integer_proven(texts: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Per raw text: TRUE where it is 1 to 18 ASCII digits, which the SQL of a bare-number
    ``integer`` (`_text_value`) reads as the same BIGINT; and that value."""
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        return np.zeros(len(texts), dtype=bool), pa.nulls(len(texts), pa.int64())
    ok = pc.fill_null(
        pc.and_(pc.ascii_is_decimal(texts), pc.less_equal(pc.binary_length(texts), 18)), False
    )
    values = pc.cast(pc.if_else(ok, texts, pa.scalar("0", texts.type)), pa.int64())
    return np.asarray(ok), values


def date_proven(texts: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Per raw text: TRUE where it is ``YYYY-MM-DD`` with two-digit month and day, a real
    date and a year from 1000, which ``try_strptime(…, '%Y-%m-%d')`` reads as the same
    DATE; and that date."""
    sized, rows, chars = fixed_width(texts, 10)
    m = len(chars)
    if m == 0:
        return sized, pa.array(np.zeros(len(sized), np.int32), pa.date32())
    flat = np.ascontiguousarray(chars).reshape(-1)
    block = np.ndarray((m,), dtype="<u8", buffer=flat, offset=0, strides=(10,))  # YYYY-MM-
    block = np.ascontiguousarray(block)
    chars = flat.reshape(m, 10)
    ok = (block >> np.uint64(32)) & np.uint64(0xFF0000FF) == np.uint64(0x2D00002D)  # "-"s
    digits = (block & np.uint64(0x00FFFF00FFFFFFFF)) | np.uint64(0x3000003000000000)  # "-" → "0"
    ok &= eight_digits(digits)
    tens, units = chars[:, 8] - np.uint8(48), chars[:, 9] - np.uint8(48)
    ok &= (tens <= 9) & (units <= 9)
    v = digits - ZEROS
    pairs = v * np.uint64(10) + (v >> np.uint64(8))
    year = (
        (pairs & np.uint64(0xFF)) * np.uint64(100) + ((pairs >> np.uint64(16)) & np.uint64(0xFF))
    ).astype(np.int64)
    month = ((pairs >> np.uint64(40)) & np.uint64(0xFF)).astype(np.int64)
    day = tens.astype(np.int64) * 10 + units
    ok &= (year >= 1000) & real_dates(year, month, day)
    months = np.where(ok, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    days = months.astype("datetime64[D]").astype(np.int64) + day - 1
    proven, values = spread(sized, rows, ok, days.astype(np.int32))
    return proven, pa.array(values, pa.date32())
