"""How many rows a file holds, cheaply and roughly, so a progress bar has an end.

Parquet knows exactly (footer metadata); line-based text (CSV, TSV, JSONL) is estimated by
counting newlines in large binary chunks (~1 GB/s; quoted newlines make it an upper
bound); XLSX sheets declare their dimension; a JSON array is unknown (None).
"""

from __future__ import annotations

from pathlib import Path

CHUNK = 8 * 1024 * 1024


def _newlines(path: Path) -> int:
    count, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def estimate_rows(path: Path, filename: str | None = None) -> int | None:
    suffix = Path(filename or path.name).suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if suffix in (".csv", ".tsv", ".txt"):
            return max(_newlines(path) - 1, 0)
        if suffix in (".jsonl", ".ndjson"):
            return _newlines(path)
        if suffix == ".xlsx":
            from openpyxl import load_workbook

            book = load_workbook(path, read_only=True)
            try:
                return max((book.worksheets[0].max_row or 1) - 1, 0)
            finally:
                book.close()
    except Exception:  # an estimate must never fail the load; the reader reports problems
        return None
    return None
