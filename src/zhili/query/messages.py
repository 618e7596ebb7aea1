"""Every error the query layer raises: one code, one English fallback, one set of params.

The i18n catalogs translate ``errors.<code>`` with the same ``{placeholders}``, so a code
must always carry the same params: this table is the single place they are defined, and
``tests/query/test_query_errors.py`` checks that every raise passes each placeholder.
Params name the parameter, field or value at fault (``parameter``, ``field``, ``value``).
"""

from __future__ import annotations

from typing import Any

from zhili.errors import Forbidden, InvalidInput, NotFound, Unavailable

__all__ = ["MESSAGES", "forbidden", "invalid", "not_found", "unavailable"]

MESSAGES: dict[str, str] = {
    # REST parameters and the query model
    "query.unknown_parameter": "Unknown parameter {parameter}; use {allowed}",
    "query.bad_parameter": "{parameter} given more than once",
    "query.empty_name": "Empty name in {parameter}={value}",
    "query.bad_flag": "{parameter} must be true or false, got {value}",
    "query.bad_limit": "{parameter} must be a whole number from 1 to {max}, got {value}",
    "query.no_fields": "Ask for at least one field, or leave fields out for all",
    "query.unknown_field": "Unknown field {field} in {parameter}",
    "query.unsupported_type": (
        "Field {field} has type {type}, which cannot be filtered or sorted on"
    ),
    "query.duplicate_sort": "Field {field} appears twice in sort",
    "query.too_many_filters": "At most {max} filters per query, got {count}",
    "query.filter_syntax": "filter={value} is not FIELD:OP[:VALUE]",
    "query.bad_filter": "filter={value}: operator {op} needs a value after a second ':'",
    "query.bad_operator": "Unknown operator {op} for field {field}; use one of {allowed}",
    "query.filter_values": "Operator {op} on field {field} takes {expected} value(s), got {count}",
    "query.filter_null": "Operator {op} on field {field} cannot compare with NULL; use is_null",
    "query.like_needs_text": "Operator like needs a text field; {field} is {type}",
    "query.bad_value": "Value {value} is not a valid {type} for field {field}",
    "query.bad_cursor": (
        "The 'after' cursor is not valid for this query ({reason}); start again without it"
    ),
    "query.bad_name": "A name cannot contain NUL: {name}",
    "query.export_after": "An export always starts at the first row; leave out 'after'",
    "query.bad_format": "Unknown export format {format}; use one of {allowed}",
    # Snapshots
    "query.no_table": "No Delta table at {path}",
    "query.no_version": "The table at {path} has no version {version}",
    "query.bad_table": "Cannot open the table at {path}: {reason}",
    "query.partitioned": "Partitioned Delta tables (by {columns}) cannot be queried yet",
    # Guarded SQL
    "query.sql_too_long": "The SQL is {length} characters long; the limit is {max}",
    "query.sql_syntax": "The SQL does not parse: {reason}",
    "query.sql_not_one_query": "Send exactly one SELECT statement, got {count}",
    "query.sql_not_read_only": "Only SELECT queries can run here, not {statement}",
    "query.sql_parameter": (
        "Write values into the SQL; parameters such as {placeholder} cannot be bound here"
    ),
    "query.sql_function": "Function {function} is not allowed in shared-data SQL",
    "query.sql_table_function": (
        "Table functions such as {function} cannot be used; read a named table"
    ),
    "query.sql_qualified_name": "Write table names without a schema or database: {table}",
    "query.sql_table": "Table {table} is not one you can read here; you can read {allowed}",
    "query.sql_tables": "Table names must differ in more than letter case",
    "query.sql_unknown_column": "Column {column} is not in the tables this query reads",
    "query.sql_row_reference": "{name} names a whole row; list the columns you need instead",
    # Engines
    "query.sql_error": "The query cannot run: {reason}",
    "query.timeout": "The query ran longer than the limit of {limit} seconds",
    "query.unknown_mask": "Masking function {id} is not registered in this process",
    "query.out_of_memory": "The query needs more memory than the engine has",
    "query.engine_error": "The query engine failed: {reason}",
    "query.unknown_engine": "Unknown query engine {engine}; use duckdb or spark",
    "query.unknown_dialect": "No translation to {dialect}",
    "query.spark_parameter": "Only numbered $n parameters can be sent to Spark, got {name}",
    "query.spark_missing": (
        "The Spark engine needs pyspark; install it with: pip install 'zhili[spark]'"
    ),
    "query.spark_unavailable": "Spark did not start ({master}): {reason}",
}


def invalid(code: str, /, **params: Any) -> InvalidInput:
    """A 422 with the code's message."""
    return InvalidInput(code, MESSAGES[code], **params)


def forbidden(code: str, /, **params: Any) -> Forbidden:
    """A 403 with the code's message."""
    return Forbidden(code, MESSAGES[code], **params)


def not_found(code: str, /, **params: Any) -> NotFound:
    """A 404 with the code's message."""
    return NotFound(code, MESSAGES[code], **params)


def unavailable(code: str, /, **params: Any) -> Unavailable:
    """A 503 with the code's message."""
    return Unavailable(code, MESSAGES[code], **params)
