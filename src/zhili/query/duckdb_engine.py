"""The default engine: DuckDB in process, reading each snapshot's parquet files directly.

One in-memory database per engine. Each snapshot becomes a view over
``read_parquet([...files...])`` created once (views are shared by every connection of the
database), and each call runs on its own cursor (a connection of its own, so threads do
not block each other: DuckDB 2.0 refuses a new statement while a result is still open on
the same connection). Point lookups stay fast because nothing is prepared per call but
the statement itself, parquet footers are cached (``parquet_metadata_cache``), and the
lake writes row groups of `zhili.lake.commit.ROW_GROUP` rows sorted by key, so ``key = ?``
reads one row group.

Hardening, beside the SQL guard: Python replacement scans are off (a query cannot read a
Python variable by naming it), extensions are never installed or auto-loaded, timestamps
come out in UTC, and the configuration is locked so no statement can change it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from zhili.query.engine import DEFAULT_TIMEOUT, Engine
from zhili.query.masks import apply_mask
from zhili.query.messages import invalid, unavailable
from zhili.query.snapshot import Scope, SnapshotFiles
from zhili.query.sql import quote_ident

__all__ = ["DuckDBEngine"]

_USER_ERRORS = (
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.NotImplementedException,
    duckdb.OutOfRangeException,
    duckdb.ParserException,
    duckdb.TypeMismatchException,
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _reason(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class _Timer:
    """Interrupts a cursor after ``seconds``; remembers whether it did."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, seconds: float | None) -> None:
        self.fired = False
        self.seconds = seconds
        self._cursor = cursor
        self._timer = threading.Timer(seconds, self._fire) if seconds else None
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        self._cursor.interrupt()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _select_list(files: SnapshotFiles, scope: Scope | None) -> str:
    """The relation's columns: all of the snapshot's, or the scope's with masks applied."""
    if scope is None:
        return ", ".join(quote_ident(n) for n in files.schema.names)
    masks = dict(scope.masks)
    return ", ".join(
        f"zhili_mask(CAST({quote_ident(n)} AS VARCHAR), {_literal(masks[n])}) AS {quote_ident(n)}"
        if n in masks
        else quote_ident(n)
        for n in scope.fields
    )


class DuckDBEngine(Engine):
    """DuckDB in process.

    Args:
        threads: DuckDB worker threads (the platform runs on small machines: 2).
        memory_limit: e.g. ``"2GB"``; beyond it sorts and aggregates spill to ``temp_directory``.
        temp_directory: where spills go (default: a directory under the system temp dir).
        timeout: default seconds per query.
    """

    name = "duckdb"
    dialect = "duckdb"

    def __init__(
        self,
        *,
        threads: int = 2,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_relations: int = 256,
    ) -> None:
        super().__init__(timeout=timeout, max_relations=max_relations)
        self._lock = threading.Lock()  # DDL on the root connection, one at a time
        self._con = duckdb.connect(config={"threads": threads, "python_enable_replacements": False})
        spill = temp_directory or os.path.join(tempfile.gettempdir(), f"zhili-duckdb-{os.getpid()}")
        setup = [
            "LOAD icu",
            "SET GLOBAL TimeZone = 'UTC'",
            "SET GLOBAL autoinstall_known_extensions = false",
            "SET GLOBAL autoload_known_extensions = false",
            "SET GLOBAL parquet_metadata_cache = true",
            f"SET GLOBAL temp_directory = {_literal(spill)}",
        ]
        if memory_limit:
            setup.append(f"SET GLOBAL memory_limit = {_literal(memory_limit)}")
        for statement in [*setup, "SET lock_configuration = true"]:
            self._con.execute(statement)
        self._con.create_function(
            "zhili_mask", apply_mask, ["VARCHAR", "VARCHAR"], "VARCHAR", type="arrow",
            null_handling="special", side_effects=False,
        )  # fmt: skip
        # Close at exit too: an open database at interpreter shutdown makes the bindings
        # report leaked objects.
        self._finalizer = weakref.finalize(self, self._con.close)

    # ------------------------------------------------------------------------ primitives
    def _register(self, relation: str, files: SnapshotFiles, scope: Scope | None = None) -> None:
        if files.partition_columns:
            raise invalid(
                "query.partitioned",
                columns=", ".join(files.partition_columns),
            )
        columns = _select_list(files, scope)
        where = f" WHERE {scope.where}" if scope is not None and scope.where else ""
        name = quote_ident(relation)
        with self._lock:
            if not files.uris:  # an empty version: a typed table with no rows
                staging = f"{relation}_empty"
                self._con.register(staging, files.schema.empty_table())
                try:
                    source = quote_ident(staging)
                    self._con.execute(
                        f"CREATE OR REPLACE TABLE {name} AS SELECT {columns} FROM {source}{where}"
                    )
                finally:
                    self._con.unregister(staging)
                return
            uris = ", ".join(_literal(u) for u in files.uris)
            self._con.execute(
                f"CREATE OR REPLACE VIEW {name} AS SELECT {columns} "
                f"FROM read_parquet([{uris}], union_by_name = true){where}"
            )

    def _unregister(self, relation: str) -> None:
        with self._lock:
            self._con.execute(f"DROP VIEW IF EXISTS {quote_ident(relation)}")
            self._con.execute(f"DROP TABLE IF EXISTS {quote_ident(relation)}")

    def _error(self, error: Exception, sql: str, timer: _Timer) -> Exception:
        if isinstance(error, duckdb.InterruptException) and timer.fired:
            return unavailable(
                "query.timeout",
                limit=timer.seconds,
            )
        if isinstance(error, _USER_ERRORS):
            return invalid("query.sql_error", reason=_reason(error), sql=sql)
        if isinstance(error, duckdb.OutOfMemoryException):
            return unavailable("query.out_of_memory", sql=sql)
        return unavailable(
            "query.engine_error",
            reason=_reason(error),
            sql=sql,
        )

    @contextlib.contextmanager
    def _cursor(self, sql: str, timeout: float | None) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = self._con.cursor()
        timer = _Timer(cursor, timeout)
        try:
            yield cursor
        except duckdb.Error as e:
            raise self._error(e, sql, timer) from e
        finally:
            timer.cancel()
            cursor.close()

    def _execute(self, sql: str, params: Any, timeout: float | None) -> pa.Table:
        with self._cursor(sql, timeout) as cursor:
            return cursor.sql(sql, params=params or None).to_arrow_table()

    def _stream(
        self, sql: str, params: Any, timeout: float | None, batch_size: int
    ) -> pa.RecordBatchReader:
        cursor = self._con.cursor()
        timer = _Timer(cursor, timeout)

        def release() -> None:
            timer.cancel()
            cursor.close()

        try:
            reader = cursor.sql(sql, params=params or None).to_arrow_reader(batch_size)
        except duckdb.Error as e:
            release()
            raise self._error(e, sql, timer) from e
        except BaseException:
            release()
            raise

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from reader
            except (duckdb.Error, pa.ArrowException) as e:
                if timer.fired:
                    raise self._error(duckdb.InterruptException(str(e)), sql, timer) from e
                raise self._error(e, sql, timer) from e
            finally:
                release()

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def close(self) -> None:
        """Close the database; the engine cannot be used afterwards."""
        self._finalizer()
