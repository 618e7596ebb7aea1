"""Excel workbooks (.xlsx): first or named sheet, header in the first non-empty row.

A workbook is a zip file, and a few hundred kilobytes can expand to gigabytes of sheet
XML (a zip bomb). Before openpyxl touches it, `check_zip` reads the zip directory and
refuses any entry over 1 MiB that expands more than 100 times, or a total over 1 GiB
(error ``lake.xlsx_bomb``). Python's zipfile never inflates more than an entry's declared
size, so a directory that lies about sizes cannot get around the check. The sheet is
read in openpyxl's read-only (streaming) mode.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from zhili.lake.report import Report, cell_count_error, source_error
from zhili.lake.source import (
    FileSource,
    SourceProblem,
    batch_from_rows,
    empty_file,
    reader_schema,
    with_rows,
)

MAX_UNCOMPRESSED = 1024**3
MAX_RATIO = 100
#: Entries smaller than this may compress as well as they like.
RATIO_FLOOR = 1024**2


def _not_workbook(detail: str) -> SourceProblem:
    return SourceProblem(
        source_error(
            detail,
            f"Not a readable .xlsx workbook: {detail}",
            f"不是可读取的 .xlsx 工作簿：{detail}",
        )
    )


def check_zip(path: Path | str) -> None:
    """Refuse a workbook whose zip directory promises a decompression bomb."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _not_workbook(str(exc)) from None
    total = 0
    worst = 0.0
    for info in entries:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR:
            worst = max(worst, ratio)
    if total > MAX_UNCOMPRESSED or worst > MAX_RATIO:
        raise SourceProblem(
            source_error(
                f"expands to {total} bytes, compression ratio up to {worst:.0f}",
                f"The workbook expands to {total} bytes (compression ratio up to "
                f"{worst:.0f}×); refused as a possible zip bomb.",
                f"工作簿解压后达 {total} 字节（压缩比最高 {worst:.0f} 倍），疑似压缩炸弹，已拒绝",
            ),
            "lake.xlsx_bomb",
        )


@dataclass(frozen=True)
class XlsxSource(FileSource):
    """One sheet of an .xlsx workbook (the first one unless ``sheet`` names another)."""

    sheet: str | None = None
    kind: ClassVar[str] = "xlsx"

    def batches(
        self,
        batch_size: int = 100_000,
        *,
        problems: Report | None = None,
        fields: Sequence[str] | None = None,
    ) -> pa.RecordBatchReader:
        import openpyxl

        path = self.nonempty_path()
        check_zip(path)
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise _not_workbook(str(exc)) from None
        try:
            sheet = book[self.sheet] if self.sheet else book.worksheets[0]
        except (KeyError, IndexError):
            book.close()
            raise _not_workbook(f"no sheet {self.sheet!r}") from None
        rows = enumerate(sheet.iter_rows(values_only=True), start=1)
        header: list[Any] = []
        for _, values in rows:
            if any(v is not None for v in values):
                header = list(values)
                break
        while header and header[-1] is None:
            header.pop()
        if not header:
            book.close()
            raise empty_file()
        labels = ["" if v is None else str(v).strip() for v in header]
        width = len(labels)

        def generate() -> Iterator[pa.RecordBatch]:
            columns: list[list[Any]] = [[] for _ in labels]
            numbers: list[int] = []

            def flush() -> pa.RecordBatch:
                batch = batch_from_rows(labels, columns)
                if problems is not None:
                    batch = with_rows(batch, numbers)
                for column in columns:
                    column.clear()
                numbers.clear()
                return batch

            try:
                for number, values in rows:
                    if all(v is None for v in values):
                        continue
                    used = len(values)
                    while used > width and values[used - 1] is None:
                        used -= 1
                    if used > width:
                        error = cell_count_error(number, width, used, repr(values[:used]))
                        if problems is None:
                            raise SourceProblem(error)
                        problems.add(error)
                        problems.rows += 1
                        continue
                    for i, column in enumerate(columns):
                        column.append(values[i] if i < len(values) else None)
                    numbers.append(number)
                    if len(numbers) >= batch_size:
                        yield flush()
                if numbers:
                    yield flush()
            finally:
                book.close()

        return pa.RecordBatchReader.from_batches(
            reader_schema(labels, problems is not None), generate()
        )
