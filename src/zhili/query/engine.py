"""Engines behind one small abstract class: shared steps once, backend primitives per engine.

Following Splink's ``DatabaseAPI``: :class:`Engine` implements everything a caller uses
(``query`` for a keyset page, ``stream`` for exports, ``sql`` for guarded SQL) as
``@final`` methods, and a backend implements four primitives: register a snapshot as a
named relation, drop it, and run a statement to an Arrow table or a RecordBatchReader.
All SQL is built in DuckDB's dialect by :mod:`zhili.query.sql` and :mod:`zhili.query.guard`
and translated for the backend's ``dialect`` by :mod:`zhili.query.dialect`.

Relations are cached per snapshot (a version is immutable), so a point lookup does not pay
for reading the Delta log or registering parquet files again. The cache is bounded; an
entry in use by a running query or an open stream is never evicted.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Literal, final

import pyarrow as pa

from zhili.errors import InvalidInput
from zhili.query.coerce import coerce_value, to_json_value, type_label
from zhili.query.cursor import Cursor, sort_fingerprint
from zhili.query.dialect import translate
from zhili.query.guard import check_sql
from zhili.query.messages import invalid
from zhili.query.model import MAX_LIMIT, Query, SortKey, validate_query
from zhili.query.snapshot import Scope, Snapshot, SnapshotFiles
from zhili.query.sql import Sql, count_sql, export_sql, key_alias, select_sql, total_sort
from zhili.query.window import row_groups, window_bounds

__all__ = ["DEFAULT_TIMEOUT", "Column", "Engine", "EngineName", "Page", "SqlResult", "get_engine"]

EngineName = Literal["duckdb", "spark"]
#: Seconds a query may run before it is cancelled (``query.timeout``).
DEFAULT_TIMEOUT = 30.0
#: Rows of guarded SQL returned at most (more are reported as ``truncated``).
DEFAULT_SQL_ROWS = 10_000


@dataclass(frozen=True)
class Column:
    """A result column: its name and Arrow type (e.g. ``int64``, ``timestamp[us, tz=UTC]``)."""

    name: str
    type: str


@dataclass(frozen=True)
class Page:
    """One keyset page. ``next_cursor`` is None on the last page; ``total`` only on request."""

    rows: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None
    columns: list[Column]


@dataclass(frozen=True)
class SqlResult:
    """Rows of guarded SQL; ``truncated`` when the query had more than ``max_rows``."""

    rows: list[dict[str, Any]]
    columns: list[Column]
    truncated: bool


def _columns(schema: pa.Schema, names: Sequence[str] | None = None) -> list[Column]:
    fields = [schema.field(n) for n in names] if names is not None else list(schema)
    return [Column(f.name, type_label(f.type)) for f in fields]


def _unique_names(table: pa.Table) -> pa.Table:
    """Rename repeated column names (``a``, ``a_1``...) so rows can be dicts on every engine."""
    seen: set[str] = set()
    names = []
    for name in table.column_names:
        candidate, n = name, 0
        while candidate in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate)
        names.append(candidate)
    return table if names == table.column_names else table.rename_columns(names)


class _Relations:
    """A bounded cache of registered snapshots, with a use count per entry."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[str, int, str], list[Any]] = OrderedDict()  # [name, uses]


class Engine(ABC):
    """Runs the query model, exports and guarded SQL on one backend.

    Args:
        timeout: default seconds before a query is cancelled (``None``: no limit).
        max_relations: snapshots kept registered at once.
    """

    #: The name ``get_engine`` knows this engine by.
    name: ClassVar[str]
    #: The sqlglot dialect the backend runs.
    dialect: ClassVar[str]

    def __init__(self, *, timeout: float | None = DEFAULT_TIMEOUT, max_relations: int = 256):
        self.timeout = timeout
        self._relations = _Relations(max_relations)

    # ----------------------------------------------------------------- backend primitives
    @abstractmethod
    def _register(self, relation: str, files: SnapshotFiles, scope: Scope | None = None) -> None:
        """Make ``relation`` read the snapshot's files, with exactly the snapshot's columns
        — or, with a ``scope``, only its fields (masked ones masked) and rows."""

    @abstractmethod
    def _unregister(self, relation: str) -> None:
        """Forget ``relation``."""

    @abstractmethod
    def _execute(self, sql: str, params: Any, timeout: float | None) -> pa.Table:
        """Run ``sql`` (the backend's dialect) with ``params``; the whole result.

        Raises:
            Unavailable: ``query.timeout`` after ``timeout`` seconds.
            InvalidInput: ``query.sql_error`` when the engine refuses the statement.
        """

    @abstractmethod
    def _stream(
        self, sql: str, params: Any, timeout: float | None, batch_size: int
    ) -> pa.RecordBatchReader:
        """Run ``sql`` and return its rows as a stream of batches, without holding them all."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the backend's resources."""

    # ------------------------------------------------------------------------ shared steps
    @final
    def schema(self, snapshot: Snapshot) -> pa.Schema:
        """The columns of a snapshot."""
        return snapshot.files().schema

    @final
    @contextmanager
    def relation(self, snapshot: Snapshot) -> Iterator[tuple[str, SnapshotFiles]]:
        """The relation name of ``snapshot`` (registered on first use) and its files."""
        pinned = snapshot.pinned()
        assert pinned.version is not None
        key = (pinned.path, pinned.version, pinned.scope.key if pinned.scope else "")
        files = pinned.files()
        cache = self._relations
        with cache.lock:
            entry = cache.entries.get(key)
            if entry is None:
                entry = [f"zhili_s_{pinned.key}", 0]
                self._register(entry[0], pinned.base_files(), pinned.scope)
                cache.entries[key] = entry
                self._evict()
            cache.entries.move_to_end(key)
            entry[1] += 1
        try:
            yield entry[0], files
        finally:
            with cache.lock:
                entry[1] -= 1

    def _evict(self) -> None:
        cache = self._relations
        for key in list(cache.entries):
            if len(cache.entries) <= cache.capacity:
                return
            name, uses = cache.entries[key]
            if uses == 0:
                del cache.entries[key]
                self._unregister(name)

    @final
    def run(self, statement: Sql, *, timeout: float | None = None) -> pa.Table:
        """Run a DuckDB-dialect statement built by :mod:`zhili.query.sql` on this backend."""
        sql, params = translate(statement.text, statement.params, self.dialect)
        return self._execute(sql, params, self.timeout if timeout is None else timeout)

    @final
    def query(
        self,
        snapshot: Snapshot,
        query: Query,
        *,
        primary_key: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> Page:
        """One keyset page of ``query`` on ``snapshot``.

        ``primary_key`` makes the sort total (the lake's key for the table); without one
        every column breaks ties.

        Raises:
            InvalidInput: the query does not fit the table, or its cursor another query.
            Unavailable: ``query.timeout``.
        """
        with self.relation(snapshot) as (relation, files):
            q = validate_query(query, files.schema)
            keys = total_sort(q.sort, files.schema, primary_key)
            skipped = q.after.ties if q.after is not None and not primary_key else 0
            for window in _windows(files, q, keys, primary_key, q.limit + 1 + skipped):
                statement = select_sql(relation, q, files.schema, primary_key, window=window)
                table = self.run(statement, timeout=timeout)
                if table.num_rows >= q.limit + 1 + skipped:
                    break  # a full page inside the window is the true page
            total = None
            if q.with_total:
                counted = self.run(count_sql(relation, q), timeout=timeout)
                total = int(counted.column(0)[0].as_py())
        rest = table.slice(skipped)
        page = rest.slice(0, q.limit)
        names = list(q.fields) if q.fields is not None else list(files.schema.names)
        next_cursor = None
        if rest.num_rows > q.limit:
            next_cursor = self._next_cursor(page, keys, q, unique=bool(primary_key))
        rows = page.select(names).to_pylist()
        return Page(rows, next_cursor, total, _columns(files.schema, names))

    @staticmethod
    def _next_cursor(page: pa.Table, keys: Sequence[Any], q: Query, *, unique: bool) -> str:
        columns = [page.column(key_alias(i)).to_pylist() for i in range(len(keys))]
        rows = [tuple(to_json_value(v) for v in row) for row in zip(*columns, strict=True)]
        last = rows[-1]
        ties = 0
        if not unique:  # count rows equal to the last one, so the next page can skip them
            ties = sum(1 for row in rows if row == last)
            if q.after is not None and tuple(q.after.values) == last:
                ties += q.after.ties
        fingerprint = sort_fingerprint([(k.field, k.desc) for k in keys])
        return Cursor(fingerprint, last, ties).encode()

    @final
    def count(self, snapshot: Snapshot, query: Query, *, timeout: float | None = None) -> int:
        """The exact number of rows matching ``query``'s filters."""
        with self.relation(snapshot) as (relation, files):
            q = validate_query(query, files.schema)
            table = self.run(count_sql(relation, q), timeout=timeout)
        return int(table.column(0)[0].as_py())

    @final
    def stream(
        self,
        snapshot: Snapshot,
        query: Query,
        *,
        primary_key: Sequence[str] | None = None,
        batch_size: int = 16_384,
        timeout: float | None = None,
    ) -> pa.RecordBatchReader:
        """Every row of ``query`` (no limit, no cursor) as Arrow batches, for exports.

        Memory is a few row groups per engine thread plus ``batch_size`` rows in flight,
        whatever the size of the result (small batches keep the in-flight part small).

        The snapshot stays registered until the reader is exhausted or closed. Rows come in
        storage order unless the query sorts. ``timeout`` defaults to none for streams: an
        export runs as long as its consumer reads.
        """
        stack = ExitStack()
        try:
            relation, files = stack.enter_context(self.relation(snapshot))
            q = validate_query(query, files.schema, max_limit=max(query.limit, MAX_LIMIT))
            sql, params = translate(
                *export_sql(relation, q, files.schema, primary_key), self.dialect
            )
            reader = self._stream(sql, params, timeout, batch_size)
        except BaseException:
            stack.close()
            raise

        def batches() -> Iterator[pa.RecordBatch]:
            with stack:
                yield from reader

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    @final
    def sql(
        self,
        sql: str,
        tables: Mapping[str, Snapshot],
        *,
        max_rows: int = DEFAULT_SQL_ROWS,
        timeout: float | None = None,
    ) -> SqlResult:
        """Run read-only SQL over ``tables`` (SQL name → snapshot) through the guard.

        The query is wrapped as ``SELECT * FROM (<sql>) LIMIT max_rows + 1``, so at most
        ``max_rows`` rows come back and ``truncated`` says whether there were more.

        Raises:
            InvalidInput, Forbidden: the guard's rejections (see :mod:`zhili.query.guard`).
            Unavailable: ``query.timeout``.
        """
        if isinstance(max_rows, bool) or not 1 <= max_rows <= 1_000_000:
            raise invalid(
                "query.bad_limit",
                parameter="max_rows",
                value=max_rows,
                max=1_000_000,
            )
        schemas = {name: snap.files().schema for name, snap in tables.items()}
        checked = check_sql(sql, tables, schemas)
        with ExitStack() as stack:
            relations = {
                name: stack.enter_context(self.relation(snap))[0]
                for name, snap in checked.tables.items()
            }
            inner = checked.bind(relations)
            wrapped = f'SELECT * FROM ({inner}) AS "zhili_q" LIMIT {int(max_rows) + 1}'
            table = _unique_names(self.run(Sql(wrapped, []), timeout=timeout))
        truncated = table.num_rows > max_rows
        table = table.slice(0, max_rows)
        return SqlResult(table.to_pylist(), _columns(table.schema), truncated)


def _windows(
    files: SnapshotFiles,
    q: Query,
    keys: Sequence[SortKey],
    primary_key: Sequence[str] | None,
    needed: int,
) -> list[Any]:
    """Bounds on the leading sort key to try, narrowest first; ``None`` (no bound) last."""
    lead = keys[0]
    column = files.schema.field(lead.field)
    if column.nullable and lead.field not in (primary_key or ()):
        return [None]
    after = None
    if q.after is not None:
        try:
            after = coerce_value(q.after.values[0], column.type, field=lead.field)
        except (InvalidInput, IndexError):
            return [None]  # select_sql reports the bad cursor
    groups = row_groups(files, lead.field)
    return window_bounds(groups, q, lead.field, lead.desc, after, needed)


@cache
def _shared_engine(name: EngineName, master: str | None) -> Engine:
    if name == "duckdb":
        from zhili.query.duckdb_engine import DuckDBEngine

        return DuckDBEngine()
    if name == "spark":
        from zhili.query.spark_engine import SparkEngine

        return SparkEngine(master=master or "local[2]")
    raise invalid(
        "query.unknown_engine",
        engine=name,
        parameter="ZHILI_ENGINE",
    )


def get_engine(name: EngineName | None = None) -> Engine:
    """The process's shared engine ``name`` (default: the ``ZHILI_ENGINE`` setting).

    Engines are created on first use and reused: a DuckDB engine keeps its registered
    snapshots warm, a Spark engine its session. The Spark master comes from the
    ``spark_master`` setting when there is one, else ``local[2]``.
    """
    from zhili.settings import get_settings

    settings = get_settings()
    chosen = name or settings.engine
    return _shared_engine(chosen, getattr(settings, "spark_master", None))
