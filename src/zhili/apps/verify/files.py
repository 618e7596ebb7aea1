"""Rosters read from files and matches written to them, for the ad-hoc command line.

Reading goes through the lake's readers, so a roster is read like any upload: CSV in
UTF-8 or GB18030 (every column as text, so ID numbers keep their leading zeros and
trailing X), TSV, JSON, Parquet or a workbook. Matches are written as CSV (UTF-8 with a
BOM, so Excel shows the Chinese) or Parquet.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from zhili.errors import InvalidInput

__all__ = ["FORMATS", "output_format", "read_table", "write_table"]

FORMATS = ("csv", "parquet")


def read_table(path: Path) -> pa.Table:
    """The whole file as one Arrow table (`lake.unknown_format` for other extensions)."""
    from zhili.lake.readers import detect_source
    from zhili.lake.source import SourceProblem

    source = detect_source(path)
    try:
        return source.batches().read_all()
    except SourceProblem as exc:
        raise InvalidInput(
            "verify.unreadable_input",
            "Cannot read {filename}: {problem}",
            filename=path.name,
            problem=exc.error.get("message", str(exc)),
        ) from None
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
        raise InvalidInput(
            "verify.unreadable_input",
            "Cannot read {filename}: {problem}",
            filename=path.name,
            problem=str(exc).splitlines()[0],
        ) from None


def output_format(path: Path, given: str | None) -> str:
    """``given``, else the output's extension (``.csv`` or ``.parquet``)."""
    fmt = (given or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise InvalidInput(
            "verify.unknown_output_format",
            "Cannot write {filename}: use .csv or .parquet, or give --format.",
            filename=path.name,
        )
    return fmt


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    """Write ``table`` atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    if fmt == "parquet":
        pq.write_table(table, partial, compression="zstd")
    else:
        with open(partial, "wb") as f:
            f.write(b"\xef\xbb\xbf")
            pacsv.write_csv(table, f)
    partial.replace(path)
