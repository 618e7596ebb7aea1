"""Ingest: read a source, validate it against a Table Schema, commit one Delta version.

The happy path reads the source once. One thread parses it ahead of DuckDB and another
proves in NumPy what can be proven cheaply (`sqlgen.prove`: a cn-id's digits, region,
birth date and check character; bare integers; ``YYYY-MM-DD`` dates), handing over the
typed values; DuckDB pulls the batches through one SELECT that casts every field and
raises at the first row breaking a rule (casting and type-checking in SQL only what was
not proven), sorts by the primary key and writes the typed rows as one Parquet file
(`commit.ROW_GROUP` rows per row group) into this ingest's staging directory. Keys are
then checked over the staged file — repeats within the input, found on neighbouring
rows of the sorted file (`_repeats_in_order`), and when appending keys the table
already holds — and only then is anything committed, as a single Delta commit
(`zhili.lake.commit`). Memory stays bounded by the batch size, the read-ahead and
DuckDB's limit (beyond it DuckDB spills to the staging directory), not by the size of
the input.

Why it is built this way (10M rows × 10 columns, 1.1 GB of CSV, 2 cores; DuckDB's own
CSV → Parquet copy of the file takes ~4 s and ~8 s of CPU). The sort by key is what
lets point lookups read one row group, and it costs ~3.5 s of CPU whatever the method:
DuckDB's sort, a key + row id sort then a gather (Arrow: 1.5 s + 2.9 s), disjoint key
ranges sorted apart (same CPU; DuckDB already sorts on both cores) or clustering rows
by key range without sorting them (-8 %, but a sampling pass and looser groups) all
cost about the same. So the rest had to shrink. Ingest took 13–14 s (25 s of CPU, 0.3×
DuckDB); now ~7.5 s (~14 s of CPU, ~0.5×):

* the SQL cn-id check was 4.2 s of CPU; NumPy proves the usual values in 0.6 s (and
  integers and dates save their regular expression and ``strptime``, ~0.7 s);
* a DISTINCT over the key took 1.2 s after the write; on the sorted file, 0.3 s;
* a 1 GB memory limit spilled ~0.5 GB during the sort; the default is now a quarter of
  the available memory (`validate.default_memory_limit`, 1–8 GB; 2.5 GB RSS at 10M);
* a cn-id key sorts as the integer of its 17 digits (the same order): -1.5 s of CPU;
* DuckDB's threads waited on the serial CSV parser a third of the time; reading (and
  proving) ahead keeps both cores busy (1.6 → 1.8 cores while reading);
* row groups of DuckDB's own size (122,880 rows, not 100k) spare its sorted writer a
  re-chunking: -7 %, for lookups 9 % slower (p50 9.2 ms at 10M).

Writing takes ~4 s of CPU whatever the codec: zstd makes files 40 % smaller for the same
CPU, uncompressed saves 0.5 s but doubles them; snappy stays (cheapest to read back for
lookups). A smaller dictionary limit would save 0.4 s but store mid-cardinality text
(a few thousand distinct values per row group) up to 7× larger. Reading the CSV with
DuckDB instead of Arrow costs the same and would parse differently from the diagnostic
pass, so Arrow stays.

When anything is wrong the source is read again in diagnostic mode (`validate.diagnose`)
to build the full report, and `ValidationFailed` is raised with it; the staging
directory is removed and the table is untouched. A crash at any point leaves the table
at its previous version (nothing committed) or the new one (the log entry is written
atomically); the next ingest removes a crashed one's leftovers.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake import Schema as DeltaSchema

from zhili.errors import InvalidInput
from zhili.lake.commit import ROW_GROUP, Committed, commit_files, merge_files, write_files
from zhili.lake.encoding import EncodingProblem
from zhili.lake.report import ValidationFailed
from zhili.lake.schema import TableSpec, arrow_schema
from zhili.lake.source import Source, SourceProblem
from zhili.lake.sqlgen import PROOF_TYPES, PROVEN, Column, ident, lit, prove
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
#: How staged (and then committed) files are written.
PARQUET_OPTIONS = f"COMPRESSION snappy, ROW_GROUP_SIZE {ROW_GROUP}"
#: Batches the source is read ahead of DuckDB (`_read_ahead`).
READ_AHEAD = 4
#: Rows per NumPy proof of cn-id values (`_with_proofs`).
PROOF_ROWS = 65_536


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

    provable = compiled.provable
    schema = reader.schema
    for col in provable:
        schema = schema.append(pa.field(PROVEN + str(col.index), PROOF_TYPES[col.proof]))
    batches = _read_ahead(counted())  # parsing on one thread, proving on another
    feed = _read_ahead(_with_proofs(batches, schema, provable)) if provable else batches
    con.register("zhili_source", pa.RecordBatchReader.from_batches(schema, feed))
    try:
        select = compiled.guarded_select("zhili_source", order_by, proven=True)
        con.execute(f"COPY ({select}) TO {lit(str(target))} (FORMAT parquet, {PARQUET_OPTIONS})")
    finally:
        con.unregister("zhili_source")
        _close(feed)  # stops the reading threads if DuckDB stopped first
    return seen


def _read_ahead(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches`` produced by a thread of their own, up to `READ_AHEAD` ahead.

    DuckDB pulls the source on its worker threads, one batch at a time under a lock; a
    batch parsed (and proven) on demand left them idle a third of the time: the CSV
    reader is serial. Read ahead, parsing and proving overlap validation. The producer's
    exception is raised here; closing this generator stops the thread and closes
    ``batches``.
    """
    slots: queue.Queue[Any] = queue.Queue(READ_AHEAD)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        else:
            put(done)
        finally:
            _close(batches)  # an earlier stage's thread stops too

    worker = threading.Thread(target=produce, name="zhili-ingest-read", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _with_proofs(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, provable: Sequence[Column]
) -> Iterator[pa.RecordBatch]:
    """``batches`` with the `sqlgen.prove` column of every provable field appended (the
    proven values), computed on groups of at least `PROOF_ROWS` rows (CSV blocks hold a
    few thousand: NumPy's per-call cost would dominate)."""
    latest = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    pending: list[pa.RecordBatch] = []
    count = 0

    def flush() -> Iterator[pa.RecordBatch]:
        proofs = [
            prove(col, pa.concat_arrays([b.column(col.label) for b in pending]), latest)
            for col in provable
        ]
        start = 0
        for batch in pending:
            end = start + batch.num_rows
            added = [values[start:end] for values in proofs]
            yield pa.RecordBatch.from_arrays([*batch.columns, *added], schema=schema)
            start = end

    try:
        for batch in batches:
            pending.append(batch)
            count += batch.num_rows
            if count >= PROOF_ROWS:
                yield from flush()
                pending, count = [], 0
        if pending:
            yield from flush()
    finally:
        _close(batches)


def _close(batches: Iterator[pa.RecordBatch]) -> None:
    """Close a generator of batches (running its ``finally``), if it is one."""
    close = getattr(batches, "close", None)
    if close is not None:
        close()


def _repeats_in_order(files: Sequence[Path], names: Sequence[str]) -> bool | None:
    """Whether two neighbouring rows of ``files`` (sorted by ``names``, in file order) hold
    the same key with no NULL in it; None when neighbours prove nothing (floating point:
    NaN and -0.0 compare differently in Arrow and in DuckDB's sort).

    Sorted rows can repeat a key only next to each other, so reading the key columns once
    replaces a DISTINCT over the whole input (0.3 s instead of 1.2 s per 10M rows): row
    groups are compared within on two threads, then each one's first key with the last
    key of the group before.
    """
    groups = []
    for path in files:
        meta = pq.read_metadata(path)
        types = meta.schema.to_arrow_schema()
        if any(pa.types.is_floating(types.field(n).type) for n in names):
            return None
        groups += [(path, g) for g in range(meta.num_row_groups)]

    def scan(group: tuple[Path, int]) -> tuple[bool, tuple[Any, ...], tuple[Any, ...]] | None:
        path, g = group
        table = pq.ParquetFile(path).read_row_group(g, columns=list(names))
        n = table.num_rows
        if n == 0:
            return None
        same: Any = None
        for name in names:
            column = table.column(name)
            equal = pc.equal(column.slice(0, n - 1), column.slice(1))
            same = equal if same is None else pc.and_kleene(same, equal)
        inside = n > 1 and bool(pc.any(same).as_py())
        first = tuple(table.column(name)[0].as_py() for name in names)
        last = tuple(table.column(name)[n - 1].as_py() for name in names)
        return inside, first, last

    pool = ThreadPoolExecutor(2)
    try:
        previous: tuple[Any, ...] | None = None
        for found in pool.map(scan, groups):
            if found is None:
                continue
            inside, first, last = found
            if inside or (previous == first and None not in first):
                return True
            previous = last
        return False
    finally:
        pool.shutdown(cancel_futures=True)


def _keys_clean(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    files: list[Path],
    existing: str | None,
    order_by: tuple[str, ...],
) -> bool:
    """No key repeats within the staged files, nor (appending) against the table.

    The key the files are sorted by (``order_by``) is checked on neighbouring rows; other
    keys with a DISTINCT count in DuckDB.
    """
    staged = f"read_parquet([{', '.join(lit(str(f)) for f in files)}])"
    for key in spec.keys:
        cols = ", ".join(ident(n) for n in key.fields)
        present = " AND ".join(f"{ident(n)} IS NOT NULL" for n in key.fields)
        mine = f"SELECT {cols} FROM {staged} WHERE {present}"
        repeats = _repeats_in_order(files, key.fields) if key.fields == order_by else None
        if repeats is None:
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
    memory_limit: str | None = None,
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
    queries run per batch), ``max_errors`` caps the report's list, ``memory_limit`` (e.g.
    ``"2GB"``; None: `validate.default_memory_limit`) and ``threads`` bound DuckDB,
    which spills to the staging directory beyond the limit.

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
            if failure or rows == 0 or not _keys_clean(con, spec, files, existing, order_by):
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
