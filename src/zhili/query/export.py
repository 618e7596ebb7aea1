"""Stream a query's result as CSV, JSON Lines or Parquet, in bounded memory.

Each writer is a generator of ``bytes`` chunks fed batch by batch from an engine's
``RecordBatchReader`` (:meth:`~zhili.query.engine.Engine.stream`), so a web response or a
file can be written while the engine is still producing rows, and memory depends on the
batch size, not on the result. Parquet needs its footer written last, so it is spooled to
a temporary file (in memory while small) and then streamed out.

* CSV: UTF-8, header row, RFC 4180 quoting; ``bom=True`` prepends a byte-order mark so
  Excel opens Chinese text correctly. Timestamps read ``2024-05-01 00:00:00.000000Z`` (UTC).
* JSONL: one JSON object per row; dates and timestamps as ISO 8601 strings, decimals as
  strings (no precision lost), binary as base64url.
* Parquet: the engine's Arrow types, zstd-compressed, row groups of ~64k rows.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from zhili.query.coerce import to_json_value
from zhili.query.engine import Engine
from zhili.query.messages import invalid
from zhili.query.model import Query
from zhili.query.snapshot import Snapshot

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "ExportFormat",
    "export_query",
    "to_csv",
    "to_jsonl",
    "to_parquet",
]

ExportFormat = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/jsonl",
    "parquet": "application/vnd.apache.parquet",
}
BOM = b"\xef\xbb\xbf"
#: Size of the chunks a spooled Parquet file is streamed in.
CHUNK = 1 << 20
#: A Parquet result smaller than this stays in memory while it is written.
SPOOL_IN_MEMORY = 8 << 20


def _drain(buffer: io.BytesIO) -> bytes:
    data = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return data


def to_csv(reader: pa.RecordBatchReader, *, bom: bool = False) -> Iterator[bytes]:
    """CSV bytes, one chunk per batch (the first chunk carries the header)."""
    if bom:
        yield BOM
    buffer = io.BytesIO()
    with pacsv.CSVWriter(buffer, reader.schema) as writer:
        yield _drain(buffer)  # the header
        for batch in reader:
            writer.write_batch(batch)
            chunk = _drain(buffer)
            if chunk:
                yield chunk
    tail = _drain(buffer)
    if tail:
        yield tail


def to_jsonl(reader: pa.RecordBatchReader) -> Iterator[bytes]:
    """JSON Lines bytes, one chunk per batch."""
    for batch in reader:
        lines = [
            json.dumps(
                {k: to_json_value(v) for k, v in row.items()},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            for row in batch.to_pylist()
        ]
        if lines:
            yield ("\n".join(lines) + "\n").encode()


def to_parquet(
    reader: pa.RecordBatchReader, *, compression: str = "zstd", row_group_size: int = 65_536
) -> Iterator[bytes]:
    """Parquet bytes: written to a spooled temporary file, then streamed.

    Small engine batches are gathered into row groups of ``row_group_size`` rows (one row
    group in memory at a time), so the file reads well whatever the batch size.
    """
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        with pq.ParquetWriter(spool, reader.schema, compression=compression) as writer:
            pending: list[pa.RecordBatch] = []
            rows = 0
            for batch in reader:
                pending.append(batch)
                rows += batch.num_rows
                if rows >= row_group_size:
                    writer.write_table(pa.Table.from_batches(pending, reader.schema))
                    pending, rows = [], 0
            if pending:
                writer.write_table(pa.Table.from_batches(pending, reader.schema))
        spool.seek(0)
        while chunk := spool.read(CHUNK):
            yield chunk


def _counted(
    reader: pa.RecordBatchReader, max_rows: int | None, on_rows: Callable[[int], None] | None
) -> pa.RecordBatchReader:
    def batches() -> Iterator[pa.RecordBatch]:
        left = max_rows
        for batch in reader:
            if left is not None:
                if left <= 0:
                    break
                batch = batch.slice(0, left)
                left -= batch.num_rows
            if on_rows is not None:
                on_rows(batch.num_rows)
            yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def export_query(
    engine: Engine,
    snapshot: Snapshot,
    query: Query,
    format: ExportFormat,
    *,
    primary_key: Sequence[str] | None = None,
    bom: bool = False,
    batch_size: int = 16_384,
    max_rows: int | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The whole result of ``query`` (fields, filters, sort; no limit) in ``format``;
    ``max_rows`` cuts it short (a grant's row quota) and ``on_rows`` counts what left.

    Raises:
        InvalidInput: ``query.bad_format`` for an unknown format, or the query's own errors
            (raised here, before the first chunk, so a web layer can still answer 422).
    """
    if format not in FORMATS:
        raise invalid(
            "query.bad_format",
            parameter="format",
            format=format,
            allowed=", ".join(FORMATS),
        )
    reader = engine.stream(snapshot, query, primary_key=primary_key, batch_size=batch_size)
    if max_rows is not None or on_rows is not None:
        reader = _counted(reader, max_rows, on_rows)
    if format == "csv":
        return to_csv(reader, bom=bom)
    if format == "jsonl":
        return to_jsonl(reader)
    return to_parquet(reader)
