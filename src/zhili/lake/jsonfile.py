"""JSON sources: an array of objects, or JSON Lines (one object per line).

Neither is loaded whole: JSON Lines is read line by line, and a JSON array is decoded one
element at a time from a sliding text buffer (`_ArrayDecoder`), so memory holds one batch
of objects. Parsing is Python's own (``json``), one object at a time — JSON uploads are
API extracts, not the bulk path; values become text like every other source's.

Objects have no header: columns are the schema's field names (passed as ``fields``), a
missing key is a null and an unknown key is an ``extra-cell`` error on that row. Row
numbers follow Frictionless (the implicit header is row 1): the n-th object is row
n + 1, and in JSON Lines the object on line n is row n + 1.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TextIO

import pyarrow as pa

from zhili.lake.encoding import EncodingProblem, open_text
from zhili.lake.report import Report, encoding_error, entry, source_error
from zhili.lake.source import (
    FileSource,
    SourceProblem,
    batch_from_rows,
    reader_schema,
    resolve_encoding,
    with_rows,
)


def _keyed_batches(
    objects: Iterator[tuple[int, Any]],
    fields: Sequence[str] | None,
    batch_size: int,
    problems: Report | None,
) -> pa.RecordBatchReader:
    """Batches from (row number, decoded JSON value) pairs.

    Columns are the schema's ``fields`` when given (a missing key is a null, an unknown
    key an ``extra-cell`` error), else the keys of the first object.
    """
    pending: list[tuple[int, Any]] = []
    labels: list[str]
    if fields is not None:
        labels = list(fields)
    else:
        for pair in objects:
            pending.append(pair)
            if isinstance(pair[1], dict):
                break
        first = next((v for _, v in pending if isinstance(v, dict)), None)
        labels = list(first) if first else []
    known = set(labels)

    def problem(error: dict[str, Any]) -> None:
        if problems is None:
            raise SourceProblem(error)
        problems.add(error)

    def generate() -> Iterator[pa.RecordBatch]:
        columns: list[list[Any]] = [[] for _ in labels]
        rows: list[int] = []

        def flush() -> pa.RecordBatch:
            batch = batch_from_rows(labels, columns)
            if problems is not None:
                batch = with_rows(batch, rows)
            for column in columns:
                column.clear()
            rows.clear()
            return batch

        for row, value in itertools.chain(pending, objects):
            if not isinstance(value, dict):
                if problems is not None:
                    problems.rows += 1
                problem(
                    source_error(
                        "not a JSON object",
                        f"Row {row} is not a JSON object.",
                        f"第 {row} 行不是 JSON 对象",
                        row=row,
                    )
                )
                continue
            extra = [k for k in value if k not in known]
            for key in extra:
                problem(
                    entry(
                        "extra-cell",
                        f'key "{key}" is not in the schema',
                        f'Row {row}: key "{key}" is not in the schema.',
                        f"第 {row} 行的键“{key}”不在模式中",
                        row=row,
                        field=key,
                        cell=str(value[key])[:200],
                    )
                )
            for column, name in zip(columns, labels, strict=True):
                column.append(value.get(name))
            rows.append(row)
            if len(rows) >= batch_size:
                yield flush()
        if rows:
            yield flush()

    return pa.RecordBatchReader.from_batches(
        reader_schema(labels, problems is not None), generate()
    )


def _json_error(line: int, detail: str, row: int | None) -> dict[str, Any]:
    return source_error(
        f"line {line}: {detail}",
        f"Line {line} is not valid JSON: {detail}",
        f"第 {line} 行不是有效的 JSON：{detail}",
        row=row,
    )


@dataclass(frozen=True)
class JsonlSource(FileSource):
    """One JSON object per line (JSON Lines / NDJSON); blank lines are skipped."""

    path: Path | str
    encoding: str | None = None
    kind: ClassVar[str] = "jsonl"

    def batches(
        self,
        batch_size: int = 100_000,
        *,
        problems: Report | None = None,
        fields: Sequence[str] | None = None,
    ) -> pa.RecordBatchReader:
        path = self.nonempty_path()
        encoding = resolve_encoding(path, self.encoding)

        def objects() -> Iterator[tuple[int, Any]]:
            with open_text(path, encoding) as text:
                try:
                    for number, line in enumerate(text, start=1):
                        if not line.strip():
                            continue
                        try:
                            yield number + 1, json.loads(line)
                        except json.JSONDecodeError as exc:
                            error = _json_error(number, exc.msg, number + 1)
                            if problems is None:
                                raise SourceProblem(error) from None
                            problems.add(error)
                            problems.rows += 1
                except EncodingProblem as exc:
                    if problems is None:
                        raise
                    problems.add(encoding_error(exc.offset, exc.line, exc.encoding))

        return _keyed_batches(objects(), fields, batch_size, problems)


class _ArrayDecoder:
    """Decodes a top-level JSON array one element at a time from a text stream."""

    def __init__(self, text: TextIO, chunk: int = 1024 * 1024) -> None:
        self._text = text
        self._chunk = chunk
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._lines = 1  # line of self._pos
        self._decoder = json.JSONDecoder()

    def _more(self) -> bool:
        if self._eof:
            return False
        data = self._text.read(self._chunk)
        self._eof = not data
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        return bool(data)

    def _skip_space(self) -> str:
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in " \t\r\n":
                if self._buf[self._pos] == "\n":
                    self._lines += 1
                self._pos += 1
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more():
                return ""

    def _fail(self, detail: str) -> SourceProblem:
        return SourceProblem(_json_error(self._lines, detail, None))

    def __iter__(self) -> Iterator[Any]:
        if self._skip_space() != "[":
            raise self._fail("expected a JSON array of objects")
        self._pos += 1
        if self._skip_space() == "]":
            return
        while True:
            self._skip_space()
            while True:
                try:
                    value, end = self._decoder.raw_decode(self._buf, self._pos)
                    break
                except json.JSONDecodeError as exc:
                    if not self._more():
                        raise self._fail(exc.msg) from None
            self._lines += self._buf.count("\n", self._pos, end)
            self._pos = end
            yield value
            sep = self._skip_space()
            self._pos += 1
            if sep == "]":
                return
            if sep != ",":
                raise self._fail("expected ',' or ']' between array elements")


@dataclass(frozen=True)
class JsonSource(FileSource):
    """A JSON array of objects, decoded incrementally (never loaded whole)."""

    encoding: str | None = None
    kind: ClassVar[str] = "json"

    def batches(
        self,
        batch_size: int = 100_000,
        *,
        problems: Report | None = None,
        fields: Sequence[str] | None = None,
    ) -> pa.RecordBatchReader:
        path = self.nonempty_path()
        encoding = resolve_encoding(path, self.encoding)

        def objects() -> Iterator[tuple[int, Any]]:
            with open_text(path, encoding) as text:
                try:
                    for index, value in enumerate(_ArrayDecoder(text)):
                        yield index + 2, value
                except (SourceProblem, EncodingProblem) as exc:
                    if problems is None:
                        raise
                    if isinstance(exc, EncodingProblem):
                        problems.add(encoding_error(exc.offset, exc.line, exc.encoding))
                    else:
                        problems.add(exc.error)

        return _keyed_batches(objects(), fields, batch_size, problems)
