"""What every reader shares: the Source protocol, source problems, row numbers, raw text.

A source yields Arrow record batches whose columns are named by the file's own header
(labels) — the validator compares labels with the schema. Text formats yield strings
(raw text, cast during validation); Parquet yields its own types.

A reader runs in one of two modes:

* fast (``problems=None``): the first problem in the source (ragged row, undecodable
  bytes, bad JSON line) raises, because the ingest will then re-read the source in
  diagnostic mode to explain everything;
* diagnostic (``problems=`` a `Report`): problems are added to the report and reading
  goes on where it can, and every batch carries the Frictionless row number of each row
  in an extra int64 column named `ROW`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zhili.lake.encoding import EncodingProblem, detect_encoding
from zhili.lake.report import Report, encoding_error, source_error

#: Name of the row-number column added in diagnostic mode.
ROW = "__zhili_row"


class SourceProblem(Exception):
    """The source cannot be read as data; ``error`` is the report entry explaining why."""

    def __init__(self, error: dict[str, Any], code: str = "lake.validation_failed") -> None:
        super().__init__(error["message"])
        self.error = error
        self.code = code


def resolve_encoding(path: Path, given: str | None) -> str:
    """``given``, or the detected encoding of the file (see `zhili.lake.encoding`)."""
    if given:
        return given
    try:
        return detect_encoding(path)
    except EncodingProblem as problem:
        error = encoding_error(problem.offset, problem.line, problem.encoding)
        raise SourceProblem(error) from None


def empty_file() -> SourceProblem:
    return SourceProblem(
        source_error("the file is empty", "The file is empty.", "文件为空"), "lake.empty_file"
    )


@dataclass(frozen=True)
class FileSource:
    """What every file source shares: its path, its name in reports, and the refusal of an
    empty file before any reader touches it."""

    path: Path | str
    kind: ClassVar[str] = "file"

    def describe(self) -> str:
        return f"{self.kind}:{Path(self.path).name}"

    def nonempty_path(self) -> Path:
        path = Path(self.path)
        if path.stat().st_size == 0:
            raise empty_file()
        return path


class Source(Protocol):
    """A readable input: a file of some kind or a database query."""

    kind: str

    def batches(
        self,
        batch_size: int = 100_000,
        *,
        problems: Report | None = None,
        fields: Sequence[str] | None = None,
    ) -> pa.RecordBatchReader:
        """Open the source and stream it in batches of at most about ``batch_size`` rows
        (CSV follows Arrow's 1 MiB blocks, a few thousand rows each).

        ``fields`` (the schema's names) lets header-less sources such as JSON name their
        columns; sources with a header ignore it. Raises `SourceProblem` when the source
        cannot be opened at all (empty file, not a workbook, zip bomb).
        """
        ...

    def describe(self) -> str:
        """A short text for commit metadata, e.g. ``csv:people.csv``."""
        ...


def row_numbers(first: int, n: int, skipped: Sequence[int] = ()) -> pa.Array:
    """Row numbers of ``n`` records, the first being the ``first``-th (0-based) record read.

    ``skipped`` are the (ascending) row numbers of records dropped by the parser (ragged
    rows): each shifts the numbers of the records after it by one. The header is row 1.
    """
    index = np.arange(first, first + n, dtype=np.int64)
    if len(skipped):
        shifted = np.asarray(skipped, dtype=np.int64) - np.arange(len(skipped)) - 2
        index = index + np.searchsorted(shifted, index, side="right")
    return pa.array(index + 2, pa.int64())


def with_rows(batch: pa.RecordBatch, rows: pa.Array | Sequence[int]) -> pa.RecordBatch:
    return batch.append_column(ROW, pa.array(rows, pa.int64()))


def reader_schema(labels: Sequence[str], diagnostic: bool) -> pa.Schema:
    fields = [pa.field(name, pa.string()) for name in labels]
    if diagnostic:
        fields.append(pa.field(ROW, pa.int64()))
    return pa.schema(fields)


def to_text(value: Any) -> str | None:
    """One Python value as the text a CSV would hold (ISO dates, ``true``, ``5`` for 5.0)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e18 else repr(value)
    if isinstance(value, int | decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def text_column(values: list[Any]) -> pa.Array:
    """Python values as a string array; vectorised when the values share one type."""
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([to_text(v) for v in values], pa.string())
    kind = arr.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return arr.cast(pa.string())
    if pa.types.is_null(kind):
        return pa.nulls(len(arr), pa.string())
    midnight = pa.types.is_timestamp(kind) and kind.tz is None
    if midnight and pc.all(pc.equal(arr, pc.floor_temporal(arr, unit="day"))).as_py() is not False:
        arr = arr.cast(pa.date32())  # spreadsheets and databases give dates as midnights
    if pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return pa.array([to_text(v) for v in values], pa.string())
    return pc.cast(arr, pa.string())


def batch_from_rows(labels: Sequence[str], columns: list[list[Any]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([text_column(c) for c in columns], names=list(labels))
