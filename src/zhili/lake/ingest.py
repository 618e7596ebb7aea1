"""Ingest: read a source, validate it against a Table Schema, commit one Delta version.

The happy path reads the source once. DuckDB pulls the source's Arrow stream through
one SELECT that casts every field and raises at the first row breaking a rule, sorts by
the primary key (spilling to disk past ``memory_limit``) and writes the typed rows as
Parquet files (100k-row row groups) into this ingest's staging directory. Keys are then
checked over the staged files — repeats within the input and, when appending, keys the
table already holds — and only then is anything committed, as a single Delta commit
(`zhili.lake.commit`). Memory stays bounded by the batch size and DuckDB's limit, not
by the size of the input.

When anything is wrong the source is read again in diagnostic mode (`validate.diagnose`)
to build the full report, and `ValidationFailed` is raised with it; the staging
directory is removed and the table is untouched. A crash at any point leaves the table
at its previous version (nothing committed) or the new one (the log entry is written
atomically); the next ingest removes a crashed one's leftovers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
from deltalake import DeltaTable
from deltalake import Schema as DeltaSchema

from zhili.errors import InvalidInput
from zhili.lake.commit import ROW_GROUP, Committed, commit_files, merge_files, write_files
from zhili.lake.encoding import EncodingProblem
from zhili.lake.report import ValidationFailed
from zhili.lake.schema import TableSpec, arrow_schema
from zhili.lake.source import Source, SourceProblem
from zhili.lake.sqlgen import ident, lit
from zhili.lake.staging import Staging
from zhili.lake.table import LakeTable
from zhili.lake.validate import Validator, connect, diagnose, one

Mode = Literal["append", "replace", "upsert"]
#: Failures of the fast path that the data may explain (a broken rule raised by the
#: guard, an unreadable row or byte); others — out of memory, disk full — are raised as
#: they are, without a second pass.
DATA_FAILURES = (
    duckdb.InvalidInputException,
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    pa.ArrowException,
    SourceProblem,
    EncodingProblem,
)
MODES = ("append", "replace", "upsert")


@dataclass(frozen=True)
class IngestResult:
    """The committed version, how much it holds, and the (clean) validation report."""

    version: int
    rows: int
    bytes: int
    files: int
    report: dict[str, Any]


def _delta_types(schema: pa.Schema | DeltaSchema) -> dict[str, str]:
    delta = schema if isinstance(schema, DeltaSchema) else DeltaSchema.from_arrow(schema)
    return {f.name: str(getattr(f.type, "type", f.type)) for f in delta.fields}


def check_compatible(table: DeltaTable, schema: pa.Schema) -> None:
    """New rows must have exactly the table's columns and types (append, upsert)."""
    theirs = _delta_types(table.schema())
    ours = _delta_types(schema)
    for name in [*ours, *(n for n in theirs if n not in ours)]:
        if theirs.get(name) != ours.get(name):
            raise InvalidInput(
                "lake.type_mismatch",
                "Column {column} is {table_type} in the table but {new_type} in the new "
                "schema; nothing was written.",
                column=name,
                table_type=theirs.get(name, "absent"),
                new_type=ours.get(name, "absent"),
            )


def _existing_keys(
    con: duckdb.DuckDBPyConnection, table: LakeTable, snapshot: DeltaTable
) -> str | None:
    """A SQL relation over the snapshot's rows, for key clashes on append."""
    if table.path is not None:
        uris = snapshot.file_uris()
        if not uris:
            return None
        return f"read_parquet([{', '.join(lit(u) for u in uris)}])"
    con.register("zhili_existing", snapshot.to_pyarrow_dataset())
    return "zhili_existing"


def _stage(
    source: Source,
    validator: Validator,
    con: duckdb.DuckDBPyConnection,
    target: Path,
    batch_size: int,
    progress: Callable[[int], None] | None,
    order_by: tuple[str, ...],
) -> int:
    """The fast path: validated, typed, sorted rows in the Parquet file ``target``; returns
    the row count. Raises whatever stopped it (a rule broken, an unreadable source).

    One file per ingest: DuckDB keeps the ORDER BY across row groups only when writing a
    single file (rotating files interleaves them), and sorted, non-overlapping row
    groups are what lets key lookups skip data.
    """
    reader = source.batches(batch_size, fields=validator.spec.names)
    if validator.label_errors(reader.schema.names):
        raise SourceProblem({"message": "header does not match the schema"})
    compiled = validator.plan(reader.schema)
    if isinstance(compiled, list):
        raise SourceProblem({"message": "column types do not fit the schema"})
    seen = 0

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal seen
        for batch in reader:
            seen += batch.num_rows
            if progress is not None:
                progress(seen)
            yield batch

    con.register("zhili_source", pa.RecordBatchReader.from_batches(reader.schema, counted()))
    try:
        con.execute(
            f"COPY ({compiled.guarded_select('zhili_source', order_by)}) TO {lit(str(target))} "
            f"(FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE {ROW_GROUP})"
        )
    finally:
        con.unregister("zhili_source")
    return seen


def _keys_clean(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, files: list[Path], existing: str | None
) -> bool:
    """No key repeats within the staged files, nor (appending) against the table."""
    staged = f"read_parquet([{', '.join(lit(str(f)) for f in files)}])"
    for key in spec.keys:
        cols = ", ".join(ident(n) for n in key.fields)
        present = " AND ".join(f"{ident(n)} IS NOT NULL" for n in key.fields)
        mine = f"SELECT {cols} FROM {staged} WHERE {present}"
        (repeats,) = one(con, f"SELECT count(*) - count(DISTINCT ({cols})) FROM ({mine})")
        if repeats:
            return False
        if existing is not None:
            (clash,) = one(
                con,
                f"SELECT count(*) FROM ({mine}) SEMI JOIN (SELECT {cols} FROM {existing}) "
                f"USING ({cols})",
            )
            if clash:
                return False
    return True


def _commit(
    table: LakeTable,
    mode: Mode,
    files: list[Path],
    spec: TableSpec,
    schema: pa.Schema,
    metadata: dict[str, Any],
    stage: Staging,
    snapshot: DeltaTable | None,
) -> Committed:
    if mode == "upsert" and snapshot is not None:
        return merge_files(table, snapshot, files, spec.primary_key, schema, metadata)
    plain = "replace" if mode == "replace" else "append"
    if table.path is not None:
        return commit_files(table, snapshot, files, plain, schema, metadata, stage)
    return write_files(table, snapshot, files, plain, schema, metadata)


def ingest(
    source: Source,
    table_schema: Mapping[str, Any] | TableSpec,
    table: LakeTable,
    mode: Mode = "append",
    *,
    batch_size: int = 100_000,
    max_errors: int = 1000,
    progress: Callable[[int], None] | None = None,
    commit_properties: Mapping[str, Any] | None = None,
    memory_limit: str = "1GB",
    threads: int | None = None,
    sort: bool = True,
) -> IngestResult:
    """Validate ``source`` against ``table_schema`` and commit it to ``table`` as one version.

    ``mode``: ``append`` adds rows (keys must not clash with the table's), ``replace``
    makes the input the table's whole content (and schema), ``upsert`` merges on the
    primary key. ``progress(rows read)`` is called after each batch;
    ``commit_properties`` (e.g. ``{"zhili.user": "alice"}``) go into the commit's
    metadata and show in `LakeTable.history`. ``sort`` orders rows by the primary key so
    key lookups can skip row groups. ``batch_size`` is the reading batch (diagnostic
    queries run per batch), ``max_errors`` caps the report's list, ``memory_limit`` and
    ``threads`` bound DuckDB, which spills to the staging directory beyond the limit.

    Raises `ValidationFailed` (a report naming rows and fields), ``lake.type_mismatch``
    (columns differ from the table's on append/upsert), ``lake.bad_schema``, or
    ``lake.concurrent_commit`` (another commit landed while this input was checked; run
    ingests of one table one at a time); in every error case nothing is committed.
    """
    if mode not in MODES:
        raise InvalidInput(
            "lake.bad_mode", "Mode {mode} is not append, replace or upsert.", mode=mode
        )
    validator = Validator(table_schema)
    spec = validator.spec
    if mode == "upsert" and not spec.primary_key:
        raise InvalidInput(
            "lake.upsert_needs_key", "Upsert needs a primaryKey in the Table Schema."
        )
    schema = arrow_schema(spec)
    snapshot = table.delta() if table.exists() else None  # the version checked against
    if snapshot is not None and mode in ("append", "upsert"):
        check_compatible(snapshot, schema)
    order_by = spec.primary_key if sort else ()
    with table.staging() as stage:
        con = connect(str(stage.spill), memory_limit, threads)
        try:
            existing = None
            if snapshot is not None and mode == "append" and spec.keys:
                existing = _existing_keys(con, table, snapshot)
            files = [stage.data / f"part-{uuid.uuid4()}-c000.snappy.parquet"]
            try:
                rows = _stage(source, validator, con, files[0], batch_size, progress, order_by)
                failure = None
            except DATA_FAILURES as exc:
                rows, failure = 0, exc
            if failure or rows == 0 or not _keys_clean(con, spec, files, existing):
                report = diagnose(
                    source,
                    validator,
                    con,
                    batch_size=batch_size,
                    max_errors=max_errors,
                    existing=existing,
                )
                if report.valid:  # the fast path failed for a reason that is not the data's
                    raise failure or RuntimeError("ingest failed without a validation error")
                raise ValidationFailed(report.as_dict(), report.code)
            metadata = {
                "zhili.source": source.describe(),  # the caller may name it better
                **(commit_properties or {}),
                "zhili.mode": mode,
                "zhili.rows": rows,
            }
            committed = _commit(table, mode, files, spec, schema, metadata, stage, snapshot)
        finally:
            con.close()
    report = {
        "valid": True,
        "stats": {"errors": 0, "rows": rows, "fields": len(spec.fields)},
        "errors": [],
        "errorsTruncated": False,
    }
    return IngestResult(committed.version, rows, committed.bytes, committed.files, report)
