"""Readers for CSV and Parquet files, and `detect_source` choosing a reader by file name.

Each source is a small frozen dataclass with a ``kind`` tag; ``batches()`` streams it as
Arrow record batches (see `zhili.lake.source` for the two reading modes). Nothing reads a
whole file into memory: CSV goes through Arrow's streaming reader (after a strict UTF-8
transcode when the file is GBK/GB18030), Parquet row group by row group. JSON, workbooks
and database queries live in `zhili.lake.jsonfile`, `zhili.lake.xlsx` and
`zhili.lake.sql`.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from zhili.errors import InvalidInput
from zhili.lake.encoding import EncodingProblem, locate_invalid, open_utf8
from zhili.lake.jsonfile import JsonlSource, JsonSource
from zhili.lake.report import Report, cell_count_error, encoding_error, source_error
from zhili.lake.source import (
    ROW,
    FileSource,
    Source,
    SourceProblem,
    empty_file,
    reader_schema,
    resolve_encoding,
    row_numbers,
    with_rows,
)
from zhili.lake.sql import SqlSource
from zhili.lake.xlsx import XlsxSource

HEADER_PEEK = 1024 * 1024
#: Arrow's streaming CSV reader keeps a few dozen blocks in flight: with 1 MiB blocks
#: that is ~40 MB whatever the file size (12 MiB blocks held a whole 230 MB file), and
#: small blocks parse no slower.
BLOCK = 1024 * 1024


@dataclass(frozen=True)
class CsvSource(FileSource):
    """A delimited text file with a header row; ``encoding`` None means detect it."""

    path: Path | str
    encoding: str | None = None
    delimiter: str = ","
    kind: ClassVar[str] = "csv"

    def _header(self, path: Path, encoding: str) -> list[str]:
        """The header's labels (to read every column as text)."""
        with open(path, "rb") as f:
            head = f.read(HEADER_PEEK)
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        try:
            text = decoder.decode(head, len(head) < HEADER_PEEK)
        except UnicodeDecodeError as exc:
            line = head[: exc.start].count(b"\n") + 1
            raise SourceProblem(encoding_error(exc.start, line, encoding)) from None
        text = text.removeprefix("\ufeff")
        for labels in csv.reader(io.StringIO(text), delimiter=self.delimiter):
            if labels:
                return labels
        raise empty_file()

    def batches(
        self,
        batch_size: int = 100_000,
        *,
        problems: Report | None = None,
        fields: Sequence[str] | None = None,
    ) -> pa.RecordBatchReader:
        path = self.nonempty_path()
        encoding = resolve_encoding(path, self.encoding)
        labels = self._header(path, encoding)
        skipped: list[int] = []
        ragged: list[dict[str, Any]] = []  # fast mode: the first ragged row

        def on_bad_row(row: Any) -> str:
            # Arrow ignores exceptions raised here, so the problem is handed over instead.
            error = cell_count_error(row.number, row.expected_columns, row.actual_columns, row.text)
            if problems is None:
                ragged.append(error)
                return "skip"
            problems.add(error)
            problems.rows += 1
            if row.number is not None:
                skipped.append(row.number)
            return "skip"

        if encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig"):
            stream: Any = str(path)
        else:
            stream = open_utf8(path, encoding)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(use_threads=problems is None, block_size=BLOCK),
            parse_options=pacsv.ParseOptions(
                delimiter=self.delimiter,
                newlines_in_values=True,
                invalid_row_handler=on_bad_row,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in labels},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        if reader.schema.names != labels:
            raise SourceProblem(
                source_error(
                    "header parsed differently",
                    "The header row could not be read consistently; check its quoting.",
                    "无法一致地解析表头，请检查引号",
                )
            )

        def generate() -> Iterator[pa.RecordBatch]:
            seen = 0
            try:
                for batch in reader:
                    if ragged:
                        raise SourceProblem(ragged[0])
                    if problems is not None:
                        batch = with_rows(batch, row_numbers(seen, batch.num_rows, skipped))
                    seen += batch.num_rows
                    yield batch
                if ragged:
                    raise SourceProblem(ragged[0])
            except EncodingProblem as exc:
                if problems is None:
                    raise
                problems.add(encoding_error(exc.offset, exc.line, exc.encoding))
            except pa.ArrowInvalid as exc:
                if problems is None:
                    raise
                found = locate_invalid(path, encoding) if "UTF8" in str(exc) else None
                if found is not None:
                    problems.add(encoding_error(found.offset, found.line, encoding))
                else:
                    problems.add(
                        source_error(
                            str(exc), f"The file could not be read: {exc}", f"无法读取文件：{exc}"
                        )
                    )

        schema = reader_schema(labels, problems is not None)
        return pa.RecordBatchReader.from_batches(schema, generate())


@dataclass(frozen=True)
class ParquetSource(FileSource):
    """A Parquet file, streamed row group by row group with its own column types."""

    kind: ClassVar[str] = "parquet"

    def batches(
        self,
        batch_size: int = 100_000,
        *,
        problems: Report | None = None,
        fields: Sequence[str] | None = None,
    ) -> pa.RecordBatchReader:
        path = self.nonempty_path()
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceProblem(
                source_error(
                    str(exc),
                    f"Not a readable Parquet file: {exc}",
                    f"不是可读取的 Parquet 文件：{exc}",
                )
            ) from None
        plain = pa.schema(
            [
                pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                for f in parquet.schema_arrow
            ]
        )
        out = plain.append(pa.field(ROW, pa.int64())) if problems is not None else plain

        def generate() -> Iterator[pa.RecordBatch]:
            seen = 0
            for batch in parquet.iter_batches(batch_size=batch_size):
                batch = pa.RecordBatch.from_arrays(
                    [col.cast(f.type) for col, f in zip(batch.columns, plain, strict=True)],
                    schema=plain,
                )
                if problems is not None:
                    batch = with_rows(batch, row_numbers(seen, batch.num_rows))
                seen += batch.num_rows
                yield batch

        return pa.RecordBatchReader.from_batches(out, generate())


AnySource = CsvSource | JsonSource | JsonlSource | ParquetSource | XlsxSource | SqlSource

_BY_EXTENSION: dict[str, Any] = {
    ".csv": CsvSource,
    ".txt": CsvSource,
    ".json": JsonSource,
    ".jsonl": JsonlSource,
    ".ndjson": JsonlSource,
    ".parquet": ParquetSource,
    ".xlsx": XlsxSource,
}


def detect_source(path: Path | str, filename: str | None = None) -> Source:
    """The source for a stored file, chosen by the extension of its (original) name."""
    name = filename or str(path)
    suffix = Path(name).suffix.lower()
    if suffix == ".tsv":
        return CsvSource(Path(path), delimiter="\t")
    kind = _BY_EXTENSION.get(suffix)
    if kind is None:
        raise InvalidInput(
            "lake.unknown_format",
            "Cannot read {filename}: use .csv, .txt, .json, .jsonl, .ndjson, .parquet or .xlsx.",
            filename=Path(name).name,
        )
    source: Source = kind(Path(path))
    return source
