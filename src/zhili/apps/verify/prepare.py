"""An input (a pyarrow Table) turned into the frame Splink reads, after refusing bad input.

Columns are renamed to the rule set's canonical fields so one model reads both inputs,
values are cleaned the way each field's ``prepare`` says (Chinese names normalised with
their pinyin keys, dates as YYYYMMDD text, ID numbers validated and 15 → 18 digits) and the key
becomes ``unique_id``. Nothing is dropped: a record with an invalid ID number keeps its row,
with a NULL ID, and is reported so the probabilistic pass can still find it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from zhili.apps.verify.ids import normalise_ids
from zhili.apps.verify.names import normalise_names, pinyin_columns
from zhili.apps.verify.rules import check_columns
from zhili.apps.verify.spec import ID_FIELD, SIDES, Field, RuleSet
from zhili.errors import InvalidInput

__all__ = ["PROBLEM_SCHEMA", "Prepared", "check_input", "prepare"]

Side = Literal["left", "right"]
UID = "unique_id"
#: Rows whose ID number could not be used: which input, its key, the value, why.
PROBLEM_SCHEMA = pa.schema(
    [("side", pa.string()), ("unique_id", pa.string()), ("value", pa.string()),
     ("problem", pa.string())]
)  # fmt: skip
_SPACES = r"[\s\p{Z}\x{200B}-\x{200D}\x{2060}\x{FEFF}]+"
#: How prepared dates are written (see `compact_dates`).
DATE_FORMAT = "%Y%m%d"
_COMPACT_DATE = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"
_SEPARATED_DATE = r"^(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?$"


@dataclass(frozen=True)
class Prepared:
    """The frame for Splink, and what was found wrong with the input on the way."""

    table: pa.Table
    id_problems: pa.Table = field(default_factory=PROBLEM_SCHEMA.empty_table)
    id_counts: dict[str, int] = field(default_factory=dict)  # problem code → rows
    ids_converted: int = 0  # 15-digit numbers upgraded to 18
    bad_dates: dict[str, int] = field(default_factory=dict)  # field → unreadable dates


def _side_params(side: Side) -> dict[str, str]:
    return {"side": "roster" if side == "left" else "reference", "side_zh": SIDES[side]}


def check_input(table: pa.Table, rules: RuleSet, side: Side) -> None:
    """Refuse an empty input, a missing column, or missing or repeated keys, before any
    work starts (and with the key value, so the file can be fixed)."""
    if table.num_rows == 0:
        raise InvalidInput("verify.empty_input", "The {side} has no records.", **_side_params(side))
    check_columns(rules, table.column_names, side)
    key = rules.unique_id.left if side == "left" else rules.unique_id.right
    keys = _text(table.column(key))
    nulls = keys.null_count
    if nulls:
        raise InvalidInput(
            "verify.missing_ids",
            "The {side} has {count} records without a value in its key column {column}.",
            count=nulls,
            column=key,
            **_side_params(side),
        )
    if pc.count_distinct(keys).as_py() != len(keys):
        counts = pc.value_counts(keys)
        repeated = counts.filter(pc.greater(counts.field("counts"), 1))
        first = repeated[0].as_py()
        raise InvalidInput(
            "verify.duplicate_ids",
            "The {side}'s key column {column} repeats {value} ({count} times); "
            "{duplicates} keys are not unique.",
            column=key,
            value=str(first["values"]),
            count=first["counts"],
            duplicates=len(repeated),
            **_side_params(side),
        )


def prepare(table: pa.Table, rules: RuleSet, side: Side, *, check: bool = True) -> Prepared:
    """The canonical frame of one input (checked with `check_input` first unless the
    caller already did)."""
    if check:
        check_input(table, rules, side)
    pick = (lambda f: f.left) if side == "left" else (lambda f: f.right)
    uid_column = rules.unique_id.left if side == "left" else rules.unique_id.right
    uid = _text(table.column(uid_column))
    arrays: dict[str, pa.Array] = {UID: uid}
    bad_dates: dict[str, int] = {}
    for f in rules.fields:
        raw = table.column(pick(f))
        arrays.update(_prepare_field(f, raw, bad_dates))
    out = Prepared(pa.table(arrays), bad_dates=bad_dates)
    if rules.id_number is None:
        return out
    raw = table.column(pick(rules.id_number))
    if rules.id_number.scheme == "plain":
        arrays[ID_FIELD] = _plain_id(raw)
        return Prepared(pa.table(arrays), bad_dates=bad_dates)
    n = normalise_ids(raw)
    arrays[ID_FIELD] = n.ids
    problems = pc.value_counts(n.problems).to_pylist()
    counts = {p["values"]: p["counts"] for p in problems if p["values"] is not None}
    reported = pc.and_(pc.is_valid(n.problems), pc.not_equal(n.problems, "missing"))
    rows = pc.fill_null(reported, False)
    listed = pa.table(
        {
            "side": pa.array(["roster" if side == "left" else "reference"] * _count(rows)),
            "unique_id": uid.filter(rows),
            "value": _text(raw).filter(rows),
            "problem": n.problems.filter(rows),
        },
        schema=PROBLEM_SCHEMA,
    )
    return Prepared(
        pa.table(arrays),
        id_problems=listed,
        id_counts=counts,
        ids_converted=_count(n.converted),
        bad_dates=bad_dates,
    )


def _prepare_field(f: Field, raw: pa.ChunkedArray, bad_dates: dict[str, int]) -> dict:
    if f.prepare == "chinese_name":
        names = normalise_names(raw)
        keys, readings = pinyin_columns(names)
        return {f.name: names, f"{f.name}_pinyin": keys, f"{f.name}_pinyins": readings}
    if f.prepare == "date":
        dates, unreadable = compact_dates(raw)
        bad_dates[f.name] = unreadable
        return {f.name: dates}
    if f.prepare == "none":
        return {f.name: _text(raw)}
    text = clean_text(raw)
    return {f.name: pc.utf8_lower(text) if f.prepare == "lower" else text}


def _count(mask: pa.Array) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


def _text(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Values as one string array (numbers and dates as their text)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_large_string(values.type) or not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    return values


def clean_text(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Trimmed text, full-width → half-width (NFKC, only when there is non-ASCII text),
    inner whitespace runs as one space, empty → NULL."""
    text = _text(values)
    if pc.any(pc.invert(pc.string_is_ascii(text))).as_py():
        text = pc.utf8_normalize(text, "NFKC")
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _SPACES, " "))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _plain_id(values: pa.ChunkedArray) -> pa.Array:
    """A non-resident identifier (passport, USCC, social security number): no whitespace,
    half-width, upper-case; empty → NULL."""
    text = clean_text(values)
    return pc.utf8_upper(pc.replace_substring_regex(text, " ", ""))


def compact_dates(values: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, int]:
    """Dates as ``YYYYMMDD`` text and how many non-empty values are no real date.

    Compact, as in an ID number, so that digits swapped across the month and the day
    (19941127 / 19941217) are still one transposition apart for the comparison.

    Accepts date and timestamp columns and text such as ``1990-01-02``, ``19900102``,
    ``1990/1/2``, ``1990.1.2`` or ``1990年1月2日`` (a time after a space or ``T`` is ignored).
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_timestamp(values.type):
        values = pc.cast(values, pa.date32()) if values.type.tz is None else values
        if pa.types.is_timestamp(values.type):
            values = pc.cast(pc.local_timestamp(values), pa.date32())
    if pa.types.is_date(values.type):
        return pc.strftime(values, format=DATE_FORMAT), 0
    text = clean_text(values)
    text = pc.utf8_trim(pc.replace_substring_regex(text, r"[ T].*$", ""), " ")
    parts = [pc.extract_regex(text, pattern) for pattern in (_COMPACT_DATE, _SEPARATED_DATE)]
    year, month, day = (
        pc.coalesce(*[pc.struct_field(p, i) for p in parts]) for i in range(3)
    )  # fmt: skip
    iso = pc.binary_join_element_wise(
        year, pc.utf8_lpad(month, 2, "0"), pc.utf8_lpad(day, 2, "0"), "-"
    )
    parsed = pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 1990-02-30 over to 1990-03-02: only a date that reads back is real.
    real = pc.equal(pc.strftime(pc.cast(parsed, pa.date32()), format="%Y-%m-%d"), iso)
    dates = pc.if_else(real, pc.strftime(parsed, format=DATE_FORMAT), None)
    unreadable = _count(pc.and_(pc.is_valid(text), pc.is_null(dates)))
    return dates, unreadable
