"""Validate data against a Table Schema with DuckDB, and explain every error in a report.

`Validator` owns a parsed schema: it checks a source's labels, compiles the schema into
SQL for the source's column types (`zhili.lake.sqlgen`), and proves at construction time
that the SQL is usable (a bad regex or an enum value of the wrong type is a schema
error naming the field, not a crash in the middle of an upload).

`diagnose` is the thorough pass: it reads the source in diagnostic mode, evaluates every
rule on every batch in one DuckDB query, lists the first ``max_errors`` errors with row,
field and cell, counts the rest, and checks primary and unique keys across the whole
input and against the keys already in the table. Ingest only runs it when the fast
path (stage valid data, raise at the first bad row) has failed, so a clean upload pays
for one pass and a bad one gets a complete report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from zhili.errors import InvalidInput
from zhili.lake.report import (
    Report,
    constraint_error,
    key_error,
    label_error,
    schema_error,
    source_error,
    type_error,
)
from zhili.lake.schema import CITY_TIMEZONE, FieldSpec, KeySpec, TableSpec, parse_table_schema
from zhili.lake.source import ROW, Source, SourceProblem
from zhili.lake.sqlgen import IncompatibleType, Plan, compile_field, ident, typed_lit

#: Bounds of the default DuckDB memory limit (`default_memory_limit`).
MIN_MEMORY = 1 << 30
MAX_MEMORY = 8 << 30
#: Share of the memory available at start that an ingest takes by default.
MEMORY_SHARE = 0.25


def _available_memory() -> int | None:
    """Bytes this process could still use: the kernel's MemAvailable, capped by a cgroup
    (container) limit minus its current use; None when neither can be read."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            with open(limit_file, encoding="ascii") as f:
                limit = f.read().strip()
            with open(usage_file, encoding="ascii") as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:  # "max" or a huge number: no limit
            found.append(max(int(limit) - usage, 0))
    return min(found) if found else None


def default_memory_limit() -> str:
    """DuckDB's memory limit when the caller gives none: a quarter of the memory available
    now, never below 1 GB nor above 8 GB (e.g. 5.7 GB on an idle 23 GB machine).

    A 10M-row, 10-column sort by key needs about 2.5 GB to run without spilling; at the
    former 1 GB it spilled ~0.5 GB, for ~2 s more CPU. The cap keeps several concurrent
    ingests (and the query engine) within the machine; past the limit DuckDB spills to
    the staging directory, so memory stays bounded whatever the input's size.
    """
    available = _available_memory()
    share = int(available * MEMORY_SHARE) if available is not None else MIN_MEMORY
    return f"{min(max(share, MIN_MEMORY), MAX_MEMORY) >> 20}MB"


def connect(
    temp_directory: str | None = None,
    memory_limit: str | None = "1GB",
    threads: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for validation: city time zone, bounded memory, spill to disk.

    ``memory_limit`` None means `default_memory_limit`. Insertion order is not preserved
    (rows are sorted by key when it matters), which lets DuckDB stream large inputs with
    less memory.
    """
    config: dict[str, Any] = {
        "memory_limit": memory_limit or default_memory_limit(),
        "preserve_insertion_order": False,
    }
    if temp_directory:
        config["temp_directory"] = temp_directory
    if threads:
        config["threads"] = threads
    con = duckdb.connect(":memory:", config=config)
    con.execute(f"SET TimeZone = '{CITY_TIMEZONE}'")
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The single row of ``sql``, read to the end (DuckDB 2.0 refuses new work on a
    connection while a result is unfinished, and ``fetchone`` leaves it unfinished)."""
    rows = con.execute(sql).fetchall()
    return tuple(rows[0]) if rows else ()


def _bad_schema(field: str, problem: str) -> InvalidInput:
    return InvalidInput(
        "lake.bad_schema", "Table Schema field {field}: {problem}", field=field, problem=problem
    )


class Validator:
    """A table schema ready to check data: labels, compiled SQL, key rules."""

    def __init__(self, table_schema: Mapping[str, Any] | TableSpec) -> None:
        self.spec = parse_table_schema(table_schema)
        self._probe()

    def _probe(self) -> None:
        """Run the schema's SQL once on NULLs so DuckDB rejects bad literals and regexes.

        One query for the whole schema; only when it fails is each field probed alone,
        to name the culprit.
        """
        con = connect()
        try:
            try:
                con.execute(self._probe_sql(self.spec.fields)).fetchall()
                return
            except duckdb.Error:
                pass
            for field in self.spec.fields:
                try:
                    con.execute(self._probe_sql((field,))).fetchall()
                except duckdb.Error as exc:
                    raise _bad_schema(field.name, str(exc).splitlines()[0]) from None
        finally:
            con.close()

    @staticmethod
    def _probe_sql(fields: Sequence[FieldSpec]) -> str:
        columns = tuple(compile_field(i, f, f"c{i}", None) for i, f in enumerate(fields))
        probe = Plan(TableSpec(tuple(fields)), columns)
        nulls = ", ".join(f"NULL::VARCHAR AS c{i}" for i in range(len(fields)))
        literals = [
            typed_lit(v, f.kind) for f in fields for v in (*(f.enum or ()), *f.bounds.values())
        ]
        checked = probe.check_select(f"(SELECT {nulls}, 0::BIGINT AS {ident(ROW)})")
        return f"SELECT *, {', '.join(literals) or 'NULL'} FROM ({checked})"

    def label_errors(self, labels: Sequence[str]) -> list[dict[str, Any]]:
        """Header problems: blank, duplicate, missing and extra labels (order is free)."""
        errors = []
        counts = Counter(labels)
        wanted = set(self.spec.names)
        for position, label in enumerate(labels, start=1):
            if not label.strip():
                errors.append(label_error("blank-header", label, position))
            elif counts[label] > 1 and labels.index(label) == position - 1:
                errors.append(label_error("duplicate-label", label, position))
            elif label not in wanted:
                errors.append(label_error("extra-label", label, position))
        errors += [label_error("missing-label", n) for n in self.spec.names if n not in counts]
        return errors

    def plan(self, schema: pa.Schema) -> Plan | list[dict[str, Any]]:
        """Compiled SQL for an input with these columns, or schema errors per column."""
        columns, errors = [], []
        for i, field in enumerate(self.spec.fields):
            try:
                actual = schema.field(field.name).type
                columns.append(compile_field(i, field, field.name, actual))
            except IncompatibleType as exc:
                errors.append(schema_error(field.name, field.kind, str(exc.actual)))
        return errors or Plan(self.spec, tuple(columns))


def _no_rows() -> dict[str, Any]:
    return source_error(
        "no data rows",
        "The file has a header but no data rows.",
        "文件只有表头，没有数据行",
    )


def diagnose(
    source: Source,
    validator: Validator,
    con: duckdb.DuckDBPyConnection,
    *,
    batch_size: int = 100_000,
    max_errors: int = 1000,
    existing: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Read ``source`` fully and report every problem (see module doc).

    ``existing`` is a SQL relation over the table's current rows (columns named by
    field) whose keys new rows must not repeat — given for appends.
    """
    spec = validator.spec
    report = Report(len(spec.fields), max_errors)
    try:
        reader = source.batches(batch_size, problems=report, fields=spec.names)
    except SourceProblem as problem:
        report.add(problem.error)
        report.code = problem.code
        return report
    labels = [name for name in reader.schema.names if name != ROW]
    header = validator.label_errors(labels)
    for error in header:
        report.add(error)
    if header:
        return report
    compiled = validator.plan(reader.schema)
    if isinstance(compiled, list):
        for error in compiled:
            report.add(error)
        return report
    _check_rows(reader, compiled, con, report, progress, batch_size)
    if report.rows == 0 and report.valid:
        report.add(_no_rows())
        report.code = "lake.no_rows"
        return report
    if compiled.key_columns():
        _check_keys(compiled, con, report, existing)
    return report


def _chunks(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """Batches grouped (without copying) into tables of at least ``rows`` rows, so the
    per-query cost is paid per 100k rows even when a reader yields small batches."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        if batch.num_rows:
            pending.append(batch)
            count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending, reader.schema)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending, reader.schema)


def _check_rows(
    reader: pa.RecordBatchReader,
    compiled: Plan,
    con: duckdb.DuckDBPyConnection,
    report: Report,
    progress: Callable[[int], None] | None,
    batch_size: int,
) -> None:
    """Evaluate every check on every batch; keep the typed keys in table ``keys``."""
    checks = compiled.checks
    position = {col.spec.name: n for n, col in enumerate(compiled.columns)}
    n_fields = len(compiled.columns)
    key_cols = [col.index for col in compiled.key_columns()]
    flags = " OR ".join(f"c{n}" for n in range(len(checks))) or "false"
    counts_sql = ", ".join(f"count_if(c{n})" for n in range(len(checks)))
    keys_created = False
    for batch in _chunks(reader, batch_size):
        report.rows += batch.num_rows
        con.register("zhili_batch", batch)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE checked AS {compiled.check_select('zhili_batch')}"
        )
        con.unregister("zhili_batch")
        if checks:
            counts = one(con, f"SELECT {counts_sql} FROM checked")
            total = sum(int(c or 0) for c in counts)
            listed = 0
            if total and report.room > 0:
                raws = ", ".join(f"CAST(r{col.index} AS VARCHAR)" for col in compiled.columns)
                cs = ", ".join(f"c{n}" for n in range(len(checks)))
                rows = con.execute(
                    f"SELECT {ident(ROW)}, {raws}, {cs} FROM checked WHERE {flags} "
                    f"ORDER BY {ident(ROW)} LIMIT {report.room}"
                ).fetchall()
                for values in rows:
                    number = values[0]
                    for n, check in enumerate(checks):
                        if not values[1 + n_fields + n]:
                            continue
                        raw = values[1 + position[check.spec.name]]
                        cell = None if raw is None else str(raw)
                        if check.is_type:
                            report.add(type_error(number, check.spec, cell))
                        else:
                            report.add(
                                constraint_error(number, check.spec, cell, check.rule, check.value)
                            )
                        listed += 1
            report.count(total - listed)
        if key_cols:
            keys = ", ".join(f"k{i}" for i in key_cols)
            select = f"SELECT {ident(ROW)} AS row_number, {keys} FROM checked"
            if keys_created:
                con.execute(f"INSERT INTO keys {select}")
            else:
                con.execute(f"CREATE OR REPLACE TEMP TABLE keys AS {select}")
                keys_created = True
        if progress is not None:
            progress(report.rows)


def _check_keys(
    compiled: Plan, con: duckdb.DuckDBPyConnection, report: Report, existing: str | None
) -> None:
    """Repeated keys within the input, then keys the table already holds."""
    if report.rows == 0:
        return
    position = {col.spec.name: col.index for col in compiled.columns}
    for key in compiled.spec.keys:
        cols = [f"k{position[name]}" for name in key.fields]
        listed = ", ".join(cols)
        present = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        dups = (
            f"SELECT {listed}, min(row_number) AS first_row, count(*) AS n FROM keys "
            f"WHERE {present} GROUP BY ALL HAVING count(*) > 1"
        )
        (total,) = one(con, f"SELECT coalesce(sum(n - 1), 0) FROM ({dups})")
        _add_key_errors(
            con,
            report,
            key,
            int(total),
            f"SELECT keys.row_number, {', '.join(f'CAST(keys.{c} AS VARCHAR)' for c in cols)}, "
            f"d.first_row "
            f"FROM keys JOIN ({dups}) d USING ({listed}) "
            f"WHERE keys.row_number <> d.first_row ORDER BY keys.row_number",
        )
        if existing is None:
            continue
        theirs = ", ".join(f"{ident(n)} AS {c}" for n, c in zip(key.fields, cols, strict=True))
        clash = (
            f"SELECT row_number, {', '.join(f'CAST({c} AS VARCHAR)' for c in cols)}, "
            f"NULL AS first_row FROM keys "
            f"SEMI JOIN (SELECT {theirs} FROM {existing}) e USING ({listed}) WHERE {present}"
        )
        (total,) = one(con, f"SELECT count(*) FROM ({clash})")
        _add_key_errors(con, report, key, int(total), clash + " ORDER BY row_number")


def _add_key_errors(
    con: duckdb.DuckDBPyConnection, report: Report, key: KeySpec, total: int, sql: str
) -> None:
    listed = 0
    if total and report.room > 0:
        for values in con.execute(f"{sql} LIMIT {report.room}").fetchall():
            report.add(key_error(values[0], key, values[1:-1], values[-1]))
            listed += 1
    report.count(total - listed)
