"""Dialect differences in one place: DuckDB SQL (what we build and what users write) to Spark.

sqlglot does most of the work; what it cannot know is fixed here on the syntax tree:

* ``$1`` parameters become named ``:p1`` (Spark binds named or ``?`` parameters, not
  numbered ones, and a named parameter may be used twice, as the keyset bound does).
* Row-value comparisons ``(a, b) > (x, y)`` become OR-chains: Spark compares them as
  structs and refuses when the field types differ even slightly (``BIGINT`` vs ``INT``).
  The builder only emits them over non-NULL keys, where the expansion is exact.

Every transpiled query shape is exercised on both engines by the tests, because sqlglot
can be silently wrong (see STACK.md).
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

from zhili.query.messages import invalid

__all__ = ["duckdb_to_spark", "spark_args", "translate"]

_TUPLE_OPS: dict[type[exp.Expression], tuple[type[exp.Expression], type[exp.Expression]]] = {
    exp.GT: (exp.GT, exp.GT),
    exp.GTE: (exp.GT, exp.GTE),
    exp.LT: (exp.LT, exp.LT),
    exp.LTE: (exp.LT, exp.LTE),
}


def _expand_tuple(node: exp.Expression) -> exp.Expression:
    """``(a, b) OP (x, y)`` as ``a OP' x OR (a = x AND b OP y)``, recursively."""
    ops = _TUPLE_OPS.get(type(node))
    if ops is None:
        return node
    left, right = node.args.get("this"), node.args.get("expression")
    if not isinstance(left, exp.Tuple) or not isinstance(right, exp.Tuple):
        return node
    lefts, rights = left.expressions, right.expressions
    if len(lefts) != len(rights) or not lefts:
        return node
    strict, last = ops
    result: exp.Expression = last(this=lefts[-1].copy(), expression=rights[-1].copy())
    for a, b in zip(reversed(lefts[:-1]), reversed(rights[:-1]), strict=True):
        result = exp.or_(
            strict(this=a.copy(), expression=b.copy()),
            exp.and_(exp.EQ(this=a.copy(), expression=b.copy()), result),
        )
    return exp.Paren(this=result)


def _name_placeholder(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Placeholder):
        name = node.name
        if not name.isdigit():
            raise invalid("query.spark_parameter", name=name or "?")
        return exp.Placeholder(this=f"p{name}")
    return node


def duckdb_to_spark(sql: str) -> str:
    """Spark SQL for a DuckDB statement (one statement, ``$n`` parameters)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    tree = tree.transform(_expand_tuple).transform(_name_placeholder)
    return tree.sql(dialect="spark")


def spark_args(params: list[Any]) -> dict[str, Any]:
    """``$n`` parameter values as the ``args`` of ``spark.sql`` (``:pn`` names)."""
    return {f"p{i}": value for i, value in enumerate(params, start=1)}


def translate(sql: str, params: list[Any], dialect: str) -> tuple[str, Any]:
    """A DuckDB statement and its ``$n`` values in the form ``dialect``'s engine runs.

    DuckDB takes them as they are; Spark gets transpiled SQL and named ``args``.
    """
    if dialect == "duckdb":
        return sql, params
    if dialect == "spark":
        return duckdb_to_spark(sql), spark_args(params)
    raise invalid("query.unknown_dialect", dialect=dialect)
