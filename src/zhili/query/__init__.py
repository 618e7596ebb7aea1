"""Layer 6, query: read lake snapshots through a small query model or guarded SQL.

The query layer knows nothing about who may read: the exchange rewrites a :class:`Query`
(or checks guarded SQL with :func:`referenced_columns`) against a grant and then calls an
:class:`Engine`. Public surface:

* model: :class:`Query`, :class:`Filter`, :class:`SortKey`, :func:`validate_query`,
  :func:`parse_params` (REST syntax documented in :mod:`zhili.query.params`)
* SQL builders (pure, no database): :func:`select_sql`, :func:`count_sql`,
  :func:`export_sql`
* engines: :class:`Engine`, ``DuckDBEngine``, ``SparkEngine``, :func:`get_engine`,
  :class:`Snapshot`, :class:`Page`, :class:`SqlResult` (the two engines are loaded on first
  access, so importing this package never imports duckdb or pyspark)
* guarded SQL: :func:`check_sql`, :func:`referenced_tables`, :func:`referenced_columns`
* exports: :func:`export_query`, :func:`to_csv`, :func:`to_jsonl`, :func:`to_parquet`
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zhili.query.cursor import Cursor
from zhili.query.engine import Column, Engine, Page, SqlResult, get_engine
from zhili.query.export import MEDIA_TYPES, export_query, to_csv, to_jsonl, to_parquet
from zhili.query.functions import ALLOWED_FUNCTIONS
from zhili.query.guard import CheckedSql, check_sql, referenced_columns, referenced_tables
from zhili.query.model import MAX_LIMIT, Filter, Query, SortKey, validate_query
from zhili.query.params import parse_params
from zhili.query.snapshot import Scope, Snapshot
from zhili.query.sql import Sql, count_sql, export_sql, select_sql

if TYPE_CHECKING:
    from zhili.query.duckdb_engine import DuckDBEngine
    from zhili.query.spark_engine import SparkEngine

__all__ = [
    "ALLOWED_FUNCTIONS",
    "MAX_LIMIT",
    "MEDIA_TYPES",
    "CheckedSql",
    "Column",
    "Cursor",
    "DuckDBEngine",
    "Engine",
    "Filter",
    "Page",
    "Query",
    "Scope",
    "Snapshot",
    "SortKey",
    "SparkEngine",
    "Sql",
    "SqlResult",
    "check_sql",
    "count_sql",
    "export_query",
    "export_sql",
    "get_engine",
    "parse_params",
    "referenced_columns",
    "referenced_tables",
    "select_sql",
    "to_csv",
    "to_jsonl",
    "to_parquet",
    "validate_query",
]


def __getattr__(name: str) -> Any:
    """Load the engines on first access (PEP 562)."""
    if name == "DuckDBEngine":
        from zhili.query.duckdb_engine import DuckDBEngine

        return DuckDBEngine
    if name == "SparkEngine":
        from zhili.query.spark_engine import SparkEngine

        return SparkEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
