"""Read-only SQL over named tables: parse, check against allow-lists, rewrite, never trust.

A consumer's SQL is parsed with sqlglot (DuckDB dialect) and accepted only if it is exactly
one query (``SELECT``, set operations, CTEs of those) that reads only the tables the caller
named and calls only functions in :data:`~zhili.query.functions.ALLOWED_FUNCTIONS`.
What runs is not the user's text but SQL *regenerated from the checked tree* with every
table replaced by the engine's relation for its snapshot and every comment dropped, so a
trick that survives parsing (a comment hiding ``*/``, a second statement) has nothing left
to ride on.

Rejections (all :class:`~zhili.errors.InvalidInput` unless noted):

* ``query.sql_syntax``: does not parse (EXPORT DATABASE lands here); ``query.sql_too_long``
* ``query.sql_not_one_query``: zero or several statements
* ``query.sql_not_read_only``: INSERT, UPDATE, DELETE, CREATE, DROP, ATTACH, COPY, PRAGMA,
  SET, CALL, INSTALL/LOAD, DESCRIBE, ``SELECT ... INTO``, DML inside a CTE, and any other
  non-query
* ``query.sql_table_function``: ``FROM read_csv(...)``, ``glob``, ``duckdb_*()``, ...
* ``query.sql_table`` (:class:`~zhili.errors.Forbidden`): a table not in the allow-list;
  ``query.sql_qualified_name``: a qualified name (``db.schema.t``)
* ``query.sql_function``: a function not in the allow-list
* ``query.sql_parameter``: ``?``/``$n`` placeholders (nothing would bind them)
* ``query.sql_unknown_column``, ``query.sql_row_reference``: a column the tables lack, or
  a whole-row reference (``SELECT t FROM t``), which would bypass column grants

:func:`referenced_tables` and :func:`referenced_columns` tell the exchange what a query
reads, so it can check a grant's fields before running it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, TokenError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from zhili.query.functions import ALLOWED_FUNCTIONS
from zhili.query.messages import forbidden, invalid

__all__ = ["CheckedSql", "check_sql", "referenced_columns", "referenced_tables"]

#: Longest SQL text accepted.
MAX_SQL_CHARS = 20_000
_CALL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")
#: DuckDB's whole-row reference (``SELECT t FROM t``), as sqlglot's qualifier marks it.
_ROW_REFERENCE: type[exp.Expression] | None = getattr(exp, "TableColumn", None)


def _forbidden_types() -> tuple[type[exp.Expression], ...]:
    names = (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterTable",
        "Command", "Copy", "Attach", "Detach", "Pragma", "Set", "SetItem", "Use",
        "Transaction", "Commit", "Rollback", "Describe", "Summarize", "Into", "Install",
        "LoadData", "Export", "Cache", "Uncache", "Refresh", "Kill", "Grant", "Revoke",
        "TruncateTable", "Analyze", "Show",
    )  # fmt: skip
    found = (getattr(exp, name, None) for name in names)
    return tuple(t for t in found if isinstance(t, type))


_FORBIDDEN = _forbidden_types()
_PLACEHOLDERS = tuple(
    t for t in (getattr(exp, n, None) for n in ("Placeholder", "Parameter", "SessionParameter"))
    if isinstance(t, type)
)  # fmt: skip


def _fold(name: str) -> str:
    """DuckDB resolves names case-insensitively, quoted or not."""
    return name.casefold()


def _parse(sql: str) -> exp.Expression:
    if len(sql) > MAX_SQL_CHARS:
        raise invalid(
            "query.sql_too_long",
            length=len(sql),
            max=MAX_SQL_CHARS,
        )
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except (ParseError, TokenError) as e:
        raise invalid("query.sql_syntax", reason=str(e).splitlines()[0]) from None
    if len(statements) != 1:
        raise invalid(
            "query.sql_not_one_query",
            count=len(statements),
        )
    return statements[0]


def _check_read_only(tree: exp.Expression) -> None:
    if not isinstance(tree, exp.Query):
        raise invalid(
            "query.sql_not_read_only",
            statement=_statement_name(tree),
        )
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN):
            raise invalid(
                "query.sql_not_read_only",
                statement=_statement_name(node),
            )
        if _PLACEHOLDERS and isinstance(node, _PLACEHOLDERS):
            raise invalid(
                "query.sql_parameter",
                placeholder=node.sql(dialect="duckdb"),
            )


def _statement_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    if isinstance(node, exp.Into):
        return "SELECT ... INTO"
    return type(node).__name__.upper()


def _function_name(node: exp.Func) -> str | None:
    """The name DuckDB will run ``node`` under; None for operators written as symbols."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    match = _CALL.match(node.sql(dialect="duckdb", comments=False))
    if match:
        return match.group(1).upper()
    if isinstance(node, exp.Binary):
        return None  # a || b, a % b, a ->> b: operators, not calls
    return node.sql_name().upper()


def _check_functions(tree: exp.Expression) -> None:
    for node in tree.walk():
        if not isinstance(node, exp.Func) or isinstance(node, exp.Connector):
            continue
        name = _function_name(node)
        if name is not None and name not in ALLOWED_FUNCTIONS:
            raise invalid(
                "query.sql_function",
                function=name.lower(),
            )


def _visible_ctes(table: exp.Table) -> set[str]:
    """CTE names in scope at ``table``: those of every enclosing WITH."""
    names: set[str] = set()
    node: exp.Expression | None = table
    while node is not None:
        with_ = node.args.get("with_") or node.args.get("with")
        if isinstance(with_, exp.With):
            names.update(_fold(cte.alias) for cte in with_.expressions)
        node = node.parent
    return names


def _base_tables(tree: exp.Expression) -> list[exp.Table]:
    """Every table reference that is not a CTE, after checking its form."""
    out = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            name = table.this.sql(dialect="duckdb") if table.this else "?"
            raise invalid(
                "query.sql_table_function",
                function=_CALL.match(name).group(1).lower() if _CALL.match(name) else name,
            )
        if table.args.get("db") or table.args.get("catalog"):
            raise invalid("query.sql_qualified_name", table=table.sql(dialect="duckdb"))
        if _fold(table.name) in _visible_ctes(table):
            continue
        out.append(table)
    return out


def referenced_tables(sql: str) -> set[str]:
    """Names of the tables ``sql`` reads (CTE names excluded), as written.

    Raises:
        InvalidInput: when the SQL does not parse, is not one query, or uses a table function.
    """
    tree = _parse(sql)
    _check_read_only(tree)
    return {t.name for t in _base_tables(tree)}


def _schema_mapping(schemas: Mapping[str, pa.Schema | Sequence[str]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, schema in schemas.items():
        names = schema.names if isinstance(schema, pa.Schema) else list(schema)
        out[name] = {column: "UNKNOWN" for column in names}
    return out


def _analyse_columns(
    tree: exp.Expression, schemas: Mapping[str, pa.Schema | Sequence[str]]
) -> dict[str, frozenset[str]]:
    real = {_fold(t): {_fold(c): c for c in cols} for t, cols in _schema_mapping(schemas).items()}
    table_names = {_fold(t): t for t in schemas}
    try:
        qualified = qualify(
            tree.copy(),
            schema=_schema_mapping(schemas),
            dialect="duckdb",
            validate_qualify_columns=True,
            quote_identifiers=False,
        )
    except OptimizeError as e:
        match = re.search(r"Column '([^']+)'", str(e))
        raise invalid(
            "query.sql_unknown_column",
            column=match.group(1) if match else str(e).splitlines()[0],
        ) from None
    for node in qualified.walk():
        if _ROW_REFERENCE is not None and isinstance(node, _ROW_REFERENCE):
            raise invalid(
                "query.sql_row_reference",
                name=node.name,
            )
    found: dict[str, set[str]] = {}
    for scope in traverse_scope(qualified):
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table):
                table = _fold(source.name)
                name = real.get(table, {}).get(_fold(column.name), column.name)
                found.setdefault(table_names.get(table, source.name), set()).add(name)
    return {table: frozenset(cols) for table, cols in found.items()}


def referenced_columns(
    sql: str, schemas: Mapping[str, pa.Schema | Sequence[str]]
) -> dict[str, frozenset[str]]:
    """For each table ``sql`` reads, the columns it uses (``*`` expanded).

    Conservative: a column read anywhere (a CTE, a filter, a join key) counts, even when it
    does not reach the output. ``schemas`` maps each table name to its columns.

    Raises:
        InvalidInput: ``query.sql_unknown_column`` for a column no table has,
            ``query.sql_row_reference`` for a whole-row reference.
    """
    tree = _parse(sql)
    _check_read_only(tree)
    return _analyse_columns(tree, schemas)


@dataclass(frozen=True)
class CheckedSql:
    """A query that passed every check, ready to be bound to an engine's relations.

    ``tables`` maps each table name used (as given by the caller) to the caller's value for
    it; ``columns`` is what :func:`referenced_columns` would return.
    """

    tree: exp.Expression
    tables: Mapping[str, Any]
    columns: Mapping[str, frozenset[str]]

    def bind(self, relations: Mapping[str, str]) -> str:
        """DuckDB SQL with each table replaced by ``relations[name]`` (comments dropped)."""
        folded = {_fold(k): v for k, v in relations.items()}
        tree = self.tree.copy()
        for table in _base_tables(tree):
            relation = folded[_fold(table.name)]
            alias = table.alias or table.name
            table.set("this", exp.to_identifier(relation, quoted=True))
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
        return tree.sql(dialect="duckdb", comments=False)


def check_sql(
    sql: str,
    tables: Mapping[str, Any],
    schemas: Mapping[str, pa.Schema | Sequence[str]] | None = None,
) -> CheckedSql:
    """Check ``sql`` against the allow-lists; ``tables`` maps SQL names to snapshots.

    With ``schemas`` (table name → columns) columns are resolved too, refusing unknown
    columns and whole-row references.

    Raises:
        InvalidInput: see the module docstring; Forbidden for a table not in ``tables``.
    """
    folded = {_fold(name): name for name in tables}
    if len(folded) != len(tables):
        raise invalid(
            "query.sql_tables",
            parameter="tables",
        )
    tree = _parse(sql)
    _check_read_only(tree)
    used: dict[str, Any] = {}
    for table in _base_tables(tree):
        name = folded.get(_fold(table.name))
        if name is None:
            raise forbidden(
                "query.sql_table",
                table=table.name,
                allowed=", ".join(sorted(tables)) or "no tables",
            )
        used[name] = tables[name]
    _check_functions(tree)
    columns: dict[str, frozenset[str]] = {}
    if schemas is not None:
        columns = _analyse_columns(tree, {k: v for k, v in schemas.items() if k in used})
    return CheckedSql(tree, used, columns)
